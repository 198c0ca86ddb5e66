"""`kill -9` of the node mid-recording: every finished segment still decodes and matches the
evidence log; after a restart the run shows as interrupted and resumes in new segments when
people reconnect. On the memory store the restarted node starts with no rooms; on Redis the
room outlives the node, with the dead node's connections still in it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import pytest
from sqlalchemy import select

from server.config import load_settings
from server.services import eventlog
from server.services.core import Core
from server.storage.models import CaseEvent, Recording, RecordingSegment
from tests.recordings.media import PatternVideoTrack, SineAudioTrack
from tests.recordings.sender import send_to_recorder
from tests.signaling.harness import Participant, join_cookie, staff_http
from tests.support.services import free_port
from tests.support.stores import RoomStoreChoice
from tests.support.waiting import wait_for

HESHI = Path(sys.executable).with_name("heshi")
SECRET = "crash-test-secret-" + "k" * 32

# Nodes started as processes, on the memory store and on Redis.
pytestmark = pytest.mark.room_stores("memory", "redis")


def env_for(data_dir: Path, port: int, store: RoomStoreChoice) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESHI_")}
    env.update(
        {
            "HESHI_DATA_DIR": str(data_dir),
            "HESHI_PORT": str(port),
            "HESHI_SECRET_KEY": SECRET,
            "HESHI_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "HESHI_RECORDING_SEGMENT_SECONDS": "1",
            "HESHI_LOG_LEVEL": "WARNING",
            **store.environ(),
        }
    )
    return env


def start(data_dir: Path, port: int, log: Path, store: RoomStoreChoice) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(HESHI), "serve", "--migrate"], env=env_for(data_dir, port, store), stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        assert time.monotonic() < deadline, "the node did not come up"
        time.sleep(0.1)


async def with_core(data_dir: Path, fn: Any) -> Any:
    settings = load_settings(env={}, data_dir=str(data_dir), secret_key=SECRET)
    core = Core.build(settings)
    try:
        return await fn(core)
    finally:
        await core.close()


def segments_of(session_id: str) -> Callable[[Core], Awaitable[list[RecordingSegment]]]:
    """The logged segments of the session under test (`heshi demo` also leaves a recorded one)."""

    async def read(core: Core) -> list[RecordingSegment]:
        async with core.db.read() as s:
            q = select(RecordingSegment).where(RecordingSegment.session_id == session_id)
            return list((await s.execute(q.order_by(RecordingSegment.at))).scalars())

    return read


async def people(base: str, demo: dict[str, Any]) -> tuple[Participant, Participant]:
    out = []
    for role in ("mediator", "expert"):
        p = Participant(base, demo["session_id"], join=await join_cookie(base, demo["links"][role]))
        await p.join()
        out.append(p)
    return out[0], out[1]


async def record_some(mediator: Participant, expert: Participant, frames: int) -> tuple[list[Any], list[Any]]:
    """Both send `frames` frames of video (and as long of audio) to the recorder; their connections and tracks."""
    tracks = [(PatternVideoTrack(frames), SineAudioTrack(frames * 5 // 3)) for _ in range(2)]
    pcs = [await send_to_recorder(p, *t) for p, t in zip((mediator, expert), tracks)]
    return pcs, [t for pair in tracks for t in pair]


def recorder_workers(node: subprocess.Popen[bytes]) -> list[int]:
    """The process ids of the recorder workers the node started (its children running recordings.worker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if parent == node.pid and b"recordings.worker" in command:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """The process exists and has not exited (an exited one may linger as a zombie until reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def segment_files(folder: Path, data_dir: Path) -> set[str]:
    """Segments on disk, finished or still being written, as the log names them (relative to the data dir)."""
    return {f.relative_to(data_dir).as_posix().removesuffix(".part") for f in folder.glob("*.webm*")}


async def recording_seen_by_staff(base: str, demo: dict[str, Any]) -> dict[str, Any]:
    """`GET /api/v1/sessions/{id}/recording` as the demo mediator."""
    mediator = next(a for a in demo["accounts"] if a["username"] == "demo-mediator")
    http = await staff_http(base, mediator["username"], mediator["password"])
    try:
        async with http.get(f"{base}/api/v1/sessions/{demo['session_id']}/recording") as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()
    finally:
        await http.close()


def demo_data(data_dir: Path, port: int, store: RoomStoreChoice) -> dict[str, Any]:
    """A migrated data directory with the demo in it, as an operator makes it."""
    env = env_for(data_dir, port, store)
    subprocess.run([str(HESHI), "migrate"], env=env, check=True, capture_output=True)
    made = subprocess.run([str(HESHI), "demo", "--json"], env=env, check=True, capture_output=True, text=True)
    return json.loads(made.stdout)


def stop(node: subprocess.Popen[bytes]) -> None:
    if node.poll() is None:
        node.send_signal(signal.SIGTERM)
        try:
            node.wait(15)
        except subprocess.TimeoutExpired:
            node.kill()


async def recording_both(mediator: Participant, expert: Participant, logged: int, data_dir: Path) -> list[Any]:
    """Start recording, the expert consents, both send a minute of media (still sending when the
    test stops the node); return once `logged` segments are in the log."""
    assert (await mediator.call("recording.start"))["ok"]
    assert (await expert.call("recording.consent", {"consent": True}))["ok"]
    await expert.wait_event("recording.updated", timeout=30, state="on", recorder_ready=True)
    pcs, _ = await record_some(mediator, expert, 30 * 60)

    async def enough() -> bool:
        return len(await with_core(data_dir, segments_of(mediator.session_id))) >= logged

    await wait_for(enough, 30, f"{logged} segments to be logged")
    return pcs


async def test_kill_9_mid_recording_keeps_every_finished_segment_and_the_log_consistent(
    tmp_path: Path, room_store: RoomStoreChoice
):
    data_dir, log = tmp_path / "data", tmp_path / "node.log"
    port = free_port()
    demo = demo_data(data_dir, port, room_store)
    base = f"http://127.0.0.1:{port}"
    node = start(data_dir, port, log, room_store)
    pcs: list[Any] = []
    try:
        mediator, expert = await people(base, demo)
        pcs = await recording_both(mediator, expert, 6, data_dir)
        workers = recorder_workers(node)
        assert workers, "the node runs no recorder worker"
        node.send_signal(signal.SIGKILL)
        node.wait(10)
        for pc in pcs:
            await pc.close()
        for p in (mediator, expert):
            await p.close()
        # The worker, told by the kernel (PDEATHSIG), finishes its files and exits.
        await wait_for(
            lambda: not [pid for pid in workers if running(pid)],
            20,
            f"the recorder workers {workers} to finish their files and exit after the node died",
        )

        folder = data_dir / "recordings" / demo["case_id"] / demo["session_id"]
        files = sorted(folder.glob("*.webm"))
        assert files, "no segment files"
        for f in files:
            with av.open(str(f)) as c:
                assert sum(1 for _ in c.decode(c.streams[0])) > 0, f"{f.name} does not decode"

        async def check(core: Core) -> tuple[Any, list[RecordingSegment]]:
            async with core.db.read() as s:
                return await eventlog.verify(s, demo["case_id"]), await segments_of(demo["session_id"])(core)

        chain, logged_segments = await with_core(data_dir, check)
        assert chain.ok, chain
        for seg in logged_segments:
            assert hashlib.sha256((data_dir / seg.path).read_bytes()).hexdigest() == seg.sha256
        before = {s.path for s in logged_segments}

        # Back up: before anyone returns, the run already shows as interrupted (issue 9, item 14),
        # with a log entry naming the restart; it resumes in new files when people return.
        node = start(data_dir, port, log, room_store)
        run = await recording_seen_by_staff(base, demo)
        assert [r["status"] for r in run["runs"]] == ["interrupted"], run["runs"]

        async def interruption(core: Core) -> list[tuple[str, str]]:
            async with core.db.read() as s:
                return [
                    (e.actor, e.data.get("recording_id"))
                    for e in (
                        await s.execute(
                            select(CaseEvent).where(
                                CaseEvent.kind == "recording.interrupted", CaseEvent.session_id == demo["session_id"]
                            )
                        )
                    ).scalars()
                ]

        assert await with_core(data_dir, interruption) == [("system:node-restart", run["runs"][0]["id"])]
        mediator, expert = await people(base, demo)
        resumed = await expert.wait_event("recording.updated", timeout=30, state="on", recorder_ready=True)
        assert resumed["data"]["interrupted"] is True
        assert expert.joined["room"]["recording"]["your_consent"] == "granted", "no second question"
        pcs, tracks = await record_some(mediator, expert, 60)

        async def recorded() -> bool:
            sent = all(t.readyState == "ended" for t in tracks)
            return sent and len(segment_files(folder, data_dir) - before) >= 4

        await wait_for(recorded, 20, "every frame sent, and at least 4 segment files of the resumed run on disk")
        stopped = await mediator.call("recording.stop")
        assert stopped["ok"], stopped

        async def new_files() -> bool:
            return len({s.path for s in await with_core(data_dir, segments_of(demo["session_id"]))} - before) >= 4

        await wait_for(new_files, 20, "the resumed run to log new segments")

        async def kinds(core: Core) -> tuple[list[str], list[str], Any]:
            async with core.db.read() as s:
                mine = CaseEvent.session_id == demo["session_id"]  # not the demo's other, recorded session
                ks = list((await s.execute(select(CaseEvent.kind).where(mine).order_by(CaseEvent.seq))).scalars())
                runs = [
                    r.status
                    for r in (
                        await s.execute(select(Recording).where(Recording.session_id == demo["session_id"]))
                    ).scalars()
                ]
                return ks, runs, await eventlog.verify(s, demo["case_id"])

        ks, runs, chain = await with_core(data_dir, kinds)
        assert "recording.interrupted" in ks and "recording.resumed" in ks
        assert ks.index("recording.interrupted") < ks.index("recording.resumed") < ks.index("recording.stopped")
        assert runs == ["stopped"] and chain.ok
    finally:
        for pc in pcs:
            await pc.close()
        stop(node)


async def test_a_node_stopped_with_sigterm_lets_its_recorders_report_and_the_run_resumes(
    tmp_path: Path, room_store: RoomStoreChoice
):
    """A deploy: the node is told to stop. Its workers finish and report every file while their
    sockets are still open; the run stays on and resumes when the node is back."""
    data_dir, log = tmp_path / "data", tmp_path / "node.log"
    port = free_port()
    demo = demo_data(data_dir, port, room_store)
    base = f"http://127.0.0.1:{port}"
    node = start(data_dir, port, log, room_store)
    pcs: list[Any] = []
    try:
        mediator, expert = await people(base, demo)
        pcs = await recording_both(mediator, expert, 4, data_dir)
        node.send_signal(signal.SIGTERM)
        node.wait(20)  # people still connected: the node closes their sockets, it does not wait on them
        for pc in pcs:
            await pc.close()
        pcs = []
        for p in (mediator, expert):
            await p.close()
        folder = data_dir / "recordings" / demo["case_id"] / demo["session_id"]
        on_disk = {f.relative_to(data_dir).as_posix() for f in folder.glob("*.webm")}
        logged = {s.path for s in await with_core(data_dir, segments_of(demo["session_id"]))}
        assert on_disk == logged, f"finished but not in the log: {sorted(on_disk - logged)}"
        assert not list(folder.glob("*.part")), "every open segment was finished"

        async def runs(core: Core) -> list[str]:
            async with core.db.read() as s:
                q = select(Recording).where(Recording.session_id == demo["session_id"])
                return [r.status for r in (await s.execute(q)).scalars()]

        assert await with_core(data_dir, runs) == ["active"], "a deploy does not stop the recording"

        node = start(data_dir, port, log, room_store)
        mediator, expert = await people(base, demo)
        resumed = await expert.wait_event("recording.updated", timeout=30, state="on", recorder_ready=True)
        assert resumed["data"]["interrupted"] is True
        assert (await mediator.call("recording.stop"))["ok"]
    finally:
        for pc in pcs:
            await pc.close()
        stop(node)
