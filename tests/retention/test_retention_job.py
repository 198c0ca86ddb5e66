"""The retention job (server/services/retention.py) on real recording files, on SQLite and
PostgreSQL: what expires goes, with one `recording.deleted` entry per file by
`system:retention`; nothing of a case on hold is touched; the chain still verifies; a run cut
off half-way is finished by the next one, which never logs a file twice."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

from recordings import composite, tracks
from server.domain.actors import Actor, SystemReason
from server.domain.clock import FrozenClock, wire_time
from server.services import recording, retention
from server.services.core import Core
from server.services.retention import Retention, _delete_files
from tests.conftest import World
from tests.retention.conftest import Logged, chain_ok, files_in, log_of, org_of_code, segment_rows
from tests.retention.recorded import Recorded, people, record_session
from tests.support.waiting import wait_for

DAY = timedelta(days=1)
SYSTEM = "system:retention"
CLI = Actor.system(SystemReason.cli)


async def keep_for(core: Core, world: World, days: int | None, code: str = "DEMO-QS") -> None:
    await retention.set_retention(core, world.principals["demo-admin"], await org_of_code(core, code), days)


async def deleted_entries(core: Core, case_id: str) -> list[Logged]:
    return await log_of(core, case_id, "recording.deleted")


async def test_a_recording_is_kept_for_the_orgs_days_then_every_file_goes_each_logged_once(
    core: Core, world: World, recorded: Recorded, clock: FrozenClock
) -> None:
    case_id, session_id = recorded.case_id, recorded.session_id
    ended = clock.now()
    made = await composite.make(core, case_id, session_id, CLI)
    assert made.status == "done", made.error
    segments = await segment_rows(core, session_id)
    assert len(segments) == 8 and all(s.deleted_at is None for s in segments)
    before = await chain_ok(core, case_id)
    await keep_for(core, world, 30)
    # The review page's cache holds copies of the same media (recordings/tracks.py).
    cache = tracks.cache_dir(core.settings.data_dir, case_id, session_id)
    cache.mkdir(parents=True)
    shutil.copy(core.settings.data_dir / segments[0].path, cache / "track.webm")

    clock.advance(days=30)
    assert await Retention(core).run_once() == retention.RunReport(), "30 days are not more than 30"
    assert len(files_in(recorded.folder)) >= 9  # segments, their sidecars, the download

    clock.advance(seconds=1)
    report = await Retention(core).run_once()
    assert (report.sessions, report.deleted, report.repaired, report.failed) == (1, 9, 0, [])
    assert not recorded.folder.exists(), "the session's recording directory is gone, sidecars and all"
    assert not cache.exists(), "and the review page's copies"
    now = clock.now()
    rows = await segment_rows(core, session_id)
    assert [r.deleted_at for r in rows] == [now] * 8
    assert [(r.path, r.sha256) for r in rows] == [(s.path, s.sha256) for s in segments], "the rows stay"
    entries = await deleted_entries(core, case_id)
    assert [(e.kind, e.actor, e.session_id) for e in entries] == [("recording.deleted", SYSTEM, session_id)] * 9
    why = {"retention_days": 30, "session_ended_at": wire_time(ended), "expired_at": wire_time(ended + 30 * DAY)}
    assert [e.data for e in entries[:8]] == [
        {
            "file": "segment",
            "segment_id": s.id,
            "recording_id": recorded.recording_id,
            "path": s.path,
            "sha256": s.sha256,
            "bytes": s.bytes,
            "pid": s.pid,
            "kind": s.kind,
            "index": s.index,
            "found": True,
            **why,
        }
        for s in segments
    ]
    assert entries[8].data == {
        "file": "composite",
        "path": made.path,
        "sha256": made.sha256,
        "bytes": made.bytes,
        "found": True,
        **why,
    }
    # What was recorded is still in the chain, which still verifies, with the deletions after it.
    logged = {e.data["segment_id"]: e.data["sha256"] for e in await log_of(core, case_id, "recording.segment")}
    assert logged == {s.id: s.sha256 for s in segments}
    assert await chain_ok(core, case_id) == before + 9

    # The download is gone for good: not served, not made again from what is left.
    state = await recording.download_state(core, session_id)
    assert state is not None and state["status"] == "deleted" and state["sha256"] == made.sha256
    again = await composite.make(core, case_id, session_id, CLI)
    assert again.status == "deleted" and "retention" in (again.error or "")
    assert not recorded.folder.exists()

    # Later runs find nothing to do and log nothing.
    clock.advance(days=1)
    assert await Retention(core).run_once() == retention.RunReport()
    assert len(await deleted_entries(core, case_id)) == 9


async def test_an_org_keeping_recordings_and_a_session_not_ended_keep_their_files(
    core: Core, world: World, clock: FrozenClock
) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    rec = await record_session(core, case_id, session_id, people(("王建国", "mediator")), seconds=0.5)
    await keep_for(core, world, None)
    clock.advance(days=365 * 50)
    assert await Retention(core).run_once() == retention.RunReport()
    assert files_in(rec.folder)
    # The other district's session is recorded but goes on: the day count starts at its end.
    other = await record_session(
        core, world.other_case_id, world.other_session_id, people(("甲", "mediator")), seconds=0.5, end=False
    )
    await keep_for(core, world, 1, "OTHER-T")
    clock.advance(days=30)
    assert await Retention(core).run_once() == retention.RunReport()
    assert files_in(other.folder) and files_in(rec.folder)
    assert await deleted_entries(core, case_id) == [] and await deleted_entries(core, world.other_case_id) == []


async def test_each_org_keeps_its_own_period(core: Core, world: World, recorded: Recorded, clock: FrozenClock) -> None:
    other = await record_session(
        core, world.other_case_id, world.other_session_id, people(("甲", "mediator"), ("乙", "respondent")), seconds=0.5
    )
    await keep_for(core, world, 30)
    await keep_for(core, world, 90, "OTHER-T")
    clock.advance(days=31)
    assert (await Retention(core).run_once()).deleted == 8
    assert not recorded.folder.exists() and files_in(other.folder)
    clock.advance(days=60)
    assert (await Retention(core).run_once()).deleted == 4
    assert not other.folder.exists()
    await chain_ok(core, world.other_case_id)
    # A district's period is not its towns': the case's own org decides.
    assert await retention.retention_of(core, world.principals["demo-admin"], await org_of_code(core, "DEMO")) == (
        retention.RetentionSetting(await org_of_code(core, "DEMO"), None)
    )


async def test_nothing_of_a_case_on_hold_is_deleted_until_the_hold_is_released(
    core: Core, world: World, recorded: Recorded, clock: FrozenClock
) -> None:
    case_id = recorded.case_id
    reviewer, admin = world.principals["demo-reviewer"], world.principals["demo-admin"]
    await keep_for(core, world, 7)
    held = await retention.set_hold(core, reviewer, case_id, "法院调取证据")
    assert held.legal_hold and held.actor == f"account:{reviewer.account_id}" and held.reason == "法院调取证据"
    clock.advance(days=365)
    assert await Retention(core).run_once() == retention.RunReport()
    assert len(files_in(recorded.folder)) == 16  # eight segments and their sidecars
    assert await deleted_entries(core, case_id) == []

    released = await retention.release_hold(core, admin, case_id, "诉讼已结束")
    assert not released.legal_hold and released.kind == "case.hold_released"
    assert (await Retention(core).run_once()).deleted == 8
    assert not recorded.folder.exists()
    hold_log = await log_of(core, case_id, "case.hold_set", "case.hold_released")
    assert [(e.kind, e.actor, e.data) for e in hold_log] == [
        ("case.hold_set", f"account:{reviewer.account_id}", {"reason": "法院调取证据"}),
        ("case.hold_released", f"account:{admin.account_id}", {"reason": "诉讼已结束"}),
    ]
    await chain_ok(core, case_id)


async def test_a_run_cut_off_after_deleting_files_is_finished_by_the_next_which_logs_each_file_once(
    core: Core, world: World, recorded: Recorded, clock: FrozenClock
) -> None:
    """A crash between deleting the files and committing their rows leaves files gone and rows
    not marked; this test leaves that state with the job's own first half, on half the files."""
    case_id, session_id = recorded.case_id, recorded.session_id
    await keep_for(core, world, 30)
    clock.advance(days=31)
    segments = await segment_rows(core, session_id)
    gone, failed = _delete_files(core.settings.data_dir, recorded.folder, [s.path for s in segments[:4]])
    assert failed == [] and list(gone.values()) == [True] * 4
    assert await deleted_entries(core, case_id) == [] and all(
        s.deleted_at is None for s in await segment_rows(core, session_id)
    )

    report = await Retention(core).run_once()
    assert (report.deleted, report.failed) == (8, [])
    entries = await deleted_entries(core, case_id)
    assert [e.data["segment_id"] for e in entries] == [s.id for s in segments]
    assert [e.data["found"] for e in entries] == [False] * 4 + [True] * 4, "the log says which were gone already"
    assert all(s.deleted_at == clock.now() for s in await segment_rows(core, session_id))
    assert not recorded.folder.exists()
    assert await Retention(core).run_once() == retention.RunReport()
    assert len(await deleted_entries(core, case_id)) == 8
    await chain_ok(core, case_id)


