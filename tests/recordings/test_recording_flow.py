"""Recording end to end: consent, a real recorder worker process, aiortc participants sending
known media through the real signaling, segments on disk, and the case's evidence log."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import av
from sqlalchemy import select

from recordings import evidence, files
from server.services import eventlog
from server.storage.models import CaseEvent, RecordingConsent
from tests.recordings.media import PatternVideoTrack, SineAudioTrack
from tests.recordings.sender import send_to_recorder
from tests.signaling import harness
from tests.support.stores import on_both_room_stores
from tests.support.waiting import wait_for

pytestmark = on_both_room_stores  # the live room, on the memory store and on Redis

FRAMES = 90  # 3 s of video at 30 fps
AUDIO_FRAMES = 150  # 3 s of 20 ms Opus frames


def decode(path: Path) -> tuple[int, float]:
    """Frames decoded and the stream's duration in seconds, by PyAV."""
    with av.open(str(path)) as c:
        stream = c.streams[0]
        frames = sum(1 for _ in c.decode(stream))
        duration = float(c.duration / av.time_base) if c.duration else 0.0
    return frames, duration


async def log_kinds(core: Any, case_id: str) -> list[str]:
    async with core.db.read() as s:
        return list(
            (
                await s.execute(select(CaseEvent.kind).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))
            ).scalars()
        )


