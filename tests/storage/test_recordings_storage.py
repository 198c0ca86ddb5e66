"""Named queries and writes of recording runs, consents, segments and downloads
(server/storage/recordings.py), on SQLite and on PostgreSQL (the `core` fixture runs both)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from recordings import composite, evidence
from server.domain.actors import Actor
from server.domain.errors import NotFound
from server.services.core import Core
from server.storage import caselog
from server.storage import recordings as stored
from server.storage.recordings import RunRecord, RunStatus

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def new_run(core: Core, case_id: str, session_id: str, *, node_id: str | None = None) -> RunRecord:
    async with core.db.write() as tx:
        return await stored.add_run(
            tx, case_id=case_id, session_id=session_id, started_by="account:m", at=core.clock.now(), node_id=node_id
        )


def segment(path: str, **over: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "pid": "a:m",
        "kind": "video",
        "codec": "vp8",
        "track": "t",
        "index": 0,
        "path": path,
        "sha256": "0" * 64,
        "bytes": 10,
        "frames": 3,
        "duration_s": 1.5,
        "first_rtp_ts": 90000,
        "sender_reports": [[1, 2]],
    }
    return fields | over


async def test_an_unknown_recording_is_not_found_by_its_one_message(core, world) -> None:
    async with core.db.read() as tx:
        for missing in (UNKNOWN, ""):
            with pytest.raises(NotFound) as caught:
                await stored.load_run(tx, missing)
            assert caught.value.message == "recording not found"
            assert await stored.find_run(tx, missing) is None
    with pytest.raises(NotFound, match="recording not found"):
        await evidence.note(core, UNKNOWN, Actor.account("x"), "recording.disk_full", {})


async def test_a_new_run_is_active_open_and_comes_back_as_a_record_not_a_row(core, world) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    async with core.db.read() as tx:
        assert await stored.active_run(tx, session_id) is None
        assert await stored.open_run(tx, session_id) is None
        assert not await stored.was_recorded(tx, session_id)
    run = await new_run(core, case_id, session_id, node_id="n1")
    assert (run.case_id, run.session_id, run.status, run.node_id) == (case_id, session_id, RunStatus.active, "n1")
    assert run.started_by == "account:m" and run.started_at == core.clock.now() and run.stopped_at is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = RunStatus.stopped  # type: ignore[misc]
    async with core.db.read() as tx:
        assert await stored.load_run(tx, run.id) == run
        assert await stored.active_run(tx, session_id) == run
        assert await stored.open_run(tx, session_id) == run
        assert await stored.active_runs(tx) == [run]
        assert await stored.was_recorded(tx, session_id)
        assert await stored.recorded_sessions(tx, {session_id, world.other_session_id}) == {session_id}
        assert await stored.recorded_sessions(tx, set()) == set()


async def test_a_run_stops_once_and_an_unknown_or_stopped_one_does_not_stop(core, world) -> None:
    run = await new_run(core, world.demo.case_id, world.demo.session_id)
    core.clock.advance(minutes=5)
    async with core.db.write() as tx:
        stopped = await stored.stop(tx, run.id, at=core.clock.now(), reason="休息")
        assert stopped is not None
        assert (stopped.status, stopped.stopped_at, stopped.stop_reason) == ("stopped", core.clock.now(), "休息")
        assert await stored.stop(tx, run.id, at=core.clock.now(), reason="again") is None
        assert await stored.stop(tx, UNKNOWN, at=core.clock.now(), reason="x") is None
    async with core.db.read() as tx:
        assert await stored.load_run(tx, run.id) == stopped
        assert await stored.open_run(tx, world.demo.session_id) is None
        assert await stored.runs_of_session(tx, world.demo.session_id) == [stopped]


async def test_two_stops_at_once_close_the_run_once_with_one_log_entry(core, world) -> None:
    run = await new_run(core, world.demo.case_id, world.demo.session_id)
    actor = Actor.account("x")
    results = await asyncio.gather(*(evidence.stop_run(core, run.id, actor=actor, reason=f"r{i}") for i in range(4)))
    assert sorted(results) == [False, False, False, True]
    async with core.db.read() as tx:
        log = await caselog.entries(tx, world.demo.case_id, kinds=("recording.stopped",))
    assert len(log) == 1 and log[0].data["recording_id"] == run.id


async def test_only_an_active_run_is_interrupted_and_only_an_interrupted_one_resumes(core, world) -> None:
    session_id = world.demo.session_id
    run = await new_run(core, world.demo.case_id, session_id, node_id="old")
    async with core.db.write() as tx:
        assert await stored.resume(tx, run.id, node_id="new") is None, "an active run does not resume"
        interrupted = await stored.interrupt(tx, run.id)
        assert interrupted is not None and interrupted.status == RunStatus.interrupted
        assert await stored.interrupt(tx, run.id) is None, "interrupted once"
        assert await stored.interrupt(tx, UNKNOWN) is None
    async with core.db.read() as tx:
        assert await stored.active_run(tx, session_id) is None
        assert await stored.open_run(tx, session_id) == interrupted, "interrupted runs are still open"
        assert await stored.active_runs(tx) == []
    async with core.db.write() as tx:
        resumed = await stored.resume(tx, run.id, node_id="new")
        assert resumed is not None and (resumed.status, resumed.node_id) == (RunStatus.active, "new")
        assert await stored.resume(tx, run.id, node_id="other") is None


async def test_the_latest_open_run_is_the_sessions_run(core, world) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    first = await new_run(core, case_id, session_id)
    async with core.db.write() as tx:
        await stored.interrupt(tx, first.id)
    core.clock.advance(seconds=1)
    second = await new_run(core, case_id, session_id)
    async with core.db.read() as tx:
        assert await stored.open_run(tx, session_id) == second
        assert [r.id for r in await stored.runs_of_session(tx, session_id)] == [first.id, second.id]


async def test_consents_are_listed_in_the_order_given_per_run_and_per_session(core, world) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    one, two = await new_run(core, case_id, session_id), await new_run(core, case_id, session_id)
    answers = [(one, "i:1", "granted"), (two, "i:2", "refused"), (one, "i:1", "refused")]
    for run, pid, decision in answers:
        core.clock.advance(seconds=1)
        async with core.db.write() as tx:
            c = await stored.add_consent(
                tx,
                run,
                pid=pid,
                name="张三",
                role="party",
                invitation_id=None,
                account_id=None,
                decision=decision,
                language="zh",
                at=core.clock.now(),
            )
            assert (c.recording_id, c.case_id, c.session_id, c.at) == (run.id, case_id, session_id, core.clock.now())
    async with core.db.read() as tx:
        assert [c.decision for c in await stored.consents_of_run(tx, one.id)] == ["granted", "refused"]
        assert [c.pid for c in await stored.consents_of_session(tx, session_id)] == ["i:1", "i:2", "i:1"]
        assert await stored.consents_of_run(tx, UNKNOWN) == []
    assert await evidence.consents_of(core, one.id) == {"i:1": "refused"}, "the latest answer counts"


async def test_segments_come_back_on_the_sessions_timeline_and_a_path_holds_one(core, world) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    run = await new_run(core, case_id, session_id)
    t0 = core.clock.now()
    folder = f"recordings/{case_id}/{session_id}"
    async with core.db.write() as tx:
        for name, start, pid, kind in (("b", 2, "a:m", "video"), ("a", 0, "i:2", "audio"), ("c", 0, "a:m", "audio")):
            await stored.add_segment(
                tx,
                run,
                **segment(f"{folder}/{name}.webm", pid=pid, kind=kind),
                first_wallclock=t0 + timedelta(seconds=start),
                at=t0,
            )
    async with core.db.read() as tx:
        segs = await stored.segments_of_session(tx, session_id)
        assert [g.path.rsplit("/", 1)[1] for g in segs] == ["c.webm", "a.webm", "b.webm"], "by time, then pid"
        found = await stored.segment_at(tx, f"{folder}/b.webm")
        assert found is not None and found.sender_reports == ([1, 2],) and found.recording_id == run.id
        assert await stored.segment_at(tx, f"{folder}/none.webm") is None
        assert await stored.segments_of_session(tx, world.other_session_id) == []
    with pytest.raises(IntegrityError):
        async with core.db.write() as tx:
            await stored.add_segment(tx, run, **segment(f"{folder}/b.webm"), first_wallclock=t0, at=t0)


async def test_the_download_row_is_made_on_its_first_change_and_takes_only_its_columns(core, world) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    async with core.db.write() as tx:
        assert await stored.composite_of(tx, session_id) is None
        made = await stored.save_composite(
            tx, session_id, case_id=case_id, at=core.clock.now(), initial_status="queued", progress=0.25
        )
        assert (made.status, made.progress, made.path, made.updated_at) == ("queued", 0.25, None, core.clock.now())
        core.clock.advance(seconds=3)
        done = await stored.save_composite(
            tx, session_id, case_id=case_id, at=core.clock.now(), initial_status="queued", status="done", path="p"
        )
        assert (done.status, done.progress, done.path, done.updated_at) == ("done", 0.25, "p", core.clock.now())
        with pytest.raises(TypeError, match="not a changeable column of the composite: nonsense, updated_at"):
            await stored.save_composite(
                tx, session_id, case_id=case_id, at=core.clock.now(), initial_status="queued", nonsense=1, updated_at=0
            )
    assert await composite.status(core, session_id) == done


async def test_the_last_viewing_is_read_from_the_log_per_person_file_and_before_an_entry(core, world) -> None:
    case_id, session_id = world.demo.case_id, world.demo.session_id
    reviewer, other = Actor.account("reviewer"), Actor.account("other")
    download = "composite.webm"
    first_at = core.clock.now()
    async with core.db.write() as tx:
        assert await stored.last_viewed(tx, case_id, session_id, str(reviewer), download) is None

        async def viewed(actor: Actor, data: dict[str, str]) -> Any:
            return await caselog.append(
                tx,
                case_id=case_id,
                session_id=session_id,
                kind="recording.accessed",
                actor=actor,
                at=core.clock.now(),
                data=data,
            )

        first = await viewed(reviewer, {"file": download})
        core.clock.advance(minutes=1)
        await viewed(other, {"file": download})
        # Playing a review track, or being refused the download, is not opening the download.
        await viewed(reviewer, {"file": "track-1"})
        await viewed(reviewer, {"file": download, "refused": "expired"})
    async with core.db.read() as tx:
        assert await stored.last_viewed(tx, case_id, session_id, str(reviewer), download) == first_at
        assert await stored.last_viewed(tx, case_id, session_id, str(reviewer), "track-1") == core.clock.now()
        assert await stored.last_viewed(tx, case_id, session_id, str(other), download) == core.clock.now()
        assert await stored.last_viewed(tx, case_id, session_id, str(reviewer), download, before_seq=first.seq) is None
        assert await stored.last_viewed(tx, case_id, world.other_session_id, str(reviewer), download) is None
