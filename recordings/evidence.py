"""What recording writes to the database and to the case's hash-chained log.

Every fact a court may ask about goes into the case log (DESIGN.md, "Evidence integrity"),
in the same transaction as its row: a run started and stopped, each participant's consent
with time and person, each finished segment with its SHA-256, an interruption, a full disk.
A segment is logged only after its file is complete, renamed into place and hashed, so
every `recording.segment` entry names a file that decodes and matches its hash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from server.domain.actors import Actor, SystemReason
from server.domain.errors import Conflict, DomainError, NotFound
from server.services.core import Core
from server.storage import caselog, nodes
from server.storage import recordings as stored
from server.storage.base import Tx
from server.storage.recordings import ConsentRecord, RunRecord, RunStatus, SegmentRecord

from .files import session_folder, sha256_of

log = logging.getLogger("heshi.recordings")


@dataclass(frozen=True)
class Orphan:
    """A run cut off from its node. `node_lost`: another node stopped answering, and its room
    may well be alive with people in it; otherwise this node restarted."""

    recording_id: str
    case_id: str
    session_id: str
    node_lost: bool


async def start_run(core: Core, *, case_id: str, session_id: str, actor: Actor, node_id: str | None) -> RunRecord:
    """A new run in a session that has none active; Conflict (with its id) when one is on."""
    now = core.clock.now()
    async with core.db.write() as tx:
        active = await stored.active_run(tx, session_id)
        if active is not None:
            raise Conflict("recording is already on in this session", recording_id=active.id)
        run = await stored.add_run(
            tx, case_id=case_id, session_id=session_id, started_by=str(actor), at=now, node_id=node_id
        )
        await _log(tx, run, "recording.started", actor, now)
    return run


async def stop_run(core: Core, recording_id: str, *, actor: Actor, reason: str) -> bool:
    """Close a run; False when it was already closed (another node, or a second stop)."""
    now = core.clock.now()
    async with core.db.write() as tx:
        run = await stored.stop(tx, recording_id, at=now, reason=reason)
        if run is None:
            return False
        await _log(tx, run, "recording.stopped", actor, now, reason=reason)
    return True


async def active_run(core: Core, session_id: str) -> RunRecord | None:
    """The run that should be recording this session, if any (active, or interrupted by a restart)."""
    async with core.db.read() as tx:
        return await stored.open_run(tx, session_id)


async def mark_interrupted(core: Core, recording_id: str, actor: Actor, *, reason: str) -> bool:
    """The room that ran this recording was lost (a restart): say so in the case log, once."""
    now = core.clock.now()
    async with core.db.write() as tx:
        run = await stored.interrupt(tx, recording_id)
        if run is None:
            return False
        await _log(tx, run, "recording.interrupted", actor, now, reason=reason)
    return True


async def interrupt_orphaned(core: Core, live: dict[str, str], me_name: str) -> list[Orphan]:
    """Mark interrupted every active run whose node process is not in `live` (id → name): it
    crashed, was restarted (a process with its name is alive now), or stopped answering.
    Returns the runs this call interrupted (of two nodes noticing at once, one does). Each
    gets one `recording.interrupted` entry."""
    async with core.db.read() as tx:
        orphans = [r for r in await stored.active_runs(tx) if r.node_id not in live]
        if not orphans:
            return []
        names = await nodes.names_of(tx, {r.node_id for r in orphans if r.node_id is not None})
    done = []
    for run in orphans:
        name = names.get(run.node_id, run.node_id) if run.node_id is not None else None
        restarted = name is None or name == me_name
        actor = Actor.system(SystemReason.node_restart if restarted else SystemReason.node_lost)
        reason = "the node recording it restarted" if restarted else f"the node recording it ({name}) stopped answering"
        if await mark_interrupted(core, run.id, actor, reason=reason):
            done.append(Orphan(run.id, run.case_id, run.session_id, node_lost=not restarted))
    return done


async def mark_resumed(core: Core, recording_id: str, actor: Actor, *, node_id: str | None) -> bool:
    """The run goes on, recorded by `node_id` (a rejoin made its room again, or a node took
    over the run of one that was lost). False when it was not interrupted: of two nodes or
    joins resuming it at once, exactly one does, and only that one starts a worker."""
    now = core.clock.now()
    async with core.db.write() as tx:
        run = await stored.resume(tx, recording_id, node_id=node_id)
        if run is None:
            return False
        await _log(tx, run, "recording.resumed", actor, now)
    return True


async def was_recorded(core: Core, session_id: str) -> bool:
    async with core.db.read() as tx:
        return await stored.was_recorded(tx, session_id)


async def consents_of(core: Core, recording_id: str) -> dict[str, str]:
    """Each participant's latest answer in a run."""
    async with core.db.read() as tx:
        answers = await stored.consents_of_run(tx, recording_id)
    return {c.pid: c.decision for c in answers}


