"""Recording runs with their consents, segments and composite download: named queries and writes.

A run is one stretch of server-side recording in a session (`RunStatus`); consents and segments
belong to a run, the composite to a session. What happens around these rows (the case-log
entries written with them, the files they name) is `recordings/`'s; this module only stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from .base import Tx, load
from .models import CaseEvent, Recording, RecordingComposite, RecordingConsent, RecordingSegment


class RunStatus:
    """A run is active, then stopped; interrupted while no node records it (it may resume)."""

    active = "active"
    stopped = "stopped"
    interrupted = "interrupted"


OPEN = (RunStatus.active, RunStatus.interrupted)  # a run that has not been stopped


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: str
    case_id: str
    session_id: str
    status: str
    started_by: str
    started_at: datetime
    stopped_at: datetime | None
    stop_reason: str | None
    node_id: str | None

    @classmethod
    def of(cls, r: Recording) -> RunRecord:
        return cls(
            r.id, r.case_id, r.session_id, r.status, r.started_by, r.started_at, r.stopped_at, r.stop_reason, r.node_id
        )


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: str
    recording_id: str
    case_id: str
    session_id: str
    pid: str
    name: str
    role: str
    invitation_id: str | None
    account_id: str | None
    decision: str
    language: str
    at: datetime

    @classmethod
    def of(cls, c: RecordingConsent) -> ConsentRecord:
        return cls(
            c.id,
            c.recording_id,
            c.case_id,
            c.session_id,
            c.pid,
            c.name,
            c.role,
            c.invitation_id,
            c.account_id,
            c.decision,
            c.language,
            c.at,
        )


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    id: str
    recording_id: str
    case_id: str
    session_id: str
    pid: str
    kind: str
    codec: str
    track: str
    index: int
    path: str  # relative to the data directory
    sha256: str
    bytes: int
    frames: int
    duration_s: float
    first_wallclock: datetime
    first_rtp_ts: int
    sender_reports: tuple[Any, ...]
    at: datetime

    @classmethod
    def of(cls, g: RecordingSegment) -> SegmentRecord:
        return cls(
            g.id,
            g.recording_id,
            g.case_id,
            g.session_id,
            g.pid,
            g.kind,
            g.codec,
            g.track,
            g.index,
            g.path,
            g.sha256,
            g.bytes,
            g.frames,
            g.duration_s,
            g.first_wallclock,
            g.first_rtp_ts,
            tuple(g.sender_reports or ()),
            g.at,
        )


@dataclass(frozen=True, slots=True)
class CompositeRecord:
    session_id: str
    case_id: str
    status: str
    progress: float
    path: str | None
    sha256: str | None
    bytes: int | None
    error: str | None
    updated_at: datetime

    @classmethod
    def of(cls, c: RecordingComposite) -> CompositeRecord:
        return cls(c.session_id, c.case_id, c.status, c.progress, c.path, c.sha256, c.bytes, c.error, c.updated_at)


# Runs


async def load_run(tx: Tx, recording_id: str) -> RunRecord:
    """The run, or NotFound("recording not found")."""
    return RunRecord.of(await load(tx, Recording, recording_id, "recording"))


async def find_run(tx: Tx, recording_id: str) -> RunRecord | None:
    """The run, or None: for callers to whom a missing run is an answer, not an error."""
    row = await tx.get(Recording, recording_id) if recording_id else None
    return RunRecord.of(row) if row is not None else None


async def active_run(tx: Tx, session_id: str) -> RunRecord | None:
    """The session's run that is recording now (status active), if any."""
    row = (
        (
            await tx.execute(
                select(Recording).where(Recording.session_id == session_id, Recording.status == RunStatus.active)
            )
        )
        .scalars()
        .first()
    )
    return RunRecord.of(row) if row is not None else None


async def open_run(tx: Tx, session_id: str) -> RunRecord | None:
    """The session's latest run not yet stopped: active, or interrupted by a lost room or node."""
    row = (
        (
            await tx.execute(
                select(Recording)
                .where(Recording.session_id == session_id, Recording.status.in_(OPEN))
                .order_by(Recording.started_at.desc())
            )
        )
        .scalars()
        .first()
    )
    return RunRecord.of(row) if row is not None else None


