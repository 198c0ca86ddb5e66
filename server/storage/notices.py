"""Acknowledgements of the rights and obligations notice (权利义务告知书): named queries and writes.

One per participant and session ((session, pid) is unique): acknowledging twice keeps the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from .base import Tx, insert_unless_taken
from .models import NoticeAcknowledgement


@dataclass(frozen=True, slots=True)
class AcknowledgementRecord:
    id: str
    case_id: str
    session_id: str
    pid: str
    name: str
    role: str
    notice_sha256: str
    language: str
    actor: str
    at: datetime

    @classmethod
    def of(cls, a: NoticeAcknowledgement) -> AcknowledgementRecord:
        return cls(a.id, a.case_id, a.session_id, a.pid, a.name, a.role, a.notice_sha256, a.language, a.actor, a.at)


class AlreadyAcknowledged(Exception):
    """This participant acknowledged the notice in this session before."""


async def of_participant(tx: Tx, session_id: str, pid: str) -> AcknowledgementRecord | None:
    row = (
        await tx.execute(
            select(NoticeAcknowledgement).where(
                NoticeAcknowledgement.session_id == session_id, NoticeAcknowledgement.pid == pid
            )
        )
    ).scalar_one_or_none()
    return AcknowledgementRecord.of(row) if row is not None else None


async def for_session(tx: Tx, session_id: str) -> list[AcknowledgementRecord]:
    """Every acknowledgement of the session, in the order they were given."""
    rows = await tx.execute(
        select(NoticeAcknowledgement)
        .where(NoticeAcknowledgement.session_id == session_id)
        .order_by(NoticeAcknowledgement.at, NoticeAcknowledgement.id)
    )
    return [AcknowledgementRecord.of(a) for a in rows.scalars()]


async def insert_acknowledgement(
    tx: Tx,
    *,
    case_id: str,
    session_id: str,
    pid: str,
    name: str,
    role: str,
    notice_sha256: str,
    language: str,
    actor: str,
    at: datetime,
) -> AcknowledgementRecord:
    """Store an acknowledgement; AlreadyAcknowledged when this participant gave one before."""
    row = NoticeAcknowledgement(
        case_id=case_id,
        session_id=session_id,
        pid=pid,
        name=name,
        role=role,
        notice_sha256=notice_sha256,
        language=language,
        actor=actor,
        at=at,
    )
    if not await insert_unless_taken(tx, row):
        raise AlreadyAcknowledged(pid)
    return AcknowledgementRecord.of(row)
