"""The one-file download of a session's recording: participants side by side, audio mixed.

After a session, a background job hands every logged segment to ffmpeg. Each participant's
segments of one kind become one input through ffmpeg's concat demuxer, each segment placed
by its first packet's wall clock (a `duration` line per file keeps the gap to the next one,
so reconnects and pauses stay where they were). Video is padded to the same size and put
side by side; audio gaps become silence and the voices are mixed. The result is WebM
(VP8 + Opus), which every browser plays. Only logged segments are used: a file on disk
that is not in the evidence log does not reach the download.

Progress (0–1) comes from ffmpeg's `-progress` output and lives in `recording_composites`,
for the case page. The finished file goes under the session's recording directory, with
its SHA-256 in the case log (`recording.composite`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from server.domain.actors import Actor
from server.services.core import Core
from server.storage import caselog
from server.storage import recordings as stored
from server.storage.recordings import CompositeRecord

from .files import session_dir, sha256_of

log = logging.getLogger("heshi.recordings")

TILE_W, TILE_H, FPS = 640, 480, 15
COMPOSITE_NAME = "composite.webm"


class Status:
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    empty = "empty"  # nothing was recorded


@dataclass(frozen=True)
class Track:
    """One participant's segments of one kind, in order, placed on the session's timeline."""

    pid: str
    kind: str
    offset: float  # seconds from the session's first recorded packet
    files: list[tuple[Path, float]]  # (file, seconds until the next file starts)

    def concat_list(self) -> str:
        lines = ["ffconcat version 1.0"]
        for path, duration in self.files:
            lines.append(f"file '{_quote(path)}'")
            lines.append(f"duration {duration:.6f}")
        return "\n".join(lines) + "\n"


def _quote(path: Path) -> str:
    return str(path).replace("'", "'\\''")


class Placed(Protocol):
    """What `plan` reads of a segment (a `SegmentRecord` has it)."""

    @property
    def pid(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def first_wallclock(self) -> datetime: ...
    @property
    def duration_s(self) -> float: ...


def plan(data_dir: Path, segments: Sequence[Placed]) -> tuple[list[Track], float]:
    """The tracks to compose and the total length in seconds."""
    if not segments:
        return [], 0.0
    t0 = min(s.first_wallclock.timestamp() for s in segments)
    groups: dict[tuple[str, str], list[Placed]] = {}
    for s in segments:
        groups.setdefault((s.pid, s.kind), []).append(s)
    tracks, end = [], 0.0
    for (pid, kind), segs in sorted(groups.items()):
        segs.sort(key=lambda s: (s.first_wallclock, s.index))
        files = []
        for i, s in enumerate(segs):
            start = s.first_wallclock.timestamp()
            nxt = segs[i + 1].first_wallclock.timestamp() if i + 1 < len(segs) else None
            span = s.duration_s if nxt is None else max(s.duration_s, nxt - start)
            files.append((data_dir / s.path, max(span, 0.001)))
            end = max(end, start - t0 + s.duration_s)
        tracks.append(Track(pid, kind, segs[0].first_wallclock.timestamp() - t0, files))
    return tracks, end


def ffmpeg_command(
    tracks: list[Track], lists: list[Path], out: Path, total: float, ffmpeg: str = "ffmpeg"
) -> list[str]:
    """The ffmpeg invocation for a plan (pure, so that it can be tested on its own)."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"]
    for concat in lists:  # one per track, in the same order
        cmd += ["-f", "concat", "-safe", "0", "-i", str(concat)]
    video = [(i, t) for i, t in enumerate(tracks) if t.kind == "video"]
    audio = [(i, t) for i, t in enumerate(tracks) if t.kind == "audio"]
    parts, maps = [], []
    for n, (i, t) in enumerate(video):
        parts.append(
            f"[{i}:v]setpts=PTS-STARTPTS+{t.offset:.6f}/TB,fps={FPS}:start_time=0,"
            f"scale={TILE_W}:{TILE_H}:force_original_aspect_ratio=decrease,"
            f"pad={TILE_W}:{TILE_H}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
            f"tpad=stop_mode=clone:stop_duration={total:.3f}[v{n}]"
        )
    if len(video) > 1:
        parts.append("".join(f"[v{n}]" for n in range(len(video))) + f"hstack=inputs={len(video)}[vout]")
        maps += ["-map", "[vout]"]
    elif video:
        maps += ["-map", "[v0]"]
    for n, (i, t) in enumerate(audio):
        parts.append(f"[{i}:a]asetpts=PTS-STARTPTS+{t.offset:.6f}/TB,aresample=48000:async=1:first_pts=0[a{n}]")
    if len(audio) > 1:
        parts.append(
            "".join(f"[a{n}]" for n in range(len(audio)))
            + f"amix=inputs={len(audio)}:duration=longest:normalize=0[aout]"
        )
        maps += ["-map", "[aout]"]
    elif audio:
        maps += ["-map", "[a0]"]
    cmd += ["-filter_complex", ";".join(parts), *maps, "-t", f"{total:.3f}"]
    if video:
        cmd += ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", f"{600 * len(video)}k"]
    if audio:
        cmd += ["-c:a", "libopus", "-b:a", "64k"]
    cmd += ["-f", "webm", str(out)]
    return cmd


async def _set(core: Core, session_id: str, case_id: str, **values: Any) -> CompositeRecord:
    """Change the session's download state (`status`, `progress`, `error`…), making its row."""
    async with core.db.write() as tx:
        return await stored.save_composite(
            tx, session_id, case_id=case_id, at=core.clock.now(), initial_status=Status.queued, **values
        )


async def status(core: Core, session_id: str) -> CompositeRecord | None:
    async with core.db.read() as tx:
        return await stored.composite_of(tx, session_id)


