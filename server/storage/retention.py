"""Retention and legal hold: an org's retention period, a case's hold, and the recording files
retention may delete. Named queries and writes; the rule of what expires is the domain's
(`server.domain.retention`), the deleting and the case-log entries are the service's
(`server.services.retention`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, update

from .base import Tx, load
from .models import Case, MediationSession, Org, RecordingComposite, RecordingSegment


@dataclass(frozen=True, slots=True)
class DueSession:
    """A recorded session whose org has a retention period and whose case is not on hold, as
    read (the service applies the domain's rule to it, inside the transaction that deletes)."""

    case_id: str
    session_id: str
    org_id: str
    ended_at: datetime | None
    days: int | None
    legal_hold: bool


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """A segment's file as retention deletes it, with what the log says of it."""

    id: str
    recording_id: str
    pid: str
    kind: str
    index: int
    path: str  # relative to the data directory
    sha256: str
    bytes: int
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class CompositeFile:
    """A session's one-file download, when one was made."""

    session_id: str
    status: str
    path: str
    sha256: str | None
    bytes: int | None


# ---- the org's period and the case's hold ------------------------------------------------


async def retention_days(tx: Tx, org_id: str) -> int | None:
    """The org's retention period in days (None: kept), or NotFound("org not found")."""
    return (await load(tx, Org, org_id, "org")).recording_retention_days


async def set_retention_days(tx: Tx, org_id: str, days: int | None) -> None:
    row = await load(tx, Org, org_id, "org")
    row.recording_retention_days = days
    await tx.flush()


async def parties_see_recordings(tx: Tx, org_id: str) -> bool:
    """Whether the parties of the org's cases may watch their sessions' recordings."""
    return bool((await load(tx, Org, org_id, "org")).parties_see_recordings)


async def set_parties_see_recordings(tx: Tx, org_id: str, on: bool) -> None:
    row = await load(tx, Org, org_id, "org")
    row.parties_see_recordings = on
    await tx.flush()


async def legal_hold(tx: Tx, case_id: str) -> bool:
    """Whether the case is on legal hold, or NotFound("case not found")."""
    return (await load(tx, Case, case_id, "case")).legal_hold


async def set_legal_hold(tx: Tx, case_id: str, on: bool, at: datetime) -> bool:
    """Put the case on hold (or release it) in one statement; False when it already was (so of
    two requests doing the same, exactly one does it and logs it)."""
    q = (
        update(Case)
        .where(Case.id == case_id, Case.legal_hold.is_(not on))
        .values(legal_hold=on, updated_at=at)
        .returning(Case.id)
    )
    return (await tx.execute(q)).first() is not None


def _due_select() -> Any:
    """A session with its org's period and its case's hold: what a `DueSession` is made of."""
    return (
        select(
            MediationSession.case_id,
            MediationSession.id,
            Case.org_id,
            MediationSession.ended_at,
            Org.recording_retention_days,
            Case.legal_hold,
        )
        .join(Case, Case.id == MediationSession.case_id)
        .join(Org, Org.id == Case.org_id)
    )


async def session_of_case(tx: Tx, case_id: str, session_id: str) -> DueSession | None:
    """The session with its org's period and its case's hold, read again where it is deleted."""
    q = _due_select().where(MediationSession.id == session_id, MediationSession.case_id == case_id)
    row = (await tx.execute(q)).first()
    return DueSession(*row) if row is not None else None


# ---- what is due --------------------------------------------------------------------------


async def periods_in_use(tx: Tx) -> list[int]:
    """The distinct retention periods orgs have set (few: 30, 90, 365 days…)."""
    q = select(Org.recording_retention_days).where(Org.recording_retention_days.is_not(None)).distinct()
    return sorted(d for d in (await tx.execute(q)).scalars() if d is not None)


def _has_files(composite_deleted: str) -> ColumnElement[bool]:
    """A session still has a file retention would delete: a segment not deleted yet, or a
    download whose row still names its file."""
    segment = exists().where(RecordingSegment.session_id == MediationSession.id, RecordingSegment.deleted_at.is_(None))
    download = exists().where(
        RecordingComposite.session_id == MediationSession.id,
        RecordingComposite.path.is_not(None),
        RecordingComposite.status != composite_deleted,
    )
    return or_(segment, download)


async def sessions_ended_before(
    tx: Tx, days: int, cutoff: datetime, *, composite_deleted: str, limit: int
) -> list[DueSession]:
    """Sessions of orgs keeping recordings `days` days that ended before `cutoff`, in cases not
    on hold, that still have recording files: oldest first, at most `limit`. One period at a
    time, so that the comparison is a plain one on both databases."""
    q = (
        _due_select()
        .where(
            Org.recording_retention_days == days,
            Case.legal_hold.is_(False),
            MediationSession.ended_at.is_not(None),
            MediationSession.ended_at < cutoff,
            _has_files(composite_deleted),
        )
        .order_by(MediationSession.ended_at, MediationSession.id)
        .limit(limit)
    )
    return [DueSession(*row) for row in (await tx.execute(q)).all()]


async def sessions_with_deleted_files(tx: Tx) -> list[tuple[str, str]]:
    """(case, session) of every session some of whose files retention deleted, in cases not on
    hold: where a file may still be on disk after a crash (the row said deleted first)."""
    q = (
        select(RecordingSegment.case_id, RecordingSegment.session_id)
        .join(Case, Case.id == RecordingSegment.case_id)
        .where(RecordingSegment.deleted_at.is_not(None), Case.legal_hold.is_(False))
        .distinct()
        .order_by(RecordingSegment.case_id, RecordingSegment.session_id)
    )
    return [(c, s) for c, s in (await tx.execute(q)).all()]


# ---- the files of one session ---------------------------------------------------------------


async def segment_files(tx: Tx, session_id: str, *, deleted: bool | None = False) -> list[SegmentFile]:
    """A session's segment files in the order they were logged: those not deleted yet (default),
    those deleted (True), or all (None)."""
    q = select(RecordingSegment).where(RecordingSegment.session_id == session_id)
    if deleted is True:
        q = q.where(RecordingSegment.deleted_at.is_not(None))
    elif deleted is False:
        q = q.where(RecordingSegment.deleted_at.is_(None))
    rows = (await tx.execute(q.order_by(RecordingSegment.at, RecordingSegment.id))).scalars()
    return [
        SegmentFile(g.id, g.recording_id, g.pid, g.kind, g.index, g.path, g.sha256, g.bytes, g.deleted_at) for g in rows
    ]


async def deleted_segments(tx: Tx, session_id: str) -> int:
    """How many of a session's segment files retention deleted."""
    q = select(RecordingSegment.id).where(
        RecordingSegment.session_id == session_id, RecordingSegment.deleted_at.is_not(None)
    )
    return len((await tx.execute(q)).all())


async def composite_file(tx: Tx, session_id: str) -> CompositeFile | None:
    """The session's download row, when it names a file."""
    row = await tx.get(RecordingComposite, session_id)
    if row is None or row.path is None:
        return None
    return CompositeFile(row.session_id, row.status, row.path, row.sha256, row.bytes)


async def mark_segments_deleted(tx: Tx, ids: list[str], at: datetime) -> list[str]:
    """Set `deleted_at` on those of the segments not marked yet, in one statement: the ids this
    call marked (another node, or an earlier run, may have marked the others)."""
    if not ids:
        return []
    q = (
        update(RecordingSegment)
        .where(RecordingSegment.id.in_(ids), RecordingSegment.deleted_at.is_(None))
        .values(deleted_at=at)
        .returning(RecordingSegment.id)
    )
    return list((await tx.execute(q)).scalars())


async def mark_composite_deleted(tx: Tx, session_id: str, path: str, at: datetime, *, status: str) -> bool:
    """The download's row says its file is deleted (its path and SHA-256 stay, to say which);
    False when it already did, or names another file now."""
    q = (
        update(RecordingComposite)
        .where(
            RecordingComposite.session_id == session_id,
            RecordingComposite.path == path,
            RecordingComposite.status != status,
        )
        .values(status=status, progress=1.0, error=None, updated_at=at)
        .returning(RecordingComposite.session_id)
    )
    return (await tx.execute(q)).first() is not None
