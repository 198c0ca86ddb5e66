"""What the review page of a session reads: its segments (with what retention deleted), its
chat, its events from the case log, and the viewings already logged. Named queries only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from .base import Tx
from .caselog import LogEntry
from .chat import MessageRecord
from .models import CaseEvent, ChatMessage, Org, RecordingSegment


@dataclass(frozen=True, slots=True)
class ReviewSegment:
    """A logged segment as a track reads it (recordings.tracks.Segment)."""

    id: str
    pid: str
    kind: str
    index: int
    path: str
    sha256: str
    first_wallclock: datetime
    duration_s: float
    deleted_at: datetime | None

    @classmethod
    def of(cls, g: RecordingSegment) -> ReviewSegment:
        return cls(g.id, g.pid, g.kind, g.index, g.path, g.sha256, g.first_wallclock, g.duration_s, g.deleted_at)


async def segments(tx: Tx, session_id: str) -> list[ReviewSegment]:
    """Every logged segment of the session, deleted ones too (their place is a gap), on its timeline."""
    q = (
        select(RecordingSegment)
        .where(RecordingSegment.session_id == session_id)
        .order_by(RecordingSegment.first_wallclock, RecordingSegment.pid, RecordingSegment.kind, RecordingSegment.index)
    )
    return [ReviewSegment.of(g) for g in (await tx.execute(q)).scalars()]


async def parties_see_recordings(tx: Tx, org_id: str) -> bool:
    """Whether the org lets its cases' parties watch their sessions' recordings."""
    q = select(Org.parties_see_recordings).where(Org.id == org_id)
    return bool((await tx.execute(q)).scalar_one_or_none())


async def chat(tx: Tx, session_id: str) -> list[MessageRecord]:
    """Every message of the session, private ones too, in the order sent (the caller filters)."""
    q = select(ChatMessage).where(ChatMessage.session_id == session_id).order_by(ChatMessage.at, ChatMessage.id)
    return [MessageRecord.of(m) for m in (await tx.execute(q)).scalars()]


async def session_entries(tx: Tx, case_id: str, session_id: str, kinds: Iterable[str]) -> list[LogEntry]:
    """The case log's entries of these kinds about the session, in order."""
    q = (
        select(CaseEvent)
        .where(CaseEvent.case_id == case_id, CaseEvent.session_id == session_id, CaseEvent.kind.in_(list(kinds)))
        .order_by(CaseEvent.seq)
    )
    return [LogEntry.of(e) for e in (await tx.execute(q)).scalars()]


async def viewings(
    tx: Tx, case_id: str, session_id: str, kind: str, actor: str, *, since: datetime, before_seq: int | None = None
) -> list[tuple[datetime, dict[str, Any]]]:
    """(time, data) of this person's entries of `kind` about the session since `since` (before
    entry `before_seq` if given), on whichever node they were written."""
    q = select(CaseEvent.at, CaseEvent.data).where(
        CaseEvent.case_id == case_id,
        CaseEvent.session_id == session_id,
        CaseEvent.kind == kind,
        CaseEvent.actor == actor,
        CaseEvent.at >= since,
    )
    if before_seq is not None:
        q = q.where(CaseEvent.seq < before_seq)
    return [(at, dict(data or {})) for at, data in (await tx.execute(q.order_by(CaseEvent.seq)))]
