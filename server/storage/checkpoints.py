"""Signed checkpoints of every case log's head: named queries and writes.

The checkpoint log is append-only: rows are inserted, never changed, except that the TSA's
token (or why there is none) is filled in once after the row is signed, since the token is
about the signed hash and not part of it. Writers are serialised: on PostgreSQL by a
transaction-level advisory lock (`lock`), on SQLite by `Database.write()`'s single writer;
and should two writers still meet, `seq` is the primary key, so the second insert fails
instead of forking the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update

from .base import Tx, load
from .models import CaseEvent, EvidenceCheckpoint

# pg_advisory_xact_lock key of the checkpoint writer: 'heshi-cp' as a big-endian int64.
ADVISORY_KEY = int.from_bytes(b"heshi-cp", "big") - (1 << 63)
MAX_TSA_ERROR = 400  # the column's width


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    seq: int
    at: datetime
    reason: str
    heads: dict[str, Any]  # case id -> {"seq": n, "hash": h}
    prev_hash: str
    hash: str
    key_fingerprint: str
    signature: str
    tsa_url: str | None
    tsa_token: bytes | None
    tsa_error: str | None

    @classmethod
    def of(cls, c: EvidenceCheckpoint) -> CheckpointRecord:
        return cls(
            c.seq,
            c.at,
            c.reason,
            dict(c.heads),
            c.prev_hash,
            c.hash,
            c.key_fingerprint,
            c.signature,
            c.tsa_url,
            bytes(c.tsa_token) if c.tsa_token is not None else None,
            c.tsa_error,
        )


async def lock(tx: Tx) -> None:
    """Hold the checkpoint writer's lock until the caller's transaction ends (PostgreSQL)."""
    if tx.get_bind().dialect.name == "postgresql":
        await tx.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY})


async def last(tx: Tx) -> CheckpointRecord | None:
    row = (
        await tx.execute(select(EvidenceCheckpoint).order_by(EvidenceCheckpoint.seq.desc()).limit(1))
    ).scalar_one_or_none()
    return CheckpointRecord.of(row) if row is not None else None


async def heads(tx: Tx) -> dict[str, dict[str, Any]]:
    """The head (last entry's seq and hash) of every case log."""
    top = select(CaseEvent.case_id, func.max(CaseEvent.seq).label("seq")).group_by(CaseEvent.case_id).subquery("top")
    rows = await tx.execute(
        select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.hash).join(
            top, (CaseEvent.case_id == top.c.case_id) & (CaseEvent.seq == top.c.seq)
        )
    )
    return {case_id: {"seq": seq, "hash": h} for case_id, seq, h in rows.all()}


async def insert(
    tx: Tx,
    *,
    seq: int,
    at: datetime,
    reason: str,
    heads: dict[str, Any],
    prev_hash: str,
    hash: str,
    key_fingerprint: str,
    signature: str,
    tsa_url: str | None,
) -> CheckpointRecord:
    row = EvidenceCheckpoint(
        seq=seq,
        at=at,
        reason=reason,
        heads=heads,
        prev_hash=prev_hash,
        hash=hash,
        key_fingerprint=key_fingerprint,
        signature=signature,
        tsa_url=tsa_url,
        tsa_token=None,
        tsa_error=None,
    )
    tx.add(row)
    await tx.flush()
    return CheckpointRecord.of(row)


async def set_timestamp(tx: Tx, seq: int, *, token: bytes | None, error: str | None) -> None:
    """The TSA's token for a checkpoint, or why there is none; once (a row that has either keeps it)."""
    await tx.execute(
        update(EvidenceCheckpoint)
        .where(
            EvidenceCheckpoint.seq == seq,
            EvidenceCheckpoint.tsa_token.is_(None),
            EvidenceCheckpoint.tsa_error.is_(None),
        )
        .values(tsa_token=token, tsa_error=error[:MAX_TSA_ERROR] if error else None)
    )


async def load_checkpoint(tx: Tx, seq: int) -> CheckpointRecord:
    return CheckpointRecord.of(await load(tx, EvidenceCheckpoint, seq, "checkpoint"))


async def of_seqs(tx: Tx, seqs: list[int]) -> list[CheckpointRecord]:
    if not seqs:
        return []
    rows = await tx.execute(
        select(EvidenceCheckpoint).where(EvidenceCheckpoint.seq.in_(seqs)).order_by(EvidenceCheckpoint.seq)
    )
    return [CheckpointRecord.of(c) for c in rows.scalars()]


async def case_heads(tx: Tx, case_id: str, *, since: datetime) -> list[tuple[int, dict[str, Any] | None]]:
    """(seq, the case's head in it or None) of every checkpoint made since `since`, oldest first,
    without reading the other cases' heads."""
    rows = await tx.execute(
        select(EvidenceCheckpoint.seq, EvidenceCheckpoint.heads[case_id])
        .where(EvidenceCheckpoint.at >= since)
        .order_by(EvidenceCheckpoint.seq)
    )
    return [(seq, head if isinstance(head, dict) else None) for seq, head in rows.all()]