async def test_consenting_participants_are_recorded_into_hashed_segments(live, core):
    mediator = await live.person("mediator")
    await mediator.join()
    expert = await live.person("expert")
    await expert.join()

    started = await mediator.call("recording.start")
    assert started["ok"], started
    assert started["pending"] == [expert.pid]
    assert started["recording"]["state"] == "waiting_for_consent"
    await expert.wait_event("recording.consent_requested")

    # Nobody sends to the recorder before consenting.
    refused = await expert.call("signal", {"to": "recorder", "type": "offer", "sdp": "v=0\r\n"})
    assert refused["ok"] is False and refused["error"]["code"] in ("forbidden", "unknown_participant"), refused

    assert (await expert.call("recording.consent", {"consent": True, "language": "en"}))["ok"]
    for p in (mediator, expert):
        await p.wait_event("recording.updated", timeout=30, state="on", recorder_ready=True)
    on = [e for e in expert.of_type("recording.updated") if e["data"]["state"] == "on"][-1]["data"]
    assert sorted(on["recorded"]) == sorted([mediator.pid, expert.pid])
    assert on["your_consent"] == "granted"

    tracks = {p.pid: (PatternVideoTrack(FRAMES), SineAudioTrack(AUDIO_FRAMES)) for p in (mediator, expert)}
    pcs = [await send_to_recorder(p, *tracks[p.pid]) for p in (mediator, expert)]
    try:
        await wait_for(lambda: _sent_all(tracks), 20, "the synthetic media to be sent")
        await asyncio.sleep(0.5)  # the last packets in flight
        assert (await mediator.call("recording.stop"))["ok"]
        session_id = live.session_id
        segments = await wait_for(
            lambda: _both_tracks_done(core, session_id, [mediator.pid, expert.pid]),
            30,
            "the recorder to report the last segments",
        )
    finally:
        for pc in pcs:
            await pc.close()

    data_dir = Path(core.settings.data_dir)
    for pid in (mediator.pid, expert.pid):
        video = [s for s in segments if s.pid == pid and s.kind == "video"]
        audio = [s for s in segments if s.pid == pid and s.kind == "audio"]
        assert len(video) >= 2, "one-second segments: three seconds make several"
        decoded = 0
        for seg in video + audio:
            path = data_dir / seg.path
            assert path.parent == files.session_dir(data_dir, live.world.demo.case_id, session_id)
            assert hashlib.sha256(path.read_bytes()).hexdigest() == seg.sha256
            frames, duration = decode(path)
            assert frames == seg.frames, f"{seg.path}: decoded {frames}, reported {seg.frames}"
            assert duration <= 1.0 + 0.1, f"{seg.path} is {duration:.2f} s long"
            if seg.kind == "video":
                decoded += frames
        assert abs(decoded - FRAMES) <= 0.05 * FRAMES, f"{pid}: {decoded} video frames recorded of {FRAMES}"
        audio_frames = sum(s.frames for s in audio)
        assert abs(audio_frames - AUDIO_FRAMES) <= 0.05 * AUDIO_FRAMES, f"{pid}: {audio_frames} of {AUDIO_FRAMES}"
        assert all(s.first_wallclock is not None for s in video + audio)

    case_id = live.world.demo.case_id
    kinds = await log_kinds(core, case_id)
    assert kinds.count("recording.started") == 1 and kinds.count("recording.stopped") == 1
    assert kinds.count("recording.consent") == 1  # the expert's; the mediator who asked is not asked
    assert kinds.count("recording.segment") == len(segments)
    async with core.db.read() as s:
        check = await eventlog.verify(s, case_id)
        logged = {
            e.data["path"]: e.data["sha256"]
            for e in (
                await s.execute(
                    select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "recording.segment")
                )
            ).scalars()
        }
        consent = (await s.execute(select(RecordingConsent))).scalars().one()
    assert check.ok, check
    assert logged == {seg.path: seg.sha256 for seg in segments}
    assert (consent.pid, consent.decision, consent.language) == (expert.pid, "granted", "en")

    # The session ends: the one-file download is made, side by side with the audio mixed.
    assert (await mediator.call("session.end", {"reason": "settled"}))["ok"]
    made = await wait_for(lambda: _composite_done(core, session_id), 60, "the composite download")
    assert made.status == "done", made.error
    http = await staff_http(live, "demo-mediator")
    try:
        url = f"{live.base_url}/api/v1/sessions/{session_id}/recording/composite.webm"
        async with http.get(url) as r:
            assert r.status == 200 and r.headers["Content-Type"] == "video/webm"
            body = await r.read()
        async with http.get(url, headers={"Range": "bytes=100-"}) as r:
            assert r.status == 206  # players seek with ranges
        async with http.get(f"{live.base_url}/api/v1/sessions/{session_id}/recording") as r:
            summary = await r.json()
        # The case page offers the download, and shows who answered what.
        async with http.get(f"{live.base_url}/cases/{live.world.demo.case_id}") as r:
            page = await r.text()
        assert f'href="/api/v1/sessions/{session_id}/recording/composite.webm"' in page
        assert "陈敏医生" in page and made.sha256[:16] in page
    finally:
        await http.close()
    assert hashlib.sha256(body).hexdigest() == made.sha256 == summary["composite"]["sha256"]
    out = data_dir / made.path
    with av.open(str(out)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.codec_context.name, a.codec_context.name) == ("vp8", "opus")
        assert (v.codec_context.width, v.codec_context.height) == (1280, 480), "two participants side by side"
        assert abs(float(c.duration / av.time_base) - FRAMES / 30) < 0.6
        assert sum(1 for _ in c.decode(v)) > 0
    kinds = await log_kinds(core, case_id)
    assert kinds.count("recording.composite") == 1
    assert kinds.count("recording.accessed") == 1, "a player's range requests are one viewing"

    # An expert invited to the case reads the case, not its recordings.
    expert_http = await staff_http(live, "demo-expert")
    try:
        for url in (
            f"/api/v1/sessions/{session_id}/recording",
            f"/api/v1/sessions/{session_id}/recording/composite.webm",
        ):
            async with expert_http.get(live.base_url + url) as r:
                assert r.status == 403, (url, await r.text())
        async with expert_http.get(f"{live.base_url}/cases/{case_id}") as r:
            page = await r.text()
        assert r.status == 200 and "recording-summary" not in page and "composite.webm" not in page
    finally:
        await expert_http.close()
    assert (await log_kinds(core, case_id)).count("recording.accessed") == 1


async def _composite_done(core: Any, session_id: str) -> Any:
    from recordings import composite

    row = await composite.status(core, session_id)
    return row if row is not None and row.status in ("done", "failed") else None


async def staff_http(live: Any, username: str) -> Any:
    return await harness.staff_http(live.base_url, username, live.world.passwords[username])


async def _sent_all(tracks: dict[str, tuple[PatternVideoTrack, SineAudioTrack]]) -> bool:
    return all(v.sent >= FRAMES and a.sent >= AUDIO_FRAMES for v, a in tracks.values())


async def _both_tracks_done(core: Any, session_id: str, pids: list[str]) -> list[Any] | None:
    segments = await evidence.segments_of(core, session_id)
    have = {(s.pid, s.kind) for s in segments}
    if all((pid, kind) in have for pid in pids for kind in ("audio", "video")):
        # Wait a little longer for the last segments of each writer to arrive too.
        total = sum(s.frames for s in segments if s.kind == "video")
        if total >= len(pids) * FRAMES * 0.95:
            return segments
    return None
