"""The composite download's plan (pure) and its failure path (a real ffmpeg on a bad file)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from recordings import composite, files
from recordings.composite import plan
from server.domain.accounts import StaffRole
from server.domain.actors import Actor, SystemReason
from server.domain.orgs import OrgLevel
from server.services.core import Core
from server.storage.models import RecordingSegment
from tests.services.builders import make_case, make_org, make_session, make_staff

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def seg(pid: str, kind: str, index: int, start: float, duration: float) -> RecordingSegment:
    return RecordingSegment(
        pid=pid,
        kind=kind,
        index=index,
        path=f"recordings/c/s/{pid}-{kind}-{index}.webm",
        first_wallclock=T0 + timedelta(seconds=start),
        duration_s=duration,
    )


def test_tracks_are_placed_on_the_sessions_timeline_with_their_gaps() -> None:
    segments = [
        seg("m", "video", 0, 0.0, 10.0),
        seg("m", "video", 1, 10.0, 4.0),
        seg("m", "video", 0, 20.0, 5.0),  # a reconnect after a 6 s gap: a new connection's files
        seg("a", "audio", 0, 2.5, 10.0),
        seg("a", "audio", 1, 12.5, 3.0),
    ]
    tracks, total = plan(Path("/data"), segments)
    by = {(t.pid, t.kind): t for t in tracks}
    assert set(by) == {("m", "video"), ("a", "audio")}
    assert by[("m", "video")].offset == 0.0 and by[("a", "audio")].offset == 2.5
    assert [round(d, 3) for _, d in by[("m", "video")].files] == [10.0, 10.0, 5.0], "the gap stays a gap"
    assert [p.name for p, _ in by[("m", "video")].files] == ["m-video-0.webm", "m-video-1.webm", "m-video-0.webm"]
    assert total == 25.0
    text = by[("a", "audio")].concat_list()
    assert text.startswith("ffconcat version 1.0\n") and "file '/data/recordings/c/s/a-audio-0.webm'" in text
    assert plan(Path("/data"), []) == ([], 0.0)


def test_ffmpeg_gets_side_by_side_video_and_mixed_audio() -> None:
    segments = [
        seg("m", "video", 0, 0, 3),
        seg("m", "audio", 0, 0, 3),
        seg("a", "video", 0, 1, 2),
        seg("a", "audio", 0, 1, 2),
    ]
    tracks, total = plan(Path("/d"), segments)
    font = composite.CjkFont(Path("/f.ttc"), 2, "Noto Sans CJK SC")
    labels = {"m": composite.Label("王建国", "mediator"), "a": composite.Label("李秀英", "applicant")}
    start = composite.start_of(segments)
    assert start == T0
    cmd = composite.ffmpeg_command(
        tracks, [Path(f"/l{i}") for i in range(4)], Path("/out.part"), total, labels=labels, font=font, start=start
    )
    graph = cmd[cmd.index("-filter_complex") + 1]
    assert "xstack=inputs=2:layout=0_0|640_0:fill=black" in graph and "amix=inputs=2" in graph
    assert cmd[cmd.index("-b:v") + 1] == "1200k"
    assert cmd[-3:] == ["-f", "webm", "/out.part"]


async def test_a_segment_ffmpeg_cannot_read_fails_the_job_with_its_message(core, world):
    from sqlalchemy import select

    from recordings import evidence
    from server.storage.models import MediationSession

    async with core.db.read() as s:
        session = (
            await s.execute(select(MediationSession).where(MediationSession.id == world.demo.session_id))
        ).scalar_one()
    empty = await composite.make(core, session.case_id, session.id, Actor.system(SystemReason.cli))
    assert empty.status == "empty", "nothing recorded, nothing to make"
    run = await evidence.start_run(
        core, case_id=session.case_id, session_id=session.id, actor=Actor.account("x"), node_id=None
    )
    folder = files.session_dir(core.settings.data_dir, session.case_id, session.id)
    folder.mkdir(parents=True)
    bad = folder / "m-c1-video-00000.webm"
    bad.write_bytes(b"this is not a webm file")
    async with core.db.write() as s:
        s.add(
            RecordingSegment(
                recording_id=run.id,
                case_id=session.case_id,
                session_id=session.id,
                pid="m",
                kind="video",
                codec="vp8",
                track="t",
                index=0,
                path=bad.relative_to(core.settings.data_dir).as_posix(),
                sha256="0" * 64,
                bytes=23,
                frames=1,
                duration_s=1.0,
                first_wallclock=T0,
                first_rtp_ts=0,
                sender_reports=[],
                at=T0,
            )
        )
    row = await composite.make(core, session.case_id, session.id, Actor.system(SystemReason.cli))
    assert row.status == "failed" and row.error, row
    assert not (folder / composite.COMPOSITE_NAME).exists()


async def test_the_case_page_shows_the_downloads_progress_and_failure(live, core):
    from recordings import evidence
    from recordings.composite import _set
    from tests.recordings.test_recording_flow import staff_http

    case_id, session_id = live.world.demo.case_id, live.session_id
    http = await staff_http(live, "demo-mediator")
    try:
        async with http.get(f"{live.base_url}/cases/{case_id}") as r:
            assert "recording-summary" not in await r.text(), "never recorded: nothing shown"
        await evidence.start_run(core, case_id=case_id, session_id=session_id, actor=Actor.account("x"), node_id=None)
        await _set(core, session_id, case_id, status="running", progress=0.42)
        async with http.get(f"{live.base_url}/cases/{case_id}") as r:
            page = await r.text()
        assert '<progress max="1" value="0.42">' in page and "42%" in page
        await _set(core, session_id, case_id, status="failed", error="EBML header parsing failed")
        async with http.get(f"{live.base_url}/cases/{case_id}") as r:
            page = await r.text()
        assert "EBML header parsing failed" in page and "composite.webm" not in page
        async with http.get(f"{live.base_url}/api/v1/sessions/{session_id}/recording/composite.webm") as r:
            assert r.status == 404
    finally:
        await http.close()


async def test_one_persons_requests_within_ten_minutes_are_one_viewing_on_every_node(core) -> None:
    """The log decides what counts as a new viewing, so a second node (another Core on the same
    database) and concurrent range requests agree, and no per-process memory grows."""
    org = await make_org(core, "VW", level=OrgLevel.town)
    mediator = await make_staff(core, "vw.mediator", StaffRole.mediator, org)
    case = await make_case(core, mediator, org=org)
    session = await make_session(core, mediator, case)
    reviewer, admin = Actor.account("reviewer-1"), Actor.account("admin-1")
    other_node = Core.build(core.settings, clock=core.clock)
    try:
        first = await asyncio.gather(
            *(composite.log_access(core, case.id, session.id, reviewer, f"bytes={i}-") for i in range(5))
        )
        assert sorted(first) == [False] * 4 + [True]
        assert not await composite.log_access(other_node, case.id, session.id, reviewer, "bytes=0-")
        assert await composite.log_access(other_node, case.id, session.id, admin, None)  # someone else
        core.clock.advance(minutes=9, seconds=59)
        assert not await composite.log_access(core, case.id, session.id, reviewer, None)
        core.clock.advance(seconds=1)
        assert await composite.log_access(other_node, case.id, session.id, reviewer, None)  # a new viewing
    finally:
        await other_node.close()