@dataclass(frozen=True)
class Person:
    pid: str
    name: str
    role: str
    invitation_id: str | None
    account_id: str | None


async def save_consent(
    core: Core, recording_id: str, person: Person, actor: Actor, decision: str, language: str
) -> None:
    now = core.clock.now()
    async with core.db.write() as tx:
        run = await stored.find_run(tx, recording_id)
        if run is None or run.status != RunStatus.active:
            raise Conflict("this recording is no longer running")
        await stored.add_consent(
            tx,
            run,
            pid=person.pid,
            name=person.name,
            role=person.role,
            invitation_id=person.invitation_id,
            account_id=person.account_id,
            decision=decision,
            language=language,
            at=now,
        )
        await caselog.append(
            tx,
            case_id=run.case_id,
            session_id=run.session_id,
            kind="recording.consent",
            actor=actor,
            at=now,
            data={
                "recording_id": recording_id,
                "pid": person.pid,
                "name": person.name,
                "role": person.role,
                "decision": decision,
                "language": language,
            },
        )


SEGMENT_FIELDS = (
    "pid",
    "kind",
    "codec",
    "track",
    "index",
    "path",
    "sha256",
    "bytes",
    "frames",
    "duration_s",
    "first_wallclock",
    "first_rtp_ts",
    "sender_reports",
)


async def save_segment(core: Core, recording_id: str, actor: Actor, seg: dict[str, Any]) -> str:
    """Record a finished segment the recorder reported. The path must lie in the run's
    directory and the file must exist with the reported size; the hash is checked too.
    Returns the segment id. Idempotent on the path (a recorder's retry)."""
    async with core.db.read() as tx:
        run = await stored.load_run(tx, recording_id)
    rel = PurePosixPath(str(seg["path"]))
    if (
        rel.is_absolute()
        or ".." in rel.parts
        or rel.parent != session_folder(run.case_id, run.session_id)
        or not rel.name.endswith(".webm")
    ):
        raise DomainError("a segment must be a .webm file in its session's recording directory", field="path")
    path = Path(core.settings.data_dir) / rel
    try:
        size = path.stat().st_size
    except OSError:
        raise NotFound("the segment file is not there", field="path") from None
    if size != int(seg["bytes"]):
        raise DomainError("the segment file's size does not match the report", field="bytes")
    if (await asyncio.to_thread(sha256_of, path))[0] != seg["sha256"]:
        raise DomainError("the segment file's SHA-256 does not match the report", field="sha256")
    now = core.clock.now()
    first = datetime.fromtimestamp(float(seg["first_wallclock"]), tz=UTC)
    async with core.db.write() as tx:
        existing = await stored.segment_at(tx, str(rel))
        if existing is not None:
            if existing.sha256 != seg["sha256"]:
                raise Conflict("a different segment was already recorded under this path")
            return existing.id
        row = await stored.add_segment(
            tx,
            run,
            pid=str(seg["pid"]),
            kind=str(seg["kind"]),
            codec=str(seg["codec"]),
            track=str(seg["track"]),
            index=int(seg["index"]),
            path=str(rel),
            sha256=str(seg["sha256"]),
            bytes=size,
            frames=int(seg["frames"]),
            duration_s=float(seg["duration_s"]),
            first_wallclock=first,
            first_rtp_ts=int(seg["first_rtp_ts"]),
            sender_reports=list(seg.get("sender_reports") or []),
            at=now,
        )
        await caselog.append(
            tx,
            case_id=run.case_id,
            session_id=run.session_id,
            kind="recording.segment",
            actor=actor,
            at=now,
            data={
                "recording_id": recording_id,
                "segment_id": row.id,
                "path": row.path,
                "sha256": row.sha256,
                "bytes": size,
                "pid": row.pid,
                "kind": row.kind,
                "index": row.index,
                "duration_s": row.duration_s,
                "first_wallclock": first.isoformat(timespec="microseconds"),
            },
        )
    return row.id