async def active_runs(tx: Tx) -> list[RunRecord]:
    """Every active run, on every node."""
    rows = (await tx.execute(select(Recording).where(Recording.status == RunStatus.active))).scalars()
    return [RunRecord.of(r) for r in rows]


async def runs_of_session(tx: Tx, session_id: str) -> list[RunRecord]:
    """A session's runs, oldest first."""
    rows = (
        await tx.execute(select(Recording).where(Recording.session_id == session_id).order_by(Recording.started_at))
    ).scalars()
    return [RunRecord.of(r) for r in rows]


async def was_recorded(tx: Tx, session_id: str) -> bool:
    """Whether the session ever had a run."""
    q = select(Recording.id).where(Recording.session_id == session_id).limit(1)
    return (await tx.execute(q)).first() is not None


async def recorded_sessions(tx: Tx, session_ids: set[str]) -> set[str]:
    """Which of these sessions ever had a run, in one statement (a page listing many sessions)."""
    if not session_ids:
        return set()
    q = select(Recording.session_id).where(Recording.session_id.in_(session_ids)).distinct()
    return set((await tx.execute(q)).scalars())


async def add_run(
    tx: Tx, *, case_id: str, session_id: str, started_by: str, at: datetime, node_id: str | None
) -> RunRecord:
    """A new active run, recorded by the node process `node_id`."""
    row = Recording(
        case_id=case_id,
        session_id=session_id,
        status=RunStatus.active,
        started_by=started_by,
        started_at=at,
        node_id=node_id,
    )
    tx.add(row)
    await tx.flush()
    return RunRecord.of(row)


async def _move(tx: Tx, recording_id: str, from_: tuple[str, ...], **values: Any) -> RunRecord | None:
    """Change a run only if its status is one of `from_`, in one statement, so that of two
    nodes (or two requests) making the same change exactly one does: the run as changed, or
    None when it was not in `from_` (or does not exist)."""
    q = (
        update(Recording)
        .where(Recording.id == recording_id, Recording.status.in_(from_))
        .values(**values)
        .returning(Recording)
    )
    row = (await tx.execute(q)).scalars().first()
    return RunRecord.of(row) if row is not None else None


async def stop(tx: Tx, recording_id: str, *, at: datetime, reason: str) -> RunRecord | None:
    """Close an open run; None when it was already stopped (or never existed)."""
    return await _move(tx, recording_id, OPEN, status=RunStatus.stopped, stopped_at=at, stop_reason=reason)


async def interrupt(tx: Tx, recording_id: str) -> RunRecord | None:
    """An active run loses its room or node; None when it was not active."""
    return await _move(tx, recording_id, (RunStatus.active,), status=RunStatus.interrupted)


async def resume(tx: Tx, recording_id: str, *, node_id: str | None) -> RunRecord | None:
    """An interrupted run goes on, recorded by `node_id`; None when it was not interrupted."""
    return await _move(tx, recording_id, (RunStatus.interrupted,), status=RunStatus.active, node_id=node_id)


# Consents


async def consents_of_run(tx: Tx, recording_id: str) -> list[ConsentRecord]:
    """Every answer given in a run, in the order given."""
    q = select(RecordingConsent).where(RecordingConsent.recording_id == recording_id).order_by(RecordingConsent.at)
    return [ConsentRecord.of(c) for c in (await tx.execute(q)).scalars()]


async def consents_of_session(tx: Tx, session_id: str) -> list[ConsentRecord]:
    """Every answer given in any run of a session, in the order given."""
    q = select(RecordingConsent).where(RecordingConsent.session_id == session_id).order_by(RecordingConsent.at)
    return [ConsentRecord.of(c) for c in (await tx.execute(q)).scalars()]


async def add_consent(
    tx: Tx,
    run: RunRecord,
    *,
    pid: str,
    name: str,
    role: str,
    invitation_id: str | None,
    account_id: str | None,
    decision: str,
    language: str,
    at: datetime,
) -> ConsentRecord:
    """One participant's answer in a run, with who they are and the prompt's language."""
    row = RecordingConsent(
        recording_id=run.id,
        case_id=run.case_id,
        session_id=run.session_id,
        pid=pid,
        name=name,
        role=role,
        invitation_id=invitation_id,
        account_id=account_id,
        decision=decision,
        language=language,
        at=at,
    )
    tx.add(row)
    await tx.flush()
    return ConsentRecord.of(row)


