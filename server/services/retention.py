"""Retention of recordings and legal hold (issue 12).

An admin sets how many days after a session ended its org keeps the recording
(`PUT /api/v1/orgs/{id}/retention`); admins and the reviewers over a case put it on legal hold
and release it, each saying why, in the case log (`case.hold_set`, `case.hold_released`).
`Retention`, one per node, deletes what expired (`server.domain.retention`): every segment
file of the session and its one-file download, then the session's recording directory. Each
deleted file gets a `recording.deleted` entry by `system:retention`, naming the file, its
SHA-256 and the period that expired; the segment's row keeps everything but the file, with
`deleted_at`. The entries the recording wrote stay in the chain, so the chain still verifies
and shows what was recorded, what was deleted and when.

Crash safety. Files are deleted inside the transaction that marks their rows and writes their
entries, under the case log's lock (which a hold request takes too, so a hold waits for a
deletion in progress and the next batch sees it):

- a crash after the files went but before the commit leaves rows not marked: the next run
  deletes nothing more (the files are gone), marks them and logs them, once, saying the file
  was no longer there (`found: false`);
- rows marked while a file stayed (the directory could not be removed, a backup restored it):
  each run removes such files, without a second entry;
- of two nodes deleting one session at once, the marking is conditional, so one logs each file.

Orgs have no log of their own: a change of an org's period is written to the server log with
its actor, and every deletion entry names the period it applied.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from recordings import tracks
from recordings.composite import Status as CompositeStatus
from recordings.files import session_dir
from server.domain.access import Principal
from server.domain.actors import Actor, SystemReason
from server.domain.clock import wire_time
from server.domain.errors import Conflict
from server.domain.retention import (
    check_days,
    check_reason,
    ensure_hold,
    ensure_set_retention,
    expires_at,
    is_expired,
)
from server.storage import retention as stored
from server.storage.base import Tx
from server.storage.retention import CompositeFile, DueSession, SegmentFile

from . import cases, eventlog, jobs, orgs
from .core import Core

log = logging.getLogger("heshi.retention")

RETENTION_ACTOR = Actor.system(SystemReason.retention)
HOLD_KINDS = ("case.hold_set", "case.hold_released")
DEFAULT_INTERVAL = 3600.0  # seconds between runs
FIRST_RUN_DELAY = 60.0  # after a node starts: not in the middle of its start-up
BATCH = 200  # files deleted per transaction (SQLite's one writer waits meanwhile)
SESSIONS_PER_QUERY = 500


# ---- an org's period ------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionSetting:
    org_id: str
    days: int | None  # None: recordings are kept
    parties_see_recordings: bool = False  # the parties of its cases may watch their sessions' recordings


async def retention_of(core: Core, p: Principal, org_id: str) -> RetentionSetting:
    """The org's period, for staff who may see the org."""
    org = await orgs.get_org(core, p, org_id)
    async with core.db.read() as tx:
        return RetentionSetting(
            org.id, await stored.retention_days(tx, org.id), await stored.parties_see_recordings(tx, org.id)
        )


async def set_retention(
    core: Core, p: Principal, org_id: str, days: int | None, *, parties_see: bool | None = None
) -> RetentionSetting:
    """Set how many days after a session ended the org keeps its recording (admins); None keeps
    them. Takes effect at the next run of `Retention`. `parties_see`, when given, says whether
    the parties of the org's cases may watch their sessions' recordings (server/domain/review.py)."""
    ensure_set_retention(p)
    days = check_days(days)
    org = await orgs.get_org(core, p, org_id)
    async with core.db.write() as tx:
        before = await stored.retention_days(tx, org.id)
        await stored.set_retention_days(tx, org.id, days)
        if parties_see is not None:
            await stored.set_parties_see_recordings(tx, org.id, parties_see)
        seen = await stored.parties_see_recordings(tx, org.id)
    log.info(
        "org %s (%s) recording retention %s -> %s days, parties see recordings: %s; set by %s",
        org.code,
        org.id,
        before,
        days,
        seen,
        Actor.of(p),
    )
    return RetentionSetting(org.id, days, seen)


