"""The `nodes` table: the server processes sharing one database (see `server.services.nodes`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from .base import Tx
from .models import Node


async def add(tx: Tx, name: str, now: datetime, *, forget_before: datetime) -> str:
    """Register a process; forget the rows of processes last seen before `forget_before`."""
    node = Node(name=name[:200], started_at=now, seen_at=now)
    tx.add(node)
    await tx.flush()
    await tx.execute(delete(Node).where(Node.seen_at < forget_before))
    return node.id


async def seen(tx: Tx, node_id: str, now: datetime) -> None:
    await tx.execute(update(Node).where(Node.id == node_id).values(seen_at=now))


async def seen_since(tx: Tx, cutoff: datetime) -> dict[str, str]:
    """Processes seen at or after `cutoff`: name by id."""
    return {i: n for i, n in (await tx.execute(select(Node.id, Node.name).where(Node.seen_at >= cutoff))).all()}


async def names_of(tx: Tx, node_ids: set[str]) -> dict[str, str]:
    if not node_ids:
        return {}
    return {i: n for i, n in (await tx.execute(select(Node.id, Node.name).where(Node.id.in_(node_ids)))).all()}