# Segments


async def segments_of_session(tx: Tx, session_id: str) -> list[SegmentRecord]:
    """A session's segments of every run, on its timeline: by first packet, then participant,
    kind and index."""
    q = (
        select(RecordingSegment)
        .where(RecordingSegment.session_id == session_id)
        .order_by(RecordingSegment.first_wallclock, RecordingSegment.pid, RecordingSegment.kind, RecordingSegment.index)
    )
    return [SegmentRecord.of(g) for g in (await tx.execute(q)).scalars()]


async def segment_at(tx: Tx, path: str) -> SegmentRecord | None:
    """The segment stored under this path (relative to the data directory), if any."""
    row = (await tx.execute(select(RecordingSegment).where(RecordingSegment.path == path))).scalars().first()
    return SegmentRecord.of(row) if row is not None else None


async def add_segment(
    tx: Tx,
    run: RunRecord,
    *,
    pid: str,
    kind: str,
    codec: str,
    track: str,
    index: int,
    path: str,
    sha256: str,
    bytes: int,
    frames: int,
    duration_s: float,
    first_wallclock: datetime,
    first_rtp_ts: int,
    sender_reports: list[Any],
    at: datetime,
) -> SegmentRecord:
    """A finished segment file of a run; its path is unique."""
    row = RecordingSegment(
        recording_id=run.id,
        case_id=run.case_id,
        session_id=run.session_id,
        pid=pid,
        kind=kind,
        codec=codec,
        track=track,
        index=index,
        path=path,
        sha256=sha256,
        bytes=bytes,
        frames=frames,
        duration_s=duration_s,
        first_wallclock=first_wallclock,
        first_rtp_ts=first_rtp_ts,
        sender_reports=sender_reports,
        at=at,
    )
    tx.add(row)
    await tx.flush()
    return SegmentRecord.of(row)


# The composite download


COMPOSITE_FIELDS = frozenset({"status", "progress", "path", "sha256", "bytes", "error"})


async def composite_of(tx: Tx, session_id: str) -> CompositeRecord | None:
    """The session's download, as far as it has been made; None before the first try."""
    row = await tx.get(RecordingComposite, session_id)
    return CompositeRecord.of(row) if row is not None else None


async def save_composite(
    tx: Tx, session_id: str, *, case_id: str, at: datetime, initial_status: str, **changes: Any
) -> CompositeRecord:
    """Change the session's download row (made first with `initial_status`); `changes` are
    columns of COMPOSITE_FIELDS."""
    unknown = set(changes) - COMPOSITE_FIELDS
    if unknown:
        raise TypeError(f"not a changeable column of the composite: {', '.join(sorted(unknown))}")
    row = await tx.get(RecordingComposite, session_id)
    if row is None:
        row = RecordingComposite(session_id=session_id, case_id=case_id, status=initial_status, progress=0.0)
        tx.add(row)
    for column, value in changes.items():
        setattr(row, column, value)
    row.updated_at = at
    await tx.flush()
    return CompositeRecord.of(row)


# Viewings


async def last_viewed(
    tx: Tx, case_id: str, session_id: str, actor: str, file: str, *, before_seq: int | None = None
) -> datetime | None:
    """When this person last opened `file` of the session (its latest `recording.accessed` entry
    for that file in the case log that was not a refusal, before entry `before_seq` if given),
    on whichever node. Playing a review track does not count as opening the download."""
    q = select(CaseEvent.at, CaseEvent.data).where(
        CaseEvent.case_id == case_id,
        CaseEvent.session_id == session_id,
        CaseEvent.kind == "recording.accessed",
        CaseEvent.actor == actor,
    )
    if before_seq is not None:
        q = q.where(CaseEvent.seq < before_seq)
    # A person's own recent entries are few: read them and pick the file's (JSON is queried
    # differently on SQLite and PostgreSQL).
    for at, data in (await tx.execute(q.order_by(CaseEvent.seq.desc()).limit(200))).all():
        if isinstance(data, dict) and data.get("file") == file and not data.get("refused"):
            return at  # type: ignore[no-any-return]
    return None