# ---- a case's legal hold ----------------------------------------------------------------------


@dataclass(frozen=True)
class HoldState:
    """Whether the case is on hold, and the last change (who, when, why) as its log says."""

    case_id: str
    legal_hold: bool
    kind: str | None = None  # case.hold_set or case.hold_released; None: never held
    actor: str | None = None
    at: datetime | None = None
    reason: str | None = None


async def hold_state(core: Core, p: Principal, case_id: str) -> HoldState:
    """The case's hold, for staff who may view the case."""
    async with core.db.read() as tx:
        await cases.access_in(tx, core, p, case_id)
        return await _hold_in(tx, case_id)


async def _hold_in(tx: Tx, case_id: str) -> HoldState:
    on = await stored.legal_hold(tx, case_id)
    changes = await eventlog.entries(tx, case_id, kinds=HOLD_KINDS)
    if not changes:
        return HoldState(case_id, on)
    last = changes[-1]
    return HoldState(case_id, on, last.kind, last.actor, last.at, str(last.data.get("reason") or ""))


async def set_hold(core: Core, p: Principal, case_id: str, reason: str) -> HoldState:
    """Put the case on legal hold: retention deletes nothing of it until it is released."""
    return await _change_hold(core, p, case_id, True, reason)


async def release_hold(core: Core, p: Principal, case_id: str, reason: str) -> HoldState:
    """Take the case off legal hold: its expired recordings go at the next run."""
    return await _change_hold(core, p, case_id, False, reason)


async def _change_hold(core: Core, p: Principal, case_id: str, on: bool, reason: str) -> HoldState:
    reason = check_reason(reason)
    now = core.clock.now()
    async with core.db.write() as tx:
        access = await cases.access_in(tx, core, p, case_id)
        ensure_hold(p, access.scope)
        await eventlog.lock(tx, case_id)  # after a deletion in progress; before the next batch
        if not await stored.set_legal_hold(tx, case_id, on, now):
            current = await _hold_in(tx, case_id)
            said = f" ({current.actor}, {wire_time(current.at)}: {current.reason})" if current.at else ""
            raise Conflict(
                ("the case is on legal hold already" if on else "the case is not on legal hold") + said,
                legal_hold=current.legal_hold,
            )
        await eventlog.append(
            tx,
            case_id=case_id,
            kind="case.hold_set" if on else "case.hold_released",
            actor=Actor.of(p),
            at=now,
            data={"reason": reason},
        )
        return await _hold_in(tx, case_id)


# ---- the job ------------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What one run did."""

    sessions: int = 0  # sessions whose expired files it deleted (or finished deleting)
    deleted: int = 0  # files logged as deleted (`recording.deleted`)
    repaired: int = 0  # files removed whose rows said deleted already (no new entry)
    failed: list[str] = field(default_factory=list)  # files it could not delete: tried again next run