async def note(core: Core, recording_id: str, actor: Actor, kind: str, data: dict[str, Any]) -> None:
    """Another fact about a run for the case log (e.g. `recording.disk_full`)."""
    async with core.db.write() as tx:
        run = await stored.load_run(tx, recording_id)
        await caselog.append(
            tx,
            case_id=run.case_id,
            session_id=run.session_id,
            kind=kind,
            actor=actor,
            at=core.clock.now(),
            data={"recording_id": recording_id, **data},
        )


async def _log(tx: Tx, run: RunRecord, kind: str, actor: Actor, at: datetime, **data: Any) -> None:
    """A run's own case-log entry (started, stopped, interrupted, resumed), naming the run."""
    await caselog.append(
        tx,
        case_id=run.case_id,
        session_id=run.session_id,
        kind=kind,
        actor=actor,
        at=at,
        data={"recording_id": run.id, **data},
    )


async def segments_of(core: Core, session_id: str) -> list[SegmentRecord]:
    """A session's segments of every run, on its timeline."""
    async with core.db.read() as tx:
        return await stored.segments_of_session(tx, session_id)


async def summary(core: Core, session_id: str) -> dict[str, Any]:
    """The evidence of a session's recording: runs, consents, segments (the download is
    composite.py's; server/services/recording.py puts the two together)."""
    async with core.db.read() as tx:
        return await summary_in(tx, session_id)


async def summary_in(tx: Tx, session_id: str) -> dict[str, Any]:
    """`summary`, read in the caller's transaction."""
    return describe(
        await stored.runs_of_session(tx, session_id),
        await stored.consents_of_session(tx, session_id),
        await stored.segments_of_session(tx, session_id),
    )


def describe(
    runs: Sequence[RunRecord], consents: Sequence[ConsentRecord], segments: Sequence[SegmentRecord]
) -> dict[str, Any]:
    """Runs, consents and segments as the API and the case page show them."""
    return {
        "runs": [
            {
                "id": r.id,
                "status": r.status,
                "started_by": r.started_by,
                "started_at": r.started_at.isoformat(),
                "stopped_at": r.stopped_at.isoformat() if r.stopped_at else None,
                "stop_reason": r.stop_reason,
            }
            for r in runs
        ],
        "consents": [
            {
                "recording_id": c.recording_id,
                "pid": c.pid,
                "name": c.name,
                "role": c.role,
                "decision": c.decision,
                "language": c.language,
                "at": c.at.isoformat(),
            }
            for c in consents
        ],
        "segments": [
            {
                "id": g.id,
                "recording_id": g.recording_id,
                "pid": g.pid,
                "kind": g.kind,
                "codec": g.codec,
                "index": g.index,
                "path": g.path,
                "sha256": g.sha256,
                "bytes": g.bytes,
                "frames": g.frames,
                "duration_s": g.duration_s,
                "first_wallclock": g.first_wallclock.isoformat(timespec="microseconds"),
            }
            for g in segments
        ],
    }
