"""A disk that really fills up under a real recorder worker: recording stops cleanly, the
mediator is told, and every segment finished before stays intact and matches the log."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
from sqlalchemy import select

from recordings import evidence, files
from server.storage.models import CaseEvent, Recording
from tests.recordings.media import PatternVideoTrack, SineAudioTrack
from tests.recordings.sender import send_to_recorder
from tests.support.stores import on_both_room_stores
from tests.support.tmpfs import tiny_tmpfs
from tests.support.waiting import wait_for

pytestmark = on_both_room_stores  # the live room, on the memory store and on Redis


async def test_a_full_disk_stops_recording_keeps_finished_segments_and_tells_the_mediator(live, core):
    case_id, session_id = live.world.demo.case_id, live.session_id
    folder = files.session_dir(Path(core.settings.data_dir), case_id, session_id)
    with tiny_tmpfs(folder, "600k"):
        mediator = await live.person("mediator")
        await mediator.join()
        assert (await mediator.call("recording.start"))["ok"]
        await mediator.wait_event("recording.updated", timeout=30, state="on", recorder_ready=True)
        pc = await send_to_recorder(mediator, PatternVideoTrack(30 * 30), SineAudioTrack(50 * 30))
        try:
            stopped = await mediator.wait_event("recording.updated", timeout=40, state="off")
        finally:
            await pc.close()
        assert stopped["data"]["stop_reason"] == "disk_full"

        async def logged() -> list:
            async with core.db.read() as s:
                run = (await s.execute(select(Recording))).scalars().one()
            return [run] if run.status == "stopped" else []

        run = (await wait_for(logged, 20, "the run to be closed"))[0]
        assert run.stop_reason == "disk_full"
        segments = await evidence.segments_of(core, session_id)
        assert segments, "something was recorded before the disk filled"
        for seg in segments:
            path = Path(core.settings.data_dir) / seg.path
            assert hashlib.sha256(path.read_bytes()).hexdigest() == seg.sha256
            with av.open(str(path)) as c:
                assert sum(1 for _ in c.decode(c.streams[0])) == seg.frames
        async with core.db.read() as s:
            kinds = list((await s.execute(select(CaseEvent.kind).order_by(CaseEvent.seq))).scalars())
        assert "recording.disk_full" in kinds
        assert kinds.index("recording.disk_full") < kinds.index("recording.stopped")