class Retention:
    """One node's retention job: every `interval` seconds, deletes the recording files that
    expired. `run_once` is one run (tests, `heshi retention --run`). Several nodes may run one
    each on the same database."""

    def __init__(self, core: Core, *, interval: float = DEFAULT_INTERVAL, first_delay: float = FIRST_RUN_DELAY):
        self.core = core
        self.interval = interval
        self.first_delay = first_delay
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forever(), name="heshi-retention")

    async def stop(self) -> None:
        """Stop; a batch being deleted is abandoned with its transaction (the next run repairs it)."""
        task, self._task = self._task, None
        await jobs.cancel(task)

    async def _forever(self) -> None:
        delay = self.first_delay
        while True:
            await asyncio.sleep(delay)
            try:
                report = await self.run_once()
                if report.deleted or report.repaired or report.failed:
                    log.info(
                        "retention: %d files deleted in %d sessions, %d left-overs removed, %d failed",
                        report.deleted,
                        report.sessions,
                        report.repaired,
                        len(report.failed),
                    )
                delay = self.interval
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("retention: a run failed")
                delay = min(self.interval, 300.0)

    async def due(self) -> list[DueSession]:
        """The sessions whose recording files expired and are still (partly) there."""
        now = self.core.clock.now()
        out: list[DueSession] = []
        async with self.core.db.read() as tx:
            for days in await stored.periods_in_use(tx):
                rows = await stored.sessions_ended_before(
                    tx,
                    days,
                    now - timedelta(days=days),
                    composite_deleted=CompositeStatus.deleted,
                    limit=SESSIONS_PER_QUERY,
                )
                # The query narrows, the domain decides (as everywhere else).
                out += [r for r in rows if _expired(r, now)]
        return out

    async def run_once(self) -> RunReport:
        """Remove what earlier runs marked but left on disk, then delete every expired file."""
        report = RunReport()
        await self._remove_leftovers(report)
        tried: set[str] = set()
        while True:
            due = [s for s in await self.due() if s.session_id not in tried]
            if not due:
                return report
            for s in due:
                tried.add(s.session_id)  # a session whose files cannot go now waits for the next run
                if await self._delete_session(s, report):
                    report.sessions += 1

    async def _delete_session(self, s: DueSession, report: RunReport) -> bool:
        """Delete a session's files batch by batch, then its directory. False when it stopped
        (a hold came, or a file could not be deleted)."""
        data_dir = Path(self.core.settings.data_dir)
        folder = session_dir(data_dir, s.case_id, s.session_id)
        while True:
            async with self.core.db.write() as tx:
                await eventlog.lock(tx, s.case_id)
                now = self.core.clock.now()
                current = await stored.session_of_case(tx, s.case_id, s.session_id)
                if current is None or not _expired(current, now):
                    return False  # put on hold, or given a longer period, since it was read
                segments = (await stored.segment_files(tx, s.session_id))[:BATCH]
                composite = None
                if not segments:
                    composite = await stored.composite_file(tx, s.session_id)
                    if composite is not None and composite.status == CompositeStatus.deleted:
                        composite = None
                if not segments and composite is None:
                    break
                paths = [f.path for f in segments] if segments else [composite.path]  # type: ignore[union-attr]
                gone, failed = await asyncio.to_thread(_delete_files, data_dir, folder, paths)
                common = _retention_data(current)
                if segments:
                    ids = [f.id for f in segments if f.path in gone]
                    marked = set(await stored.mark_segments_deleted(tx, ids, now))
                    for f in segments:
                        if f.id in marked:
                            await self._log(tx, s, now, _segment_data(f, gone[f.path]) | common)
                            report.deleted += 1
                elif composite is not None and composite.path in gone:
                    if await stored.mark_composite_deleted(
                        tx, s.session_id, composite.path, now, status=CompositeStatus.deleted
                    ):
                        await self._log(tx, s, now, _composite_data(composite, gone[composite.path]) | common)
                        report.deleted += 1
            if failed:
                report.failed += failed
                log.warning("retention: could not delete %s; trying again at the next run", ", ".join(failed))
                return False
        await asyncio.to_thread(_remove_folders, data_dir, s.case_id, s.session_id)
        return True

    async def _log(self, tx: Tx, s: DueSession, now: datetime, data: dict[str, Any]) -> None:
        await eventlog.append(
            tx,
            case_id=s.case_id,
            session_id=s.session_id,
            kind="recording.deleted",
            actor=RETENTION_ACTOR,
            at=now,
            data=data,
        )

    async def _remove_leftovers(self, report: RunReport) -> None:
        """Files whose rows say deleted but which are still on disk (a run stopped after the
        commit, before removing the directory; a restored backup): removed, without an entry."""
        data_dir = Path(self.core.settings.data_dir)
        async with self.core.db.read() as tx:
            sessions = await stored.sessions_with_deleted_files(tx)
        for case_id, session_id in sessions:
            folder = session_dir(data_dir, case_id, session_id)
            if not any(f.exists() for f in _folders(data_dir, case_id, session_id)):  # the usual case
                continue
            async with self.core.db.write() as tx:
                await eventlog.lock(tx, case_id)
                if await stored.legal_hold(tx, case_id):
                    continue  # nothing of a case on hold is touched
                marked = await stored.segment_files(tx, session_id, deleted=True)
                remaining = await stored.segment_files(tx, session_id)
                composite = await stored.composite_file(tx, session_id)
                paths = [f.path for f in marked]
                if composite is not None and composite.status == CompositeStatus.deleted:
                    paths.append(composite.path)
                gone, failed = await asyncio.to_thread(_delete_files, data_dir, folder, paths)
            report.repaired += sum(1 for found in gone.values() if found)
            report.failed += failed
            everything_gone = not remaining and (composite is None or composite.status == CompositeStatus.deleted)
            if everything_gone and not failed:
                await asyncio.to_thread(_remove_folders, data_dir, case_id, session_id)


