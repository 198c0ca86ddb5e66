"""Mediation sessions of a case: named queries and writes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select

from .base import Tx, for_case, load
from .models import MediationSession


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    case_id: str
    title: str
    scheduled_at: datetime
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    created_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, m: MediationSession) -> SessionRecord:
        return cls(
            m.id, m.case_id, m.title, m.scheduled_at, m.status, m.started_at, m.ended_at, m.created_by, m.created_at
        )


async def load_session(tx: Tx, session_id: str, *, for_update: bool = False) -> SessionRecord:
    """The session, or NotFound("session not found")."""
    return SessionRecord.of(await load(tx, MediationSession, session_id, "session", for_update=for_update))


async def for_the_case(tx: Tx, case_id: str) -> list[SessionRecord]:
    """A case's sessions in the order they are scheduled."""
    rows = await for_case(tx, MediationSession, case_id, MediationSession.scheduled_at, MediationSession.id)
    return [SessionRecord.of(m) for m in rows]


async def count_for_case(tx: Tx, case_id: str) -> int:
    q = select(func.count()).select_from(MediationSession).where(MediationSession.case_id == case_id)
    return (await tx.execute(q)).scalar_one()


async def insert_session(
    tx: Tx, *, case_id: str, title: str, scheduled_at: datetime, status: str, created_by: str | None, now: datetime
) -> SessionRecord:
    row = MediationSession(
        case_id=case_id,
        title=title,
        scheduled_at=scheduled_at,
        status=status,
        created_by=created_by,
        created_at=now,
    )
    tx.add(row)
    await tx.flush()
    return SessionRecord.of(row)


async def set_status(
    tx: Tx,
    session: SessionRecord,
    status: str,
    *,
    started_at: datetime | None = None,
    ended_at: datetime | None = None,
) -> SessionRecord:
    """Write a session's new status (and when it started or ended); returns it as written."""
    row = await load(tx, MediationSession, session.id, "session")
    row.status = status
    if started_at is not None:
        row.started_at = started_at
    if ended_at is not None:
        row.ended_at = ended_at
    await tx.flush()
    return replace(session, status=status, started_at=row.started_at, ended_at=row.ended_at)