async def test_files_left_behind_by_a_run_marked_deleted_are_removed_without_a_second_entry(
    core: Core, world: World, recorded: Recorded, clock: FrozenClock, tmp_path: Path
) -> None:
    """The reverse: rows marked and logged, files still there (the run stopped before removing
    the directory; or a backup was restored over it). Except in a case on hold."""
    case_id = recorded.case_id
    backup = tmp_path / "backup"
    shutil.copytree(recorded.folder, backup)
    await keep_for(core, world, 30)
    clock.advance(days=31)
    assert (await Retention(core).run_once()).deleted == 8
    count = await chain_ok(core, case_id)

    await retention.set_hold(core, world.principals["demo-admin"], case_id, "复核")
    shutil.copytree(backup, recorded.folder)
    assert await Retention(core).run_once() == retention.RunReport(), "a case on hold is not touched at all"
    assert len(files_in(recorded.folder)) == 16

    await retention.release_hold(core, world.principals["demo-admin"], case_id, "复核结束")
    report = await Retention(core).run_once()
    assert (report.deleted, report.repaired, report.failed) == (0, 8, [])
    assert not recorded.folder.exists()
    assert await chain_ok(core, case_id) == count + 2  # the hold and its release, nothing else
    assert len(await deleted_entries(core, case_id)) == 8


