"""Server processes sharing one database: who is alive, so that what a dead one ran is closed.

Each `heshi serve` process registers itself at start-up with a random id and a stable name
(the host and port it serves, so that a restarted node has the same name as before), then
writes `seen_at` every HEARTBEAT_SECONDS. A process is dead when another process took its
name (the node was restarted) or when it has not been seen for NODE_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update

from server.storage.models import Node

from .core import Core

HEARTBEAT_SECONDS = 15.0
NODE_TIMEOUT_SECONDS = 60.0
FORGET_AFTER = timedelta(days=7)  # rows of processes long gone are deleted


@dataclass(frozen=True)
class NodeIdentity:
    id: str
    name: str


def default_name(port: int) -> str:
    return f"{socket.gethostname()}:{port}"


async def register(core: Core, name: str) -> NodeIdentity:
    now = core.clock.now()
    async with core.db.write() as s:
        node = Node(name=name[:200], started_at=now, seen_at=now)
        s.add(node)
        await s.flush()
        await s.execute(delete(Node).where(Node.seen_at < now - FORGET_AFTER))
        return NodeIdentity(node.id, node.name)


async def heartbeat(core: Core, me: NodeIdentity) -> None:
    async with core.db.write() as s:
        await s.execute(update(Node).where(Node.id == me.id).values(seen_at=core.clock.now()))


async def live_nodes(core: Core, me: NodeIdentity) -> dict[str, str]:
    """The processes that are alive as far as `me` can tell, by id, with their names."""
    cutoff = core.clock.now() - timedelta(seconds=NODE_TIMEOUT_SECONDS)
    async with core.db.read() as s:
        rows = (await s.execute(select(Node.id, Node.name).where(Node.seen_at >= cutoff))).all()
    alive = {node_id: name for node_id, name in rows if node_id == me.id or name != me.name}
    alive[me.id] = me.name
    return alive


async def names_of(core: Core, node_ids: set[str]) -> dict[str, str]:
    if not node_ids:
        return {}
    async with core.db.read() as s:
        return dict((await s.execute(select(Node.id, Node.name).where(Node.id.in_(node_ids)))).all())
