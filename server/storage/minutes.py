"""The minutes (调解笔录) of a session as revisions: named queries and writes.

(session, revision) and (session, save_id) are unique: when two saves race for the same next
revision, the database picks the one that lands first and the other gets `RevisionTaken`; a
resent save (same save id) gets `DuplicateSave`. Neither ever overwrites anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .base import Tx, found, insert_unless_taken, load
from .models import MediationSession, MinutesRevision


@dataclass(frozen=True, slots=True)
class MinutesRevisionRecord:
    id: str
    case_id: str
    session_id: str
    revision: int
    base_revision: int
    save_id: str
    sha256: str
    document: dict[str, Any]
    actor: str
    at: datetime
    signers: list[dict[str, str]] | None  # who must sign it, as saved (None: work it out)

    @classmethod
    def of(cls, m: MinutesRevision) -> MinutesRevisionRecord:
        return cls(
            m.id,
            m.case_id,
            m.session_id,
            m.revision,
            m.base_revision,
            m.save_id,
            m.sha256,
            m.document,
            m.actor,
            m.at,
            m.signers,
        )


@dataclass(frozen=True, slots=True)
class RevisionSummary:
    """One revision without its document: for the history list."""

    id: str
    revision: int
    base_revision: int
    save_id: str
    sha256: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class SessionSubject:
    """What the minutes' header says of their session."""

    id: str
    case_id: str
    title: str
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    place: str | None  # None: online


async def subject(tx: Tx, session_id: str) -> SessionSubject:
    """The session the minutes are of, or NotFound("session not found")."""
    s = await load(tx, MediationSession, session_id, "session")
    return SessionSubject(s.id, s.case_id, s.title, s.scheduled_at, s.started_at, s.ended_at, s.place)


class RevisionTaken(Exception):
    """Another save took this revision number first."""


class DuplicateSave(Exception):
    """A revision with this save id exists already (a resend that raced its original)."""


async def current(tx: Tx, session_id: str) -> MinutesRevisionRecord | None:
    """The session's latest revision, or None when nothing has been saved yet."""
    row = (
        await tx.execute(
            select(MinutesRevision)
            .where(MinutesRevision.session_id == session_id)
            .order_by(MinutesRevision.revision.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return MinutesRevisionRecord.of(row) if row is not None else None


async def by_save_id(tx: Tx, session_id: str, save_id: str) -> MinutesRevisionRecord | None:
    """The revision a save with this id made, if it made one."""
    row = (
        await tx.execute(
            select(MinutesRevision).where(MinutesRevision.session_id == session_id, MinutesRevision.save_id == save_id)
        )
    ).scalar_one_or_none()
    return MinutesRevisionRecord.of(row) if row is not None else None


async def get_revision(tx: Tx, session_id: str, revision: int) -> MinutesRevisionRecord:
    """One revision, or NotFound("revision not found")."""
    row = (
        await tx.execute(
            select(MinutesRevision).where(
                MinutesRevision.session_id == session_id, MinutesRevision.revision == revision
            )
        )
    ).scalar_one_or_none()
    return MinutesRevisionRecord.of(found(row, "revision", field="revision"))


async def revisions(tx: Tx, session_id: str) -> list[RevisionSummary]:
    """Every revision of the session, oldest first, without documents."""
    rows = await tx.execute(
        select(
            MinutesRevision.id,
            MinutesRevision.revision,
            MinutesRevision.base_revision,
            MinutesRevision.save_id,
            MinutesRevision.sha256,
            MinutesRevision.actor,
            MinutesRevision.at,
        )
        .where(MinutesRevision.session_id == session_id)
        .order_by(MinutesRevision.revision)
    )
    return [RevisionSummary(*r) for r in rows.all()]


async def insert_revision(
    tx: Tx,
    *,
    case_id: str,
    session_id: str,
    revision: int,
    base_revision: int,
    save_id: str,
    document: dict[str, Any],
    sha256: str,
    actor: str,
    at: datetime,
    signers: list[dict[str, str]] | None = None,
) -> MinutesRevisionRecord:
    """Store a revision. RevisionTaken or DuplicateSave when the database refuses it; the caller's
    transaction stays usable (the insert runs in a savepoint)."""
    row = MinutesRevision(
        case_id=case_id,
        session_id=session_id,
        revision=revision,
        base_revision=base_revision,
        save_id=save_id,
        document=document,
        sha256=sha256,
        actor=actor,
        at=at,
        signers=signers,
    )
    if not await insert_unless_taken(tx, row):
        if await by_save_id(tx, session_id, save_id) is not None:
            raise DuplicateSave(save_id)
        raise RevisionTaken(revision)
    return MinutesRevisionRecord.of(row)
