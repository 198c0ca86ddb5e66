"""The case's hash-chained event log. Every case-related fact is appended here.

Appends for one case are serialised: on PostgreSQL by locking the case row (FOR NO KEY
UPDATE), on SQLite by the single-writer lock of `Database.write()`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.actors import Actor
from server.domain.caselog import check_entry_kind
from server.domain.clock import wire_time
from server.storage.models import Case, CaseEvent

GENESIS = "0" * 64


def canonical(
    case_id: str,
    seq: int,
    at: datetime,
    kind: str,
    actor: str,
    session_id: str | None,
    data: dict[str, Any],
    prev_hash: str,
) -> bytes:
    """The exact bytes an entry's hash covers. Changing this breaks every stored chain."""
    doc = {
        "case_id": case_id,
        "seq": seq,
        "at": entry_time(at),
        "kind": kind,
        "actor": actor,
        "session_id": session_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def entry_time(at: datetime) -> str:
    """An entry's time as hashed and as served: UTC, always with microseconds, e.g.
    `2026-12-05T09:15:05.000000+00:00` (the protocol's one timestamp form)."""
    return wire_time(at)


def entry_hash(*args: Any) -> str:
    return hashlib.sha256(canonical(*args)).hexdigest()


async def append(
    s: AsyncSession,
    *,
    case_id: str,
    kind: str,
    actor: Actor,
    at: datetime,
    data: dict[str, Any] | None = None,
    session_id: str | None = None,
) -> CaseEvent:
    """Append one entry inside the caller's write transaction. `actor` names who caused it."""
    if not isinstance(actor, Actor):  # a bare string or None would let a caller guess who did it
        raise TypeError(f"a case-log entry needs an Actor, got {actor!r}")
    check_entry_kind(kind)
    await lock(s, case_id)
    last = (
        await s.execute(
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
    s.add(ev)
    await s.flush()
    return ev


async def lock(s: AsyncSession, case_id: str) -> None:
    """Serialise writers of one case's log until the caller's transaction ends.

    FOR NO KEY UPDATE (key_share=True) serialises appenders without conflicting with the key-share
    locks that inserting rows referencing the case takes: with FOR UPDATE, two transactions that
    had each inserted such a row first (a chat message, a segment) deadlocked here on PostgreSQL.
    On SQLite the single writer of `Database.write()` serialises them already."""
    await s.execute(select(Case.id).where(Case.id == case_id).with_for_update(key_share=True))


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str | None = None


async def verify(s: AsyncSession, case_id: str) -> ChainCheck:
    """Recompute every hash of a case's log; name the first entry that does not match."""
    rows = (
        (await s.execute(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))).scalars().all()
    )
    return check_chain(rows)


def check_chain(rows: Sequence[CaseEvent]) -> ChainCheck:
    """Check a case's whole log, given in `seq` order."""
    prev = GENESIS
    for i, ev in enumerate(rows, start=1):
        if ev.seq != i:
            return ChainCheck(False, len(rows), i, f"entry {i} is missing")
        if ev.prev_hash != prev:
            return ChainCheck(False, len(rows), ev.seq, "previous-hash link does not match")
        if entry_hash(ev.case_id, ev.seq, ev.at, ev.kind, ev.actor, ev.session_id, ev.data, ev.prev_hash) != ev.hash:
            return ChainCheck(False, len(rows), ev.seq, "content does not match its hash")
        prev = ev.hash
    return ChainCheck(True, len(rows))