async def make(core: Core, case_id: str, session_id: str, actor: Actor) -> CompositeRecord:
    """Make (or make again) the session's composite file. Never raises for a failed ffmpeg:
    the failure is stored, with ffmpeg's message, for the case page."""
    data_dir = Path(core.settings.data_dir)
    await _set(core, session_id, case_id, status=Status.running, progress=0.0, error=None)
    async with core.db.read() as tx:
        segments = await stored.segments_of_session(tx, session_id)
    tracks, total = plan(data_dir, segments)
    if not tracks:
        return await _set(core, session_id, case_id, status=Status.empty, progress=1.0)
    folder = session_dir(data_dir, case_id, session_id)
    work = folder / ".composite"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lists = []
    for n, t in enumerate(tracks):
        lists.append(work / f"{n}-{t.kind}.ffconcat")
        lists[-1].write_text(t.concat_list())
    part = work / "composite.webm.part"
    cmd = ffmpeg_command(tracks, lists, part, total, ffmpeg=shutil.which("ffmpeg") or "ffmpeg")
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        return await _set(core, session_id, case_id, status=Status.failed, error=f"cannot run ffmpeg: {exc}"[:400])
    stderr_task = asyncio.create_task(proc.stderr.read())  # type: ignore[union-attr]
    last = 0.0
    assert proc.stdout is not None
    async for raw in proc.stdout:
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        if key == "out_time_us" and value.isdigit() and total > 0:
            progress = min(0.99, int(value) / 1e6 / total)
            if progress - last >= 0.05:
                last = progress
                await _set(core, session_id, case_id, progress=round(progress, 3))
    code = await proc.wait()
    err = (await stderr_task).decode(errors="replace").strip()
    if code != 0 or not part.exists():
        log.error("composite of %s failed: %s", session_id, err)
        error = (err or f"ffmpeg exited with {code}")[-400:]
        return await _set(core, session_id, case_id, status=Status.failed, error=error)
    final = folder / COMPOSITE_NAME
    os.replace(part, final)
    shutil.rmtree(work, ignore_errors=True)
    digest, size = await asyncio.to_thread(sha256_of, final)
    rel = final.relative_to(data_dir).as_posix()
    now = core.clock.now()
    async with core.db.write() as tx:
        done = await stored.save_composite(
            tx,
            session_id,
            case_id=case_id,
            at=now,
            initial_status=Status.queued,
            status=Status.done,
            progress=1.0,
            path=rel,
            sha256=digest,
            bytes=size,
        )
        await caselog.append(
            tx,
            case_id=case_id,
            session_id=session_id,
            kind="recording.composite",
            actor=actor,
            at=now,
            data={
                "path": rel,
                "sha256": digest,
                "bytes": size,
                "seconds": round(total, 3),
                "tracks": [{"pid": t.pid, "kind": t.kind, "segments": len(t.files)} for t in tracks],
            },
        )
    return done


def view(row: CompositeRecord | None) -> dict[str, Any] | None:
    """The download's state as the API and the case page show it."""
    if row is None:
        return None
    return {
        "status": row.status,
        "progress": row.progress,
        "sha256": row.sha256,
        "bytes": row.bytes,
        "error": row.error,
        "updated_at": row.updated_at.isoformat(),
    }


ACCESS_WINDOW = timedelta(minutes=10)  # requests by one person for one file within this are one viewing


class _SameViewing(Exception):
    """Raised inside the write transaction to take back an entry a concurrent request made redundant."""


async def log_access(core: Core, case_id: str, session_id: str, actor: Actor, byte_range: str | None) -> bool:
    """Recordings are access-restricted and every access is logged (DESIGN.md). Returns whether
    this request started a new viewing (and was logged)."""
    now = core.clock.now()
    who = str(actor)
    # The log itself says when this person last opened it, on whichever node: no memory to keep
    # per process, and one viewing stays one entry behind a load balancer. A player's range
    # requests mostly end at the first check, without locking the case log.
    try:
        async with core.db.write() as tx:
            last = await stored.last_viewed(tx, case_id, session_id, who)
            if last is not None and now - last < ACCESS_WINDOW:
                return False
            # Appending takes the case log's lock (once); what another request appended before
            # we had it is visible now, and if it is this viewing, this entry is taken back.
            entry = await caselog.append(
                tx,
                case_id=case_id,
                session_id=session_id,
                kind="recording.accessed",
                actor=actor,
                at=now,
                data={"file": COMPOSITE_NAME, "range": byte_range},
            )
            last = await stored.last_viewed(tx, case_id, session_id, who, before_seq=entry.seq)
            if last is not None and now - last < ACCESS_WINDOW:
                raise _SameViewing
    except _SameViewing:
        return False
    return True


class CompositeJobs:
    """Composite jobs of this node, one at a time per session, in the background."""

    def __init__(self, core: Core):
        self.core = core
        self.running: dict[str, asyncio.Task[Any]] = {}

    def start(self, case_id: str, session_id: str, actor: Actor) -> bool:
        """Queue a job; False when one is already running for this session here."""
        task = self.running.get(session_id)
        if task is not None and not task.done():
            return False
        task = asyncio.get_running_loop().create_task(self._run(case_id, session_id, actor))
        self.running[session_id] = task
        return True

    async def _run(self, case_id: str, session_id: str, actor: Actor) -> None:
        try:
            await make(self.core, case_id, session_id, actor)
        except Exception:
            log.exception("composite of %s failed", session_id)
            await _set(self.core, session_id, case_id, status=Status.failed, error="internal error; see the server log")
        finally:
            self.running.pop(session_id, None)

    async def close(self) -> None:
        for task in list(self.running.values()):
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
