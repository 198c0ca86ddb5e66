"""Recording benchmarks (issue 5). Run: `make bench` or `.venv/bin/python -m bench.recording`.

Media: every participant sends PRE-ENCODED 640x480 30 fps VP8 (about 500 kbit/s, the
browsers' cap towards the recorder, a keyframe every 2 s) and 20 ms Opus packets, looped
with growing timestamps (bench/media.py). aiortc sends an `av.Packet` without encoding it,
so the load generator costs little. A looped source cannot answer the recorder's PLI:
keyframes every 2 s let 10 s segments still start on keyframes (no frame is dropped
waiting for one; the results count them). After its counted frames each track sends the
few frames aiortc's jitter buffer holds back, so that every counted frame can arrive.

A "stream" is one participant's 640x480 30 fps VP8 video track; each also sends its Opus
track, recorded alongside (into its own files) and reported separately, not as a stream.

1. CPU of the receiving process per recorded stream, Heshi's recorder path (ReceiverTap +
   SegmentWriter, as recordings/worker.py wires them) against aiortc's MediaRecorder, the
   same pre-encoded participant (video + Opus), in the same run: a receiver subprocess
   for each, /proc/<pid>/stat utime+stime from the first frame until its files are
   finished. Goal: at least 15x less CPU.
2. Concurrent streams on the real path: a `heshi serve` node (SQLite), sessions of up to
   5 participants (a mediator who starts recording, experts who consent), the node's own
   recorder worker processes (one per session), aiortc participants in two load-generator
   processes offering to the `recorder` through the signaling. Sessions start at random
   moments within one segment length (10 s), as independent meetings do; then all streams
   are recorded together for the measured window. Loss: video frames sent minus video
   frames in the finished segments the node logged (its database). Steps up the stream
   count until a step loses more than 1%, or to the ceiling (60). Goal: at least 40
   streams at no more than 1% loss. Node, workers, load generators and this process all
   share the machine's cores.
3. The signaling loop's worst stall while recording: a separate Socket.IO client, joined to
   a session of its own, times `ice.servers` round trips every 15 ms: for 3 s just before
   the media starts (idle baseline), and in each step's window. Goal: at 40 streams, max
   round trip minus the baseline median under 50 ms. The 40 streams are then recorded once
   more with every session starting at the same moment, so that all 80 segments end
   together: the worst case, reported alongside.

Servers and receivers are separate processes. Results go to bench/results/recording.json.
Compare ratios, not absolute times: machines are noisy. On a shared machine, note that
Linux's autogroup scheduling makes `nice` act only within a login session: other sessions'
work still takes its share (each step reports how much, as `other_load`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import socketio

from bench.media import Gate, LoopedTrack, Media, encode_media
from bench.signaling import Seat, cpu_seconds, free_port, heshi_env, prepare, process

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "recording.json"

CPU_RATIO_GOAL = 15.0
STREAMS_GOAL = 40
LOSS_LIMIT = 0.01
STALL_GOAL_MS = 50.0
PER_SESSION = 5  # a mediator and four others: within the publisher cap of 6
PROBE_INTERVAL = 0.015
# A recording whose worker never connects is stopped and started again, as a mediator would.
# (recordings/launcher.py passes `--token <token>`: a token that begins with "-", one in 64,
# makes the worker's argparse exit with "expected one argument".)
RECORDING_ATTEMPTS = 4
BASELINE_SECONDS = 3.0


def q(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def ms(x: float | None) -> float | None:
    return None if x is None else round(x * 1000, 1)


def prefer(transceiver: Any, mime: str) -> None:
    from aiortc import RTCRtpSender

    caps = RTCRtpSender.getCapabilities(transceiver.kind)
    transceiver.setCodecPreferences(
        [c for c in caps.codecs if c.mimeType.lower() == mime] + [c for c in caps.codecs if c.mimeType.lower() != mime]
    )


def sending_pc(media: Media, gate: Gate, phase: float, offset: float = 0.0) -> tuple[Any, LoopedTrack, LoopedTrack]:
    """A participant's send-only connection with a looped VP8 track and a looped Opus track."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    video = LoopedTrack("video", media.video, gate, phase=phase, offset=offset)
    audio = LoopedTrack("audio", media.audio, gate, phase=phase / 2, offset=offset)
    prefer(pc.addTransceiver(video, direction="sendonly"), "video/vp8")
    prefer(pc.addTransceiver(audio, direction="sendonly"), "audio/opus")
    return pc, video, audio


