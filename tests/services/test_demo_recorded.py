"""`create_recorded_session`: the demo case's earlier session, held yesterday and recorded with
synthetic media through the recorder's segment writer and evidence log, on SQLite and on
PostgreSQL. It is read back the way the product reads it: the segments on disk against the log,
the review API as the demo reviewer, and an evidence export checked by the offline verifier."""

from __future__ import annotations

import hashlib
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.cli.verify import verify_file
from server.domain.clock import LOCAL_TZ, FrozenClock
from server.services import exports, sessions
from server.services.core import Core
from server.services.demo import RECORDED_SECONDS, RecordedSession, create_recorded_session
from server.storage import caselog
from server.storage import recordings as stored_recordings
from tests.api.conftest import SignIn, sign_in  # noqa: F401 - fixture
from tests.conftest import World

CLI = "system:cli"


@pytest.fixture
async def recorded(core: Core, world: World) -> RecordedSession:
    return await create_recorded_session(core, world.demo)


async def test_the_session_was_held_yesterday_recorded_and_ended(
    core: Core, clock: FrozenClock, world: World, recorded: RecordedSession
) -> None:
    session = await sessions.load_session(core, recorded.session_id)
    yesterday = (clock.now().astimezone(LOCAL_TZ) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert session.status == "ended" and session.case_id == world.demo.case_id
    assert session.started_at is not None and session.ended_at is not None
    assert session.started_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") == f"{yesterday} 15:00"
    assert session.started_at < recorded.started_at < session.ended_at
    live = await sessions.load_session(core, world.demo.session_id)
    assert live.status == "scheduled", "the demo's own session, which its links open, is untouched"

    async with core.db.read() as tx:
        segments = await stored_recordings.segments_of_session(tx, recorded.session_id)
        entries = await caselog.entries(tx, world.demo.case_id)
        assert await caselog.verify(tx, world.demo.case_id)
    assert {(s.kind, len({x.pid for x in segments if x.kind == s.kind})) for s in segments} == {
        ("video", 2),
        ("audio", 3),
    }
    data_dir = Path(core.settings.data_dir)
    for seg in segments:
        body = (data_dir / seg.path).read_bytes()
        assert hashlib.sha256(body).hexdigest() == seg.sha256 and len(body) == seg.bytes
        assert recorded.started_at <= seg.first_wallclock < recorded.started_at + timedelta(seconds=RECORDED_SECONDS)
    assert sorted(s.id for s in segments) == sorted(recorded.segment_ids)

    mine = [e for e in entries if e.session_id == recorded.session_id]
    kinds = {e.kind for e in mine}
    assert {"recording.started", "recording.consent", "recording.segment", "recording.stopped"} <= kinds
    assert {"chat.message", "minutes.saved", "session.join", "session.end"} <= kinds
    for e in mine:
        expected = f"recorder:{recorded.recording_id}" if e.kind == "recording.segment" else CLI
        assert e.actor == expected, (e.kind, e.actor)
    logged = {e.data["sha256"] for e in mine if e.kind == "recording.segment"}
    assert logged == {s.sha256 for s in segments}


async def test_the_demo_reviewer_sees_its_tracks_chat_and_minutes(
    sign_in: SignIn,
    recorded: RecordedSession,
) -> None:
    reviewer = await sign_in("demo-reviewer")
    resp = await reviewer.get(f"/api/v1/sessions/{recorded.session_id}/review")
    assert resp.status == 200, await resp.text()
    review: dict[str, Any] = await resp.json()
    assert review["session"]["status"] == "ended"
    assert sorted((t["role"], t["kind"]) for t in review["tracks"]) == [
        ("applicant", "audio"),
        ("applicant", "video"),
        ("mediator", "audio"),
        ("mediator", "video"),
        ("respondent", "audio"),
    ]
    assert all(t["url"].startswith("/api/v1/media/") for t in review["tracks"])
    media = await reviewer.get(review["tracks"][0]["url"], headers={"Range": "bytes=0-9"})
    assert media.status == 206
    assert len(review["chat"]) == 3
    start = recorded.started_at
    for entry in review["minutes"]["entries"]:
        at = datetime.fromisoformat(entry["at"])
        assert start <= at <= start + timedelta(seconds=RECORDED_SECONDS), entry


async def test_an_export_of_the_demo_case_holds_the_media_and_verifies_offline(
    core: Core, world: World, recorded: RecordedSession, tmp_path: Path
) -> None:
    mediator = world.principals["demo-mediator"]
    record = await exports.request(core, mediator, world.demo.case_id)
    assert await exports.Exports(core).run_once() == 1
    _, path = await exports.download(core, mediator, record.id, None)
    async with core.db.read() as tx:
        segments = await stored_recordings.segments_of_session(tx, recorded.session_id)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        for seg in segments:
            held = [n for n in names if n.endswith(Path(seg.path).name)]
            assert held, seg.path
            assert hashlib.sha256(z.read(held[0])).hexdigest() == seg.sha256
    lines = verify_file(path)
    assert lines
