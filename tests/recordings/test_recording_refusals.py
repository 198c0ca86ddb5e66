"""Recording's failure cases at the signaling edge: forged recorder credentials, the wrong
people asking, bad payloads, and segment reports that do not match the disk."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from recordings import files
from server.auth.tokens import RecorderTokens
from server.storage.models import CaseEvent, Recording
from tests.conftest import TEST_SECRET
from tests.signaling.harness import Participant, refusal, staff_http
from tests.support.stores import on_both_room_stores
from tests.support.waiting import never, wait_for

pytestmark = on_both_room_stores  # the live room, on the memory store and on Redis


class NoWorkers:
    """Recorders that start nothing: these tests play the recorder themselves. No process ever
    runs, so a recorder that goes away is replaced at once, as one whose process has exited."""

    def __init__(self) -> None:
        self.launched: list[dict[str, str]] = []
        self.on_exit: Any = None
        self.closing = False

    async def launch(self, **kw: str) -> None:
        self.launched.append(kw)

    def running(self, recording_id: str) -> bool:
        return False

    async def wait(self, recording_id: str, timeout: float) -> bool:
        return True

    async def close(self) -> None:
        self.closing = True


@pytest.fixture
def no_workers(live) -> NoWorkers:  # type: ignore[no-untyped-def]
    fake = NoWorkers()
    live.signaling.supervisor.recorders = fake
    live.signaling.recorders = fake
    return fake


async def started(live, no_workers):  # type: ignore[no-untyped-def]
    mediator = await live.person("mediator")
    await mediator.join()
    assert (await mediator.call("recording.start"))["ok"]
    return mediator, no_workers.launched[-1]


def recorder(live, token: str) -> Participant:  # type: ignore[no-untyped-def]
    p = Participant(live.base_url, live.session_id)
    live.people.append(p)
    p.recorder_auth = {"session_id": live.session_id, "recorder_token": token}  # type: ignore[attr-defined]
    return p


async def test_the_recorder_connects_only_with_a_credential_for_this_sessions_running_recording(live, core, no_workers):
    mediator, launched = await started(live, no_workers)
    run_id = launched["recording_id"]
    tokens = RecorderTokens(TEST_SECRET)
    now = core.clock.now()
    cases = {
        "forged": RecorderTokens("x" * 40).sign(run_id, now + timedelta(hours=1)),
        "expired": tokens.sign(run_id, now - timedelta(seconds=1)),
        "garbage": "not-a-token",
        "an invitation token": __import__("server.auth.tokens", fromlist=["InvitationTokens"])
        .InvitationTokens(TEST_SECRET)
        .sign(run_id, now + timedelta(hours=1)),
    }
    expected = {
        "forged": "invalid_token",
        "expired": "invalid_token",
        "garbage": "invalid_token",
        "an invitation token": "invalid_token",
    }
    for what, token in cases.items():
        p = recorder(live, token)
        err = await refusal(p, p.recorder_auth)  # type: ignore[attr-defined]
        assert err["code"] == expected[what], (what, err)
    # A real credential for a run that is not this session's.
    other = recorder(live, tokens.sign("00000000-0000-4000-8000-000000000000", now + timedelta(hours=1)))
    assert (await refusal(other, other.recorder_auth))["code"] == "forbidden"  # type: ignore[attr-defined]
    # A stopped run's credential no longer works.
    assert (await mediator.call("recording.stop"))["ok"]
    late = recorder(live, tokens.sign(run_id, now + timedelta(hours=1)))
    assert (await refusal(late, late.recorder_auth))["code"] == "invalid_token"  # type: ignore[attr-defined]


async def test_recorder_and_participant_events_do_not_mix(live, core, no_workers):
    mediator, launched = await started(live, no_workers)
    token = RecorderTokens(TEST_SECRET).sign(launched["recording_id"], core.clock.now() + timedelta(hours=1))
    rec = recorder(live, token)
    await rec.connect(rec.recorder_auth)  # type: ignore[attr-defined]
    for event in ("room.join", "chat.send", "recording.start", "lobby.admit"):
        ack = await rec.call(event, {})
        assert ack["ok"] is False and ack["error"]["code"] == "unknown_event", (event, ack)
    for event in ("recorder.segment", "recorder.failed"):
        ack = await mediator.call(event, {})
        assert ack["ok"] is False and ack["error"]["code"] == "unknown_event", (event, ack)
    # The recorder answers only recorded participants.
    party = await live.person("applicant")
    await party.join()
    ack = await rec.call("signal", {"to": party.pid, "type": "answer", "sdp": "v=0\r\n"})
    assert ack["ok"] is False and ack["error"]["code"] == "unknown_participant", ack


async def test_only_the_mediator_starts_and_stops_and_answers_are_checked(live, core, no_workers):
    mediator = await live.person("mediator")
    await mediator.join()
    expert = await live.person("expert")
    await expert.join()
    for event in ("recording.start", "recording.stop"):
        ack = await expert.call(event, {})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (event, ack)
    ack = await expert.call("recording.consent", {"consent": True})
    assert ack["ok"] is False and ack["error"]["code"] == "conflict", ack  # nothing asked yet
    assert (await mediator.call("recording.start"))["ok"]
    again = await mediator.call("recording.start")
    assert again["ok"] is False and again["error"]["code"] == "conflict"
    for bad in ({"consent": "yes"}, {}, {"consent": True, "language": "fr"}, {"consent": True, "extra": 1}):
        ack = await expert.call("recording.consent", bad)
        assert ack["ok"] is False and ack["error"]["code"] == "invalid_input", (bad, ack)
    async with core.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Recording))).scalar_one() == 1
    assert (await expert.call("recording.consent", {"consent": False}))["ok"]
    assert (await mediator.call("recording.stop", {"reason": "r" * 201}))["error"]["code"] == "invalid_input"
    assert (await mediator.call("recording.stop"))["ok"]
    assert (await mediator.call("recording.stop"))["error"]["code"] == "conflict"


async def test_segment_reports_that_do_not_match_the_disk_are_refused_and_not_logged(live, core, no_workers):
    mediator, launched = await started(live, no_workers)
    token = RecorderTokens(TEST_SECRET).sign(launched["recording_id"], core.clock.now() + timedelta(hours=1))
    rec = recorder(live, token)
    await rec.connect(rec.recorder_auth)  # type: ignore[attr-defined]
    data_dir = Path(core.settings.data_dir)
    folder = files.session_dir(data_dir, live.world.demo.case_id, live.session_id)
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "m-c1-video-00000.webm"
    good.write_bytes(b"\x1a\x45\xdf\xa3 pretend webm")
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    base = {
        "pid": mediator.pid,
        "kind": "video",
        "codec": "vp8",
        "track": "t1",
        "index": 0,
        "path": good.relative_to(data_dir).as_posix(),
        "sha256": digest,
        "bytes": good.stat().st_size,
        "frames": 1,
        "duration_s": 0.03,
        "first_wallclock": 1_790_000_000.0,
        "first_rtp_ts": 1,
    }

    async def log_count() -> int:
        async with core.db.read() as s:
            return (
                await s.execute(
                    select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "recording.segment")
                )
            ).scalar_one()

    bad = {
        "path escapes": {**base, "path": "recordings/../secret_key"},
        "another session": {**base, "path": f"recordings/{live.world.demo.case_id}/other/x.webm"},
        "absolute": {**base, "path": str(good)},
        "missing file": {**base, "path": base["path"].replace("00000", "00009")},
        "wrong size": {**base, "bytes": base["bytes"] + 1},
        "wrong hash": {**base, "sha256": "0" * 64},
        "not a hash": {**base, "sha256": "xyz"},
    }
    for what, body in bad.items():
        ack = await rec.call("recorder.segment", body)
        assert ack["ok"] is False, (what, ack)
    assert await log_count() == 0
    ok = await rec.call("recorder.segment", base)
    assert ok["ok"], ok
    again = await rec.call("recorder.segment", base)  # a retry: the same segment, logged once
    assert again == ok
    assert await log_count() == 1


async def test_a_full_disk_stops_recording_and_tells_the_mediator(live, core, no_workers):
    mediator, launched = await started(live, no_workers)
    token = RecorderTokens(TEST_SECRET).sign(launched["recording_id"], core.clock.now() + timedelta(hours=1))
    rec = recorder(live, token)
    await rec.connect(rec.recorder_auth)  # type: ignore[attr-defined]
    ack = await rec.call("recorder.failed", {"code": "disk_full", "message": "No space left on device"})
    assert ack["ok"], ack
    update = await mediator.wait_event("recording.updated", state="off")
    assert update["data"]["stop_reason"] == "disk_full"
    async with core.db.read() as s:
        run = await s.get(Recording, launched["recording_id"])
        kinds = list((await s.execute(select(CaseEvent.kind).order_by(CaseEvent.seq))).scalars())
    assert (run.status, run.stop_reason) == ("stopped", "disk_full")
    assert "recording.disk_full" in kinds and kinds[-1] == "recording.stopped"


async def test_the_rest_api_starts_and_stops_recording_for_the_cases_mediator_only(live, core, no_workers):
    import aiohttp

    mediator = await live.person("mediator")
    await mediator.join()
    party = await live.person("applicant")
    await party.join()
    await mediator.call("lobby.admit", {})
    base = f"{live.base_url}/api/v1/sessions/{live.session_id}/recording"

    async def login(username: str) -> aiohttp.ClientSession:
        return await staff_http(live.base_url, username, live.world.passwords[username])

    anonymous = aiohttp.ClientSession()
    async with anonymous.post(f"{base}/start") as r:
        assert r.status == 401
    await anonymous.close()
    # A reviewer reads the case but does not run its sessions.
    http = await login("demo-reviewer")
    async with http.post(f"{base}/start") as r:
        assert r.status == 403, await r.text()
    async with http.get(base) as r:
        assert r.status == 200
    await http.close()
    http = await login("demo-mediator")
    try:
        async with http.post(f"{base}/start") as r:
            assert r.status == 202, await r.text()
            body = await r.json()
        assert body["pending"] == [party.pid]
        await party.wait_event("recording.consent_requested")
        async with http.post(f"{base}/start") as r:
            assert r.status == 409
        assert (await party.call("recording.consent", {"consent": True}))["ok"]
        async with http.get(base) as r:
            summary = await r.json()
        assert [c["decision"] for c in summary["consents"]] == ["granted"]
        assert summary["runs"][0]["status"] == "active"
        # Bad bodies, as tests/api/test_api_bad_input.py sends every other route: nothing stops.
        for raw, ctype, status in (
            ("{", "application/json", 400),
            ("[]", "application/json", 422),
            ('{"reason": "x"}', "text/plain", 415),
            ('{"reason": "x", "is_admin": true}', "application/json", 422),
            ('{"reason": "' + "x" * 300 + '"}', "application/json", 422),
        ):
            async with http.post(f"{base}/stop", data=raw, headers={"Content-Type": ctype}) as r:
                assert r.status == status, (raw[:20], ctype, await r.text())
        async with http.get(base) as r:
            assert (await r.json())["runs"][0]["status"] == "active"
        async with http.post(f"{base}/stop", json={"reason": "the parties asked"}) as r:
            assert r.status == 200, await r.text()
        update = await party.wait_event("recording.updated", state="off")
        assert update["data"]["stop_reason"] == "the parties asked"
        async with http.post(f"{base}/stop", json={}) as r:
            assert r.status == 409
        async with http.get(base) as r:
            assert (await r.json())["runs"][0]["stop_reason"] == "the parties asked"
    finally:
        await http.close()


async def test_a_lobby_member_cannot_answer_and_nothing_is_stored(live, core, no_workers):
    from server.storage.models import RecordingConsent

    mediator, _ = await started(live, no_workers)
    waiting = await live.person("applicant")
    await waiting.join()  # in the lobby
    ack = await waiting.call("recording.consent", {"consent": True})
    assert ack["ok"] is False and ack["error"]["code"] == "not_admitted", ack
    async with core.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(RecordingConsent))).scalar_one() == 0


async def test_a_withdrawn_yes_tells_the_recorder_to_let_go_and_a_track_error_does_not_stop(live, core, no_workers):
    mediator, launched = await started(live, no_workers)
    expert = await live.person("expert")
    await expert.join()
    token = RecorderTokens(TEST_SECRET).sign(launched["recording_id"], core.clock.now() + timedelta(hours=1))
    rec = recorder(live, token)
    drops: list[dict] = []
    rec.sio.on("recorder.drop", lambda data: drops.append(data))
    await rec.connect(rec.recorder_auth)  # type: ignore[attr-defined]
    assert (await expert.call("recording.consent", {"consent": True}))["ok"]
    await expert.wait_event("recording.updated", state="on", recorder_ready=True)
    assert (await expert.call("recording.consent", {"consent": False}))["ok"]
    await rec.wait_for(lambda: drops, what="recorder.drop")
    assert drops == [{"pid": expert.pid}]
    ack = await rec.call("recorder.failed", {"code": "track_error", "pid": mediator.pid, "message": "h264"})
    assert ack["ok"], ack
    snapshot = (await mediator.call("room.sync", {"after_seq": 0}))["room"]
    assert snapshot["recording"]["state"] == "on", "one lost track does not stop the recording"
    async with core.db.read() as s:
        kinds = list((await s.execute(select(CaseEvent.kind))).scalars())
    assert "recording.track_error" in kinds


async def test_a_recorder_that_dies_is_replaced_a_few_times_then_recording_stops(live, core, no_workers):
    mediator, launched = await started(live, no_workers)
    token = RecorderTokens(TEST_SECRET).sign(launched["recording_id"], core.clock.now() + timedelta(hours=1))
    for attempt in range(4):
        rec = recorder(live, token)
        await rec.connect(rec.recorder_auth)  # type: ignore[attr-defined]
        await mediator.wait_for(
            lambda: (
                mediator.of_type("recording.updated")
                and mediator.of_type("recording.updated")[-1]["data"]["recorder_ready"]
            ),
            what="the recorder to be ready",
        )
        await rec.sio.disconnect()  # the worker dies
        if attempt < 3:
            await mediator.wait_for(
                lambda attempt=attempt: len(no_workers.launched) == attempt + 2, what="a fresh worker"
            )
    update = await mediator.wait_event("recording.updated", state="off")
    assert update["data"]["stop_reason"] == "recorder_error"
    assert len(no_workers.launched) == 4, "the first worker and three replacements"


async def test_a_worker_that_exits_before_connecting_is_replaced_then_recording_stops(live, core):
    from recordings.launcher import RecorderLauncher

    # A "python" that exits at once with 1: the worker never connects.
    launcher = RecorderLauncher(core.settings, clock=core.clock, python="/bin/false")
    supervisor = live.signaling.supervisor
    supervisor.recorders = launcher  # which tells it of every exit
    live.signaling.recorders = launcher
    mediator = await live.person("mediator")
    await mediator.join()
    assert (await mediator.call("recording.start"))["ok"]
    update = await mediator.wait_event("recording.updated", state="off", timeout=20)
    assert update["data"]["stop_reason"] == "recorder_error"

    async def closed() -> Any:
        async with core.db.read() as s:
            run = (await s.execute(select(Recording))).scalars().one()
        return run if run.status == "stopped" else None

    run = await wait_for(closed, 10, "the run to be closed")
    async with core.db.read() as s:
        kinds = list((await s.execute(select(CaseEvent.kind).order_by(CaseEvent.seq))).scalars())
    assert "recording.error" in kinds and run.stop_reason == "recorder_error"
    assert supervisor.replacements(run.id) == 3, "three fresh workers were tried"


async def test_offers_reach_only_the_current_runs_recorder(live, core, no_workers):
    """A worker of an earlier run, still finishing its files, hears nothing of the next run."""
    mediator, first = await started(live, no_workers)
    tokens = RecorderTokens(TEST_SECRET)
    old = recorder(live, tokens.sign(first["recording_id"], core.clock.now() + timedelta(hours=1)))
    await old.connect(old.recorder_auth)  # type: ignore[attr-defined]
    assert (await mediator.call("recording.stop"))["ok"]
    assert (await mediator.call("recording.start"))["ok"]
    second = no_workers.launched[-1]
    assert second["recording_id"] != first["recording_id"]
    new = recorder(live, tokens.sign(second["recording_id"], core.clock.now() + timedelta(hours=1)))
    await new.connect(new.recorder_auth)  # type: ignore[attr-defined]
    await mediator.wait_for(
        lambda: [
            e
            for e in mediator.of_type("recording.updated")
            if e["data"]["recording_id"] == second["recording_id"] and e["data"]["recorder_ready"]
        ],
        what="the new recorder",
    )
    ack = await mediator.call("signal", {"to": "recorder", "type": "offer", "sdp": "v=0\r\n"})
    assert ack == {"ok": True}, ack
    await new.wait_for(lambda: new.signals, what="the offer at the new recorder")
    # A bounded negative check: the offer was emitted once, with no later message to wait for, so a
    # wrong delivery (to the earlier worker, or a second one to the new) shows within this window.
    await never(
        lambda: old.signals or new.signals[1:], 0.3, "a delivery of the offer other than the one to the new recorder"
    )
    assert [s["from"] for s in new.signals] == [mediator.pid]
    assert old.signals == [], "the earlier run's worker got the offer"