async def wait_connected(pc: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pc.connectionState != "connected":
        if pc.connectionState in ("failed", "closed") or time.monotonic() > deadline:
            raise RuntimeError(f"peer connection {pc.connectionState}")
        await asyncio.sleep(0.05)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def worker_pids(node: int) -> list[int]:
    return [p for p in children(node) if "recordings.worker" in cmdline(p)]


def cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


# ---- line protocol between this process and its subprocesses --------------------------------


class Child:
    """A subprocess of this benchmark, driven by JSON lines on stdin and stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, *args: str) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.recording",
            *args,
            cwd=str(ROOT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 24,
        )
        return cls(proc)

    async def send(self, msg: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        await self.proc.stdin.drain()

    async def receive(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"bench subprocess {self.proc.pid} exited ({await self.proc.wait()})")
        msg = json.loads(line)
        if msg.get("error"):
            raise RuntimeError(f"bench subprocess failed: {msg['error']}")
        return msg

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class Parent:
    """The subprocess side: JSON lines from stdin, to stdout (nothing else may print there)."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)  # stray prints go to stderr

    async def receive(self) -> dict[str, Any]:
        if self.reader is None:
            loop = asyncio.get_running_loop()
            self.reader = asyncio.StreamReader(limit=1 << 24)
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self.reader), sys.stdin)
        line = await self.reader.readline()
        if not line:
            raise SystemExit(0)
        return json.loads(line)

    def send(self, msg: dict[str, Any]) -> None:
        self.out.write(json.dumps(msg) + "\n")


# ---- 1. CPU per stream: Heshi's recorder path against aiortc's MediaRecorder ------------------


async def receiver_main(mode: str) -> None:
    """A receiving process: records one participant's tracks, `tap` or `mediarecorder`."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRecorder

    from recordings.segments import SegmentPolicy, SegmentWriter
    from recordings.tap import ReceiverTap, receiver_for

    parent = Parent()
    out = Path(tempfile.mkdtemp(prefix=f"heshi-bench-{mode}-"))
    msg = await parent.receive()
    pc = RTCPeerConnection()
    writers: list[SegmentWriter] = []
    recorder = MediaRecorder(str(out / "out.webm")) if mode == "mediarecorder" else None

    @pc.on("track")
    def on_track(track: Any) -> None:
        if recorder is not None:
            recorder.addTrack(track)
            return
        # As recordings/worker.py does it, with its default 10 s segments.
        tap = ReceiverTap(receiver_for(pc, track))
        writer = SegmentWriter(
            out,
            f"bench-{track.kind}",
            track_id=track.id,
            kind=track.kind,
            policy=SegmentPolicy(max_seconds=10),
            request_keyframe=tap.request_keyframe,
        )
        tap.start(writer)
        writers.append(writer)

    await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    if recorder is not None:
        await recorder.start()
    parent.send({"sdp": pc.localDescription.sdp})
    await parent.receive()  # "stop": the sender is done and its last packets have landed
    frames: dict[str, int] = {}
    drain = time.monotonic()
    if recorder is not None:
        # MediaRecorder falls behind (it decodes and re-encodes every frame): let it finish
        # what it has received, so that it records the whole stream too. Bench-only peeking
        # at aiortc's queues: the receiver's decoder queue and the remote track's frame queue.
        empty = 0
        while empty < 3:
            busy = any(
                r._RTCRtpReceiver__decoder_queue.qsize() or (r.track and r.track._queue.qsize())
                for r in pc.getReceivers()
            )
            empty = 0 if busy else empty + 1
            await asyncio.sleep(0.1)
        await recorder.stop()
        import av

        with av.open(str(out / "out.webm")) as c:
            for packet in c.demux():
                if packet.size:
                    kind = packet.stream.type
                    frames[kind] = frames.get(kind, 0) + 1
    else:
        for w in writers:
            segs = await w.stop()
            frames[w.kind] = sum(s.frame_count for s in segs)
    parent.send(
        {
            "frames": frames,
            "bytes": sum(f.stat().st_size for f in out.iterdir()),
            "finishing_s": round(time.monotonic() - drain, 1),
        }
    )
    await parent.receive()  # "exit", once the parent has read our CPU time
    await pc.close()
    for f in out.iterdir():
        f.unlink()
    out.rmdir()


async def cpu_round(mode: str, media: Media, seconds: float) -> dict[str, Any]:
    child = await Child.start("receiver", mode)
    gate = Gate()
    pc, video, audio = sending_pc(media, gate, phase=0.0)
    try:
        await pc.setLocalDescription(await pc.createOffer())
        await child.send({"sdp": pc.localDescription.sdp})
        from aiortc import RTCSessionDescription

        await pc.setRemoteDescription(RTCSessionDescription((await child.receive(30))["sdp"], "answer"))
        await wait_connected(pc, 30)
        await asyncio.sleep(0.5)
        cpu0 = cpu_seconds(child.proc.pid)
        t0 = time.monotonic()
        gate.open(time.time() + 0.1, seconds)
        while not video.done or not audio.done:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the last packets in flight
        window_cpu = cpu_seconds(child.proc.pid) - cpu0
        window = time.monotonic() - t0
        await child.send({"cmd": "stop"})
        done = await child.receive(600)
        cpu = cpu_seconds(child.proc.pid) - cpu0
        wall = time.monotonic() - t0
        await child.send({"cmd": "exit"})
    finally:
        await pc.close()
        await child.close()
    return {
        "mode": mode,
        "receiver_cpu_s": round(cpu, 3),
        "wall_s": round(wall, 1),
        "finishing_s": done["finishing_s"],
        "cpu_share_of_one_core": round(cpu / wall, 3),
        "window_cpu_s": round(window_cpu, 3),
        "window_s": round(window, 1),
        "frames_sent": {"video": video.sent, "audio": audio.sent},
        "frames_written": done["frames"],
        "bytes_written": done["bytes"],
        "cpu_ms_per_video_frame_written": round(cpu * 1000 / max(1, done["frames"].get("video", 0)), 2),
    }


async def cpu_per_stream(media: Media, seconds: float, rounds: int) -> dict[str, Any]:
    """Rounds alternate tap, MediaRecorder, tap, … so that the machine's drift falls on both."""
    runs: dict[str, list[dict[str, Any]]] = {"tap": [], "mediarecorder": []}
    for _ in range(rounds):
        for mode in ("tap", "mediarecorder"):
            runs[mode].append(await cpu_round(mode, media, seconds))
    ratios = [m["receiver_cpu_s"] / max(t["receiver_cpu_s"], 1e-3) for t, m in zip(runs["tap"], runs["mediarecorder"])]
    pairs = list(zip(runs["tap"], runs["mediarecorder"]))
    window_ratios = [m["window_cpu_s"] / max(t["window_cpu_s"], 1e-3) for t, m in pairs]
    per_frame_ratios = [
        m["cpu_ms_per_video_frame_written"] / max(t["cpu_ms_per_video_frame_written"], 1e-3)
        for t, m in zip(runs["tap"], runs["mediarecorder"])
    ]
    ratio = statistics.median(ratios)
    return {
        "seconds_per_round": seconds,
        "rounds": rounds,
        "what": "receiving process CPU (utime+stime, all threads) from the first frame until every frame it "
        "received is in its files (MediaRecorder, which falls behind, is let finish its backlog); "
        "one participant: VP8 640x480 30 fps + Opus. window_cpu_s: the same, but only until 1 s after "
        "the last frame was sent, the same wall time for both. MediaRecorder encodes on the receiving "
        "event loop and loses frames while it does, so it records fewer frames than Heshi for its CPU: "
        "cpu_ms_per_video_frame_written shows that; the goal is judged on plain CPU, the smaller ratio",
        "window_ratios": [round(r, 1) for r in window_ratios],
        "per_frame_ratios": [round(r, 1) for r in per_frame_ratios],
        "heshi_tap_segmentwriter": runs["tap"],
        "aiortc_mediarecorder": runs["mediarecorder"],
        "heshi_cpu_s_median": statistics.median(r["receiver_cpu_s"] for r in runs["tap"]),
        "mediarecorder_cpu_s_median": statistics.median(r["receiver_cpu_s"] for r in runs["mediarecorder"]),
        "ratios": [round(r, 1) for r in ratios],
        "ratio": round(ratio, 1),
        "goal": f"MediaRecorder CPU / Heshi CPU >= {CPU_RATIO_GOAL:g}",
        "met": ratio >= CPU_RATIO_GOAL,
    }


