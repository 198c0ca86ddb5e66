"""The case log's table: append an entry to a case's chain, read the chain back.

Appends for one case are serialised: on PostgreSQL by locking the case row (FOR NO KEY
UPDATE), on SQLite by the single-writer lock of `Database.write()`. The hashing is the
domain's (`server.domain.chain`); this module only stores and orders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from server.domain.actors import Actor
from server.domain.caselog import check_entry_kind
from server.domain.chain import GENESIS, ChainCheck, check_chain, entry_hash

from .base import Tx
from .models import Case, CaseEvent


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of a case's log, as hashed (see `server.domain.chain.canonical`)."""

    case_id: str
    seq: int
    at: datetime
    kind: str
    actor: str
    session_id: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, e: CaseEvent) -> LogEntry:
        return cls(e.case_id, e.seq, e.at, e.kind, e.actor, e.session_id, e.data, e.prev_hash, e.hash)


async def append(
    tx: Tx,
    *,
    case_id: str,
    kind: str,
    actor: Actor,
    at: datetime,
    data: dict[str, Any] | None = None,
    session_id: str | None = None,
) -> LogEntry:
    """Append one entry inside the caller's write transaction. `actor` names who caused it."""
    if not isinstance(actor, Actor):  # a bare string or None would let a caller guess who did it
        raise TypeError(f"a case-log entry needs an Actor, got {actor!r}")
    check_entry_kind(kind)
    await lock(tx, case_id)
    last = (
        await tx.execute(
            select(CaseEvent.seq, CaseEvent.hash)
            .where(CaseEvent.case_id == case_id)
            .order_by(CaseEvent.seq.desc())
            .limit(1)
        )
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    payload = json.loads(json.dumps(data or {}, ensure_ascii=False, default=str))
    ev = CaseEvent(
        case_id=case_id,
        seq=seq,
        session_id=session_id,
        at=at,
        kind=kind,
        actor=str(actor),
        data=payload,
        prev_hash=prev,
        hash=entry_hash(case_id, seq, at, kind, str(actor), session_id, payload, prev),
    )
    tx.add(ev)
    await tx.flush()
    return LogEntry.of(ev)


async def lock(tx: Tx, case_id: str) -> None:
    """Serialise writers of one case's log until the caller's transaction ends.

    FOR NO KEY UPDATE (key_share=True) serialises appenders without conflicting with the key-share
    locks that inserting rows referencing the case takes: with FOR UPDATE, two transactions that
    had each inserted such a row first (a chat message, a segment) deadlocked here on PostgreSQL.
    On SQLite the single writer of `Database.write()` serialises them already."""
    await tx.execute(select(Case.id).where(Case.id == case_id).with_for_update(key_share=True))


async def entries(tx: Tx, case_id: str, *, kinds: tuple[str, ...] = ()) -> list[LogEntry]:
    """A case's log in `seq` order; with `kinds`, only entries of those kinds."""
    q = select(CaseEvent).where(CaseEvent.case_id == case_id)
    if kinds:
        q = q.where(CaseEvent.kind.in_(kinds))
    return [LogEntry.of(e) for e in (await tx.execute(q.order_by(CaseEvent.seq))).scalars()]


async def verify(tx: Tx, case_id: str) -> ChainCheck:
    """Recompute every hash of a case's log; name the first entry that does not match."""
    return check_chain(await entries(tx, case_id))