def _expired(s: DueSession, now: datetime) -> bool:
    return is_expired(ended_at=s.ended_at, days=s.days, legal_hold=s.legal_hold, now=now)


def _retention_data(s: DueSession) -> dict[str, Any]:
    """Why a file went: the period it was kept, when its session ended and when it expired."""
    expired = expires_at(s.ended_at, s.days)
    return {
        "retention_days": s.days,
        "session_ended_at": wire_time(s.ended_at) if s.ended_at else None,
        "expired_at": wire_time(expired) if expired else None,
    }


def _segment_data(f: SegmentFile, found: bool) -> dict[str, Any]:
    return {
        "file": "segment",
        "segment_id": f.id,
        "recording_id": f.recording_id,
        "path": f.path,
        "sha256": f.sha256,
        "bytes": f.bytes,
        "pid": f.pid,
        "kind": f.kind,
        "index": f.index,
        "found": found,  # False: already gone when this run came (an earlier run stopped half-way)
    }


def _composite_data(c: CompositeFile, found: bool) -> dict[str, Any]:
    return {"file": "composite", "path": c.path, "sha256": c.sha256, "bytes": c.bytes, "found": found}


def _delete_files(data_dir: Path, folder: Path, paths: list[str]) -> tuple[dict[str, bool], list[str]]:
    """Delete files (paths relative to the data directory) that lie in the session's folder:
    the ones now gone, each with whether it was there, and the ones that could not be deleted.
    A path outside the folder is never touched (the rows were checked when written; this is
    the last line)."""
    gone: dict[str, bool] = {}
    failed: list[str] = []
    root = folder.resolve()
    for rel in paths:
        path = data_dir / rel
        if path.parent.resolve() != root:  # (a symlink in it is unlinked itself, never its target)
            failed.append(f"{rel} (outside the session's recording directory)")
            continue
        try:
            path.unlink()
            gone[rel] = True
        except FileNotFoundError:
            gone[rel] = False
        except OSError as exc:
            failed.append(f"{rel} ({exc.strerror or exc})")
    return gone, failed


def _folders(data_dir: Path, case_id: str, session_id: str) -> list[Path]:
    """Where a session's recording lives: its recording directory (segments, their sidecars,
    the download and its work files), and the review page's cache of its tracks remuxed from
    the segments (recordings/tracks.py): copies of the same media, which go with them."""
    return [session_dir(data_dir, case_id, session_id), tracks.cache_dir(data_dir, case_id, session_id)]


def _remove_folders(data_dir: Path, case_id: str, session_id: str) -> None:
    """Both of a session's folders with what is left in them (never evidence: all of it made of
    the deleted media), then each case folder above them if that was its last session."""
    for folder in _folders(data_dir, case_id, session_id):
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("retention: could not remove %s: %s", folder, exc)
            continue
        try:
            os.rmdir(folder.parent)
        except OSError:
            pass  # other sessions' recordings, or already gone