async def test_a_file_that_cannot_be_deleted_is_not_logged_and_is_tried_again(
    core: Core, world: World, recorded: Recorded, clock: FrozenClock
) -> None:
    case_id, session_id = recorded.case_id, recorded.session_id
    await keep_for(core, world, 30)
    clock.advance(days=31)
    stuck = (await segment_rows(core, session_id))[2]
    path = core.settings.data_dir / stuck.path
    path.unlink()
    path.mkdir()  # unlink() refuses a directory, even for root
    (path / "inside").write_bytes(b"x")
    report = await Retention(core).run_once()
    assert report.deleted == 7 and len(report.failed) == 1 and stuck.path in report.failed[0]
    assert stuck.id not in {e.data.get("segment_id") for e in await deleted_entries(core, case_id)}
    assert recorded.folder.exists(), "the directory stays while a file in it could not be deleted"
    shutil.rmtree(path)
    path.write_bytes(b"the file came back")
    report = await Retention(core).run_once()
    assert (report.deleted, report.failed) == (1, [])
    assert [e.data["segment_id"] for e in await deleted_entries(core, case_id)][-1] == stuck.id
    assert not recorded.folder.exists()
    await chain_ok(core, case_id)


async def test_two_jobs_deleting_one_session_at_once_log_each_file_once(
    core: Core, world: World, recorded: Recorded, clock: FrozenClock
) -> None:
    await keep_for(core, world, 30)
    clock.advance(days=31)
    other_node = Core.build(core.settings, clock=clock)
    try:
        reports = await asyncio.gather(Retention(core).run_once(), Retention(other_node).run_once())
    finally:
        await other_node.close()
    assert sum(r.deleted for r in reports) == 8 and all(r.failed == [] for r in reports)
    entries = await deleted_entries(core, recorded.case_id)
    assert sorted(e.data["segment_id"] for e in entries) == sorted(recorded.segment_ids)
    await chain_ok(core, recorded.case_id)


async def test_the_job_runs_by_itself_until_stopped(core: Core, world: World, recorded: Recorded, clock: FrozenClock):
    await keep_for(core, world, 30)
    job = Retention(core, interval=0.05, first_delay=0)
    await job.start()
    try:
        await asyncio.sleep(0.2)
        assert recorded.folder.exists()
        clock.advance(days=31)
        await wait_for(lambda: not recorded.folder.exists(), 10, "the job to delete the expired files")
    finally:
        await job.stop()
    assert len(await deleted_entries(core, recorded.case_id)) == 8
    await job.stop()  # twice is harmless