# ---- 2 and 3. the real path: node, recorder workers, load generators, probe -------------------


@dataclass
class Participant:
    seat: Seat
    mediator: bool
    sio: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    pid: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    pc: Any = None
    video: LoopedTrack | None = None
    audio: LoopedTrack | None = None

    def __post_init__(self) -> None:
        self.sio.on("room.event", self._event)
        self.sio.on("signal", self._signal)

    async def _event(self, data: dict[str, Any]) -> None:
        self.events.append(data)
        self.changed.set()

    async def _signal(self, data: dict[str, Any]) -> None:
        if data.get("from") == "recorder" and data.get("type") == "answer":
            self.answers.append(data["sdp"])
            self.changed.set()

    async def wait(self, predicate: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.pid}: timed out waiting for {what}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), 1.0)
            except TimeoutError:
                pass
        return result

    async def call(self, event: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        ack = await self.sio.call(event, data or {}, timeout=60)
        if not ack.get("ok"):
            raise RuntimeError(f"{event} refused: {ack}")
        return ack

    async def join(self, url: str) -> None:
        await self.sio.connect(
            url,
            transports=["websocket"],
            headers={"Cookie": f"heshi_join={self.seat.cookie}"},
            auth={"session_id": self.seat.session_id},
            wait_timeout=60,
        )
        self.pid = (await self.call("room.join"))["room"]["you"]["pid"]
        await self.call("media.publish")

    def recording_on(self) -> bool:
        for e in reversed(self.events):
            if e["type"] == "recording.updated":
                d = e["data"]
                return d["state"] == "on" and d["recorder_ready"] and self.pid in d["recorded"]
        return False

    async def offer(self, media: Media, gate: Gate, phase: float, offset: float) -> None:
        from aiortc import RTCSessionDescription

        self.pc, self.video, self.audio = sending_pc(media, gate, phase, offset)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self.call("signal", {"to": "recorder", "type": "offer", "sdp": self.pc.localDescription.sdp})
        await self.wait(lambda: self.answers, 60, "the recorder's answer")
        await self.pc.setRemoteDescription(RTCSessionDescription(self.answers[-1], "answer"))
        await wait_connected(self.pc, 60)


async def loadgen_main() -> None:
    """A load-generator process: its sessions' participants join, consent, send to the recorder."""
    parent = Parent()
    try:
        cfg = await parent.receive()
        media = Media.load(Path(cfg["media"]))
        rng = random.Random(cfg["seed"])
        gate = Gate()
        sessions = [[Participant(Seat(**s), i == 0) for i, s in enumerate(seats)] for seats in cfg["sessions"]]
        everyone = [p for s in sessions for p in s]
        offsets = {p.seat.pid: offset for s, offset in zip(sessions, cfg["offsets"]) for p in s}
        for i in range(0, len(everyone), 10):
            await asyncio.gather(*(p.join(cfg["url"]) for p in everyone[i : i + 10]))

        def asked(p: Participant) -> int:
            return sum(1 for e in p.events if e["type"] == "recording.consent_requested")

        async def start_recording(session: list[Participant]) -> int:
            """Start recording and consent; returns how many times it had to be restarted."""
            mediator, others = session[0], session[1:]
            for attempt in range(RECORDING_ATTEMPTS):
                before = {p.pid: asked(p) for p in others}
                await mediator.call("recording.start")
                for p in others:
                    await p.wait(lambda p=p, before=before: asked(p) > before[p.pid], 60, "the consent request")
                    await p.call("recording.consent", {"consent": True, "language": "en"})
                try:
                    for p in session:
                        await p.wait(p.recording_on, 45, "recording on with the recorder ready")
                    return attempt
                except RuntimeError:
                    if attempt == RECORDING_ATTEMPTS - 1:
                        raise
                    # The node's recorder worker did not come up (see RECORDING_ATTEMPTS): a new run.
                    await mediator.call("recording.stop", {"reason": "bench: the recorder did not come up"})
            raise AssertionError("unreachable")

        restarts = sum(await asyncio.gather(*(start_recording(s) for s in sessions)))
        t0 = time.monotonic()
        for i in range(0, len(everyone), 5):
            await asyncio.gather(
                *(p.offer(media, gate, rng.random() / 30, offsets[p.seat.pid]) for p in everyone[i : i + 5])
            )
        parent.send(
            {
                "ready": True,
                "participants": len(everyone),
                "connect_s": round(time.monotonic() - t0, 1),
                "recording_restarts": restarts,
            }
        )

        go = await parent.receive()
        cpu0 = time.process_time()
        gate.open(go["start_at"], go["seconds"])
        tracks = [t for p in everyone for t in (p.video, p.audio) if t is not None]
        lag: list[float] = []  # this process's own event-loop delay, 10 ms ticks
        while not all(t.done for t in tracks):
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lag.append(time.monotonic() - t - 0.01)
        late = [x for t in tracks if t.kind == "video" for x in t.late]
        parent.send(
            {
                "cpu_s": round(time.process_time() - cpu0, 2),
                "late_ms": {"p50": ms(q(late, 0.5)), "p99": ms(q(late, 0.99)), "max": ms(q(late, 1.0))},
                "loop_lag_ms": {"p50": ms(q(lag, 0.5)), "p99": ms(q(lag, 0.99)), "max": ms(q(lag, 1.0))},
                "late_by_second_ms": [
                    ms(max((x for t in tracks if t.kind == "video" for x in t.late[i * 30 : (i + 1) * 30]), default=0))
                    for i in range(int(go["seconds"]))
                ],
                "sent": {
                    p.pid: {
                        "video": p.video.sent if p.video else 0,
                        "audio": p.audio.sent if p.audio else 0,
                        "video_tail": p.video.tail_sent if p.video else 0,
                        "audio_tail": p.audio.tail_sent if p.audio else 0,
                        "session_id": p.seat.session_id,
                    }
                    for p in everyone
                },
            }
        )

        await parent.receive()  # "stop"
        await asyncio.gather(*(s[0].call("recording.stop", {"reason": "bench step done"}) for s in sessions))
        parent.send({"stopped": True})
        await parent.receive()  # "exit"
        await asyncio.gather(*(p.pc.close() for p in everyone if p.pc is not None), return_exceptions=True)
        await asyncio.gather(*(p.sio.disconnect() for p in everyone), return_exceptions=True)
    except SystemExit:
        raise
    except BaseException as exc:
        parent.send({"error": f"{type(exc).__name__}: {exc}"})
        raise


class Probe:
    """Times `ice.servers` round trips on the node every PROBE_INTERVAL, from its own session."""

    def __init__(self, url: str, seat: Seat) -> None:
        self.url, self.seat = url, seat
        self.sio = socketio.AsyncClient(reconnection=False)
        self.samples: list[tuple[float, float]] = []  # (sent at, round trip)
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.sio.connect(
            self.url,
            transports=["websocket"],
            headers={"Cookie": f"heshi_join={self.seat.cookie}"},
            auth={"session_id": self.seat.session_id},
            wait_timeout=30,
        )
        ack = await self.sio.call("room.join", {}, timeout=30)
        assert ack.get("ok"), ack
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            t = time.monotonic()
            try:
                ack = await self.sio.call("ice.servers", {}, timeout=30)
                if ack.get("ok"):
                    self.samples.append((t, time.monotonic() - t))
                else:
                    self.errors += 1
            except socketio.exceptions.TimeoutError:
                self.errors += 1
            await asyncio.sleep(max(0.0, t + PROBE_INTERVAL - time.monotonic()))

    def window(self, start: float, end: float) -> dict[str, Any]:
        inside = [(t, r) for t, r in self.samples if start <= t < end]
        rtts = [r for _, r in inside]
        worst = sorted(inside, key=lambda x: -x[1])[:5]
        return {
            "samples": len(rtts),
            "p50_ms": ms(q(rtts, 0.5)),
            "p99_ms": ms(q(rtts, 0.99)),
            "max_ms": ms(q(rtts, 1.0)),
            "worst": [{"at_s": round(t - start, 2), "ms": ms(r)} for t, r in worst],
        }

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.sio.disconnect()


Recorded = dict[tuple[str, str], dict[str, Any]]  # (pid, kind) -> frames, segments, dropped, ended_by


async def recorded_frames(database_url: str, data_dir: Path, session_ids: set[str]) -> tuple[Recorded, list[float]]:
    """Frames per (pid, kind) in the segments the node logged (its database), with what each
    segment's sidecar says about frames dropped while waiting for a keyframe and how it ended;
    and when the node logged each segment (unix time)."""
    from recordings import evidence
    from server.config import load_settings
    from server.services.core import Core

    settings = load_settings(env={}, data_dir=str(data_dir), database_url=database_url, secret_key="b" * 40)
    core = Core.build(settings)
    out: Recorded = {}
    logged_at: list[float] = []
    try:
        for sid in session_ids:
            for seg in await evidence.segments_of(core, sid):
                d = out.setdefault((seg.pid, seg.kind), {"frames": 0, "segments": 0, "dropped": 0, "ended_by": {}})
                d["frames"] += seg.frames
                d["segments"] += 1
                at = seg.at if seg.at.tzinfo else seg.at.replace(tzinfo=UTC)
                logged_at.append(at.timestamp())
                try:
                    side = json.loads((data_dir / seg.path).with_suffix(".json").read_text())
                    d["dropped"] += int(side.get("dropped_frames") or 0)
                    d["ended_by"][side["ended_by"]] = d["ended_by"].get(side["ended_by"], 0) + 1
                except (OSError, ValueError, KeyError):
                    pass
    finally:
        await core.close()
    return out, logged_at


def _merge(dicts: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


async def step(
    n: int,
    *,
    url: str,
    node_pid: int,
    database_url: str,
    data_dir: Path,
    media_path: Path,
    probe: Probe,
    seconds: float,
    stagger: float,
    loadgens: int,
) -> dict[str, Any]:
    """Record `n` streams; frames sent against frames in the node's finished segments.

    Each session starts at its own random offset within `stagger` seconds (sessions are
    independent meetings, so their segments end at different moments), then the measurement
    window of `seconds` begins, in which all `n` streams are being recorded; everything stops
    together at its end. With `stagger` 0 every segment of every session ends at once.
    """
    sessions_n = -(-n // PER_SESSION)
    sizes = [n // sessions_n + (1 if i < n % sessions_n else 0) for i in range(sessions_n)]
    seats: list[list[Seat]] = []
    for size, count in ((s, sizes.count(s)) for s in sorted(set(sizes))):
        seats += await prepare(database_url, data_dir, count, size)
    rng = random.Random(n)
    offsets = [round(rng.uniform(0, stagger), 3) for _ in seats]
    shares = [(seats[i::loadgens], offsets[i::loadgens]) for i in range(loadgens)]
    shares = [s for s in shares if s[0]]
    t0 = time.monotonic()
    kids = [await Child.start("loadgen") for _ in shares]
    result: dict[str, Any] = {
        "streams": n,
        "sessions": sessions_n,
        "participants_per_session": sorted(set(sizes)),
        "load_generators": len(kids),
        "stagger_s": stagger,
        "seconds": seconds,
    }
    try:
        for i, (kid, (share, share_offsets)) in enumerate(zip(kids, shares)):
            await kid.send(
                {
                    "url": url,
                    "media": str(media_path),
                    "seed": n * 100 + i,
                    "offsets": share_offsets,
                    "sessions": [[vars(s) for s in ss] for ss in share],
                }
            )
        ready = [await k.receive(300) for k in kids]
        result["setup_s"] = round(time.monotonic() - t0, 1)
        result["recording_restarts"] = sum(r["recording_restarts"] for r in ready)
        workers = worker_pids(node_pid)
        result["recorder_workers"] = len(workers)

        node_idle0, idle0 = cpu_or_zero(node_pid), time.monotonic()
        await asyncio.sleep(BASELINE_SECONDS)
        node_idle_rate = (cpu_or_zero(node_pid) - node_idle0) / (time.monotonic() - idle0)
        start_at, start_mono = time.time() + 0.5, time.monotonic() + 0.5
        baseline = probe.window(start_mono - BASELINE_SECONDS - 0.5, start_mono - 0.3)
        for k in kids:
            await k.send({"start_at": start_at, "seconds": stagger + seconds})
        # Sessions start one after another over `stagger`; then every stream is being recorded.
        window_mono, window_wall = start_mono + stagger, start_at + stagger
        await asyncio.sleep(max(0.0, window_mono - time.monotonic()))
        pids = {"node": [node_pid], "workers": workers, "loadgens": [k.proc.pid for k in kids]}
        cpu0 = {name: sum(cpu_or_zero(p) for p in ps) for name, ps in pids.items()}
        own0 = time.process_time()
        m0 = machine_cpu()
        # CPU of the node and of the workers every half second: stalls line up with segment ends.
        timeline: dict[str, list[float]] = {"node_ms": [], "workers_ms": []}
        last = (cpu_or_zero(node_pid), sum(cpu_or_zero(p) for p in workers))
        for i in range(int(seconds / 0.5)):
            await asyncio.sleep(max(0.0, window_mono + (i + 1) * 0.5 - time.monotonic()))
            now = (cpu_or_zero(node_pid), sum(cpu_or_zero(p) for p in workers))
            timeline["node_ms"].append(round((now[0] - last[0]) * 1000))
            timeline["workers_ms"].append(round((now[1] - last[1]) * 1000))
            last = now
        await asyncio.sleep(max(0.0, window_mono + seconds - time.monotonic()))
        cpu = {name: round(sum(cpu_or_zero(p) for p in ps) - cpu0[name], 2) for name, ps in pids.items()}
        cpu["bench_and_probe"] = round(time.process_time() - own0, 2)
        m1 = machine_cpu()
        loaded = probe.window(window_mono, window_mono + seconds)
        sent_reports = [await k.receive(120) for k in kids]
        await asyncio.sleep(1.5)  # the last packets in flight, retransmissions
        for k in kids:
            await k.send({"cmd": "stop"})
        for k in kids:
            await k.receive(120)
        deadline = time.monotonic() + 60
        while any(p in worker_pids(node_pid) for p in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        result["workers_still_running"] = sum(1 for p in workers if p in worker_pids(node_pid))
        sent = {pid: v for r in sent_reports for pid, v in r["sent"].items()}
        got, logged_at = await recorded_frames(database_url, data_dir, {v["session_id"] for v in sent.values()})
        for k in kids:
            await k.send({"cmd": "exit"})
    finally:
        for k in kids:
            await k.close()

    per_kind: dict[str, Any] = {}
    for kind in ("video", "audio"):
        s = sum(v[kind] for v in sent.values())
        r = sum(got.get((pid, kind), {}).get("frames", 0) for pid in sent)
        worst = max(
            (1 - got.get((pid, kind), {}).get("frames", 0) / v[kind] for pid, v in sent.items() if v[kind]), default=0.0
        )
        per_kind[kind] = {
            "sent": s,
            "recorded": r,
            "lost": s - r,
            "loss": round((s - r) / s, 5) if s else None,
            "worst_track_loss": round(worst, 5),
            "segments": sum(got.get((pid, kind), {}).get("segments", 0) for pid in sent),
            "dropped_waiting_for_keyframe": sum(got.get((pid, kind), {}).get("dropped", 0) for pid in sent),
            "segments_ended_by": _merge(got.get((pid, kind), {}).get("ended_by", {}) for pid in sent),
        }
    result["frames"] = per_kind
    result["tails_sent"] = {
        "video": sum(v["video_tail"] for v in sent.values()),
        "audio": sum(v["audio_tail"] for v in sent.values()),
    }
    result["loss"] = per_kind["video"]["loss"]
    result["cpu_s"] = cpu
    result["worker_cpu_s_per_stream"] = round(cpu["workers"] / n, 3)
    # What the node spends on each finished segment the workers report (checks, database, case log).
    reports = sum(1 for t in logged_at if window_wall <= t < window_wall + seconds)
    result["segments_reported_in_window"] = reports
    if reports:
        result["node_cpu_ms_per_segment_report"] = round((cpu["node"] - node_idle_rate * seconds) * 1000 / reports, 1)
    result["machine_busy"] = round((m1[0] - m0[0]) / max(1, m1[1] - m0[1]), 3)
    # The share of the machine that other work (not this benchmark's processes) took meanwhile.
    capacity = (os.cpu_count() or 1) * seconds
    result["other_load"] = round(max(0.0, result["machine_busy"] - sum(cpu.values()) / capacity), 3)
    for name, key in (("loadgen_late_ms", "late_ms"), ("loadgen_loop_lag_ms", "loop_lag_ms")):
        result[name] = {k: max((r[key][k] or 0) for r in sent_reports) for k in ("p50", "p99", "max")}
    result["cpu_every_half_second"] = timeline
    result["probe_baseline"] = baseline
    result["probe_recording"] = loaded
    if loaded["max_ms"] is not None and baseline["p50_ms"] is not None:
        result["stall_ms"] = round(loaded["max_ms"] - baseline["p50_ms"], 1)
    result["met"] = result["loss"] is not None and result["loss"] <= LOSS_LIMIT
    return result


def _stall(r: dict[str, Any], probe_errors: int) -> dict[str, Any]:
    return {
        "streams": r["streams"],
        "stagger_s": r["stagger_s"],
        "baseline": r["probe_baseline"],
        "recording": r["probe_recording"],
        "stall_ms": r.get("stall_ms"),
        "probe_errors": probe_errors,
        "node_cpu_ms_per_segment_report": r.get("node_cpu_ms_per_segment_report"),
        "other_load": r["other_load"],
        "goal": f"max round trip - idle baseline p50 < {STALL_GOAL_MS:g} ms",
        "met": r.get("stall_ms") is not None and r["stall_ms"] < STALL_GOAL_MS,
    }


async def real_path(
    media_path: Path, steps: list[int], *, seconds: float, stagger: float, worst_case: bool, loadgens: int, tmp: Path
) -> dict[str, Any]:
    """Steps up through `steps` (the last is the ceiling) until a step loses more than 1%;
    then, with `worst_case`, records the target count once more with every session starting
    at the same moment."""
    db = f"sqlite:///{tmp}/rec.db"
    data_dir = tmp / "data"
    port = free_port()
    probe_seat = (await prepare(db, data_dir, 1, 1))[0][0]
    env = heshi_env(data_dir, port, db)
    env["HESHI_RECORDING_SEGMENT_SECONDS"] = "10"
    url = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    together: dict[str, Any] | None = None
    async with process([str(VENV_BIN / "heshi"), "serve"], env, f"{url}/healthz") as node:
        probe = Probe(url, probe_seat)
        await probe.start()
        kw = dict(
            url=url,
            node_pid=node.pid,
            database_url=db,
            data_dir=data_dir,
            media_path=media_path,
            probe=probe,
            loadgens=loadgens,
        )
        try:
            for n in steps:
                print(f"  recording {n} streams…", flush=True)
                r = await step(n, seconds=seconds, stagger=stagger, **kw)
                results.append(r)
                print(
                    f"    video loss {r['loss']:.3%}, audio loss {r['frames']['audio']['loss']:.3%}, "
                    f"probe max {r['probe_recording']['max_ms']} ms "
                    f"(baseline p50 {r['probe_baseline']['p50_ms']} ms), "
                    f"machine busy {r['machine_busy']:.0%}",
                    flush=True,
                )
                if not r["met"]:
                    break
            if worst_case:
                print(f"  recording {STREAMS_GOAL} streams, every session starting at once…", flush=True)
                # Long enough to see both cuts: video at 8 s (the keyframe after the request), audio at 10 s.
                together = await step(STREAMS_GOAL, seconds=max(seconds, 12.0), stagger=0.0, **kw)
        finally:
            await probe.stop()
    passing = [r["streams"] for r in results if r["met"]]
    # The most streams recorded within the loss limit, with every smaller step passing too.
    best = 0
    for r in results:
        if not r["met"]:
            break
        best = r["streams"]
    # At the target count; a quick run, which stops short of it, reports its largest step.
    target = next((r for r in results if r["streams"] == STREAMS_GOAL), None) or results[-1]
    stall = _stall(target, probe.errors)
    if together is not None:
        stall["all_sessions_at_once"] = {**_stall(together, probe.errors), "loss": together["loss"], "step": together}
    return {
        "streams": {
            "steps": results,
            "max_streams_within_loss": best,
            "passing_steps": passing,
            "ceiling": steps[-1],
            "ceiling_reached": best == steps[-1],
            "loss_limit": LOSS_LIMIT,
            "goal": f">= {STREAMS_GOAL} streams with <= {LOSS_LIMIT:.0%} of video frames lost",
            # A run whose ceiling is below the goal (--quick) cannot judge it.
            "met": best >= STREAMS_GOAL if steps[-1] >= STREAMS_GOAL else None,
        },
        "stall": stall,
    }


# ---- report --------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> None:
    c = results["cpu_per_stream"]
    yes = lambda ok: "not judged: --quick stops short of it" if ok is None else "met" if ok else "NOT met"  # noqa: E731
    print("\nRecording benchmarks")
    media = results["media"]
    print(
        f"  media: {media['video']} at {media['video_kbps']} kbit/s, keyframe every {media['keyframe_every_s']} s, "
        f"+ {media['audio']} at {media['audio_kbps']} kbit/s"
    )
    print(
        f"  1. receiver CPU for {c['seconds_per_round']:g} s of one stream     Heshi tap  MediaRecorder   "
        f"(goal ≥ {CPU_RATIO_GOAL:g}x less: {yes(c['met'])})"
    )
    print(
        f"     CPU seconds, median of {c['rounds']}{'':<19} {c['heshi_cpu_s_median']:>9}"
        f"  {c['mediarecorder_cpu_s_median']:>13}"
        f"   ratio {c['ratio']}x  (rounds {c['ratios']})"
    )
    t, m = c["heshi_tap_segmentwriter"][-1], c["aiortc_mediarecorder"][-1]
    print(f"     wall s until the files are finished{'':<6} {t['wall_s']:>9}  {m['wall_s']:>13}")
    print(
        f"     CPU s until 1 s after the last frame{'':<5} {t['window_cpu_s']:>9}  {m['window_cpu_s']:>13}"
        f"   ratio {c['window_ratios'][-1]}x"
    )
    print(
        f"     video frames sent / in the files{'':<9} {t['frames_sent']['video']:>4}"
        f"/{t['frames_written'].get('video', 0):<4}"
        f"     {m['frames_sent']['video']:>4}/{m['frames_written'].get('video', 0):<4}"
    )
    print(
        f"     CPU ms per video frame in the files{'':<6} {t['cpu_ms_per_video_frame_written']:>9}"
        f"  {m['cpu_ms_per_video_frame_written']:>13}   ratio {c['per_frame_ratios'][-1]}x"
    )
    s = results["streams"]
    first = s["steps"][0]
    print(
        f"  2. streams recorded through node + recorder workers: sessions of ≤ {PER_SESSION} start over "
        f"{first['stagger_s']:g} s, then {first['seconds']:g} s all together "
        f"(goal ≥ {STREAMS_GOAL} at ≤ {LOSS_LIMIT:.0%} video frames lost: {yes(s['met'])})"
    )
    print(
        "     streams  workers  video loss  audio loss  worker CPU/stream  machine busy (others)"
        "  loadgen late p99  probe p99/max"
    )
    for r in s["steps"]:
        print(
            f"     {r['streams']:>7}  {r['recorder_workers']:>7}  {r['frames']['video']['loss']:>10.3%}  "
            f"{r['frames']['audio']['loss']:>10.3%}  {r['worker_cpu_s_per_stream'] / r['seconds']:>13.1%} core"
            f"  {r['machine_busy']:>8.0%} ({r['other_load']:>4.0%})     {r['loadgen_late_ms']['p99']:>10} ms"
            f"  {r['probe_recording']['p99_ms']}/{r['probe_recording']['max_ms']} ms"
        )
    print(
        f"     most streams within the loss limit: {s['max_streams_within_loss']}"
        f"{' (the ceiling of this run)' if s['ceiling_reached'] else ''}"
    )
    st = results["stall"]
    print(
        f"  3. signaling round trip (ice.servers every {PROBE_INTERVAL * 1000:g} ms) "
        f"while recording {st['streams']} streams "
        f"(goal stall < {STALL_GOAL_MS:g} ms: {yes(st['met'])})"
    )
    cases = [("sessions starting apart", st)]
    if "all_sessions_at_once" in st:
        cases.append(("every session at once", st["all_sessions_at_once"]))
    print(f"{'':<30}baseline p50/p99/max   recording p50/p99/max   stall   node CPU/segment report")
    for name, c in cases:
        b, r = c["baseline"], c["recording"]
        print(
            f"     {name:<24} {b['p50_ms']:>5}/{b['p99_ms']}/{b['max_ms']} ms"
            f"  {r['p50_ms']:>8}/{r['p99_ms']}/{r['max_ms']} ms"
            f"  {c['stall_ms']:>6} ms  {c['node_cpu_ms_per_segment_report'] or '–'} ms"
            f"{'' if c['met'] else '  (over the goal)'}"
        )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


def machine() -> dict[str, Any]:
    import aiortc
    import av

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "aiortc": aiortc.__version__,
        "pyav": av.__version__,
        "loadavg_at_start": list(os.getloadavg()),
        "nice": os.nice(0),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller and shorter runs")
    ap.add_argument("--loadgens", type=int, default=2, help="load-generator processes")
    args = ap.parse_args()
    quick = args.quick
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="heshi-bench-rec-") as d:
        tmp = Path(d)
        print("encoding the media…", flush=True)
        media = encode_media()
        media_path = tmp / "media.pkl"
        media.save(media_path)
        results: dict[str, Any] = {
            "machine": machine(),
            "quick": quick,
            "media": media.describe(),
            "stream": "one participant's 640x480 30 fps VP8 video track; its Opus track is "
            "recorded alongside and reported separately, not counted as a stream",
        }
        print("1. CPU per stream…", flush=True)
        results["cpu_per_stream"] = await cpu_per_stream(media, 8 if quick else 15, 1)
        print("2-3. streams on the real path…", flush=True)
        steps = [10, 20] if quick else [10, 20, 30, 40, 50, 60]
        results.update(
            await real_path(
                media_path,
                steps,
                seconds=6 if quick else 10,
                stagger=4 if quick else 10,
                worst_case=not quick,
                loadgens=args.loadgens,
                tmp=tmp,
            )
        )
    results["total_seconds"] = round(time.monotonic() - started)
    results["goals_met"] = all(results[k]["met"] is not False for k in ("cpu_per_stream", "streams", "stall"))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    report(results)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "receiver":
        asyncio.run(receiver_main(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "loadgen":
        asyncio.run(loadgen_main())
    else:
        asyncio.run(main())
