"""The one-file download of a session's recording: every participant in a labelled grid, audio mixed.

After a session, a background job hands every logged segment to ffmpeg. Each participant's
segments of one kind become one input through ffmpeg's concat demuxer, each segment placed
by its first packet's wall clock (a `duration` line per file keeps the gap to the next one,
so reconnects and pauses stay where they were). Each person gets one tile of a grid that
suits 2 to 6 people (2 side by side, 3–4 in 2×2, 5–6 in 3×2): their video, or a dark tile
when they were recorded without video, labelled with their name and role (名字（调解员）) as
the recording's consents and the session's joins name them. The Beijing time of each moment
is burnt in, so a reviewer or a court can tell when something was said. Audio gaps become
silence and the voices are mixed. The result is WebM (VP8 + Opus), which every browser plays.
Only logged segments are used: a file on disk that is not in the evidence log does not reach
the download; a session whose files retention deleted gets no new download.

Text is drawn with ffmpeg's drawtext and a CJK font from Debian's fonts-noto-cjk, found with
fc-match (or at its Debian path); without one the job fails, saying so, rather than draw
empty boxes. Names are text, never markup: each is quoted for the filter graph and drawn
with `expansion=none`.

Progress (0–1) comes from ffmpeg's `-progress` output and lives in `recording_composites`,
for the case page. The finished file goes under the session's recording directory, with
its SHA-256 in the case log (`recording.composite`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from server.domain.actors import Actor
from server.domain.clock import wire_time
from server.domain.grants import SessionRole
from server.services.core import Core
from server.services.minutes import ROLE_NAMES
from server.storage import caselog
from server.storage import recordings as stored
from server.storage import retention as stored_retention
from server.storage.base import Tx
from server.storage.recordings import CompositeRecord

from .files import session_dir, sha256_of

log = logging.getLogger("heshi.recordings")

TILE_W, TILE_H, FPS = 640, 480, 15
COMPOSITE_NAME = "composite.webm"
BEIJING_OFFSET = 8 * 3600  # UTC+8 all year (no daylight saving since 1991)
LABEL_SIZE, CLOCK_SIZE = 28, 24  # font sizes in pixels
MAX_LABEL_NAME = 24  # characters of a name on a tile; longer ones end in …
AUDIO_ONLY_COLOUR = "0x262626"
AUDIO_ONLY_TEXT = "仅录音频"  # "audio only": recorded without video


class Status:
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    empty = "empty"  # nothing was recorded
    deleted = "deleted"  # retention deleted the file (and the segments it was made of)


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


# ---- the font --------------------------------------------------------------------------------


class FontMissing(RuntimeError):
    """No font with Chinese characters: the labels would be empty boxes, so nothing is made."""


@dataclass(frozen=True)
class CjkFont:
    """A font face with Chinese characters: its file, the face's index in it (a .ttc collection
    holds several) and its family name."""

    path: Path
    index: int
    family: str

    def drawtext_options(self) -> str:
        """How drawtext loads this face. `fontfile` always loads a file's first face, and
        Noto's collection puts the Japanese one first (its forms of some characters differ from
        Simplified Chinese ones): another face is named by family, which ffmpeg finds through
        fontconfig, as fc-match did."""
        if self.index == 0:
            return f"fontfile={_option_value(str(self.path))}"
        return f"font={_option_value(self.family)}"


# Debian's fonts-noto-cjk: the Simplified Chinese face is the third of each collection.
DEBIAN_CJK_FONTS: tuple[tuple[str, int, str], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "Noto Sans CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2, "Noto Sans CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2, "Noto Serif CJK SC"),
)
FONT_HELP = (
    "no font with Chinese characters was found (fc-match 'sans-serif:lang=zh-cn', and the paths of "
    "Debian's fonts-noto-cjk): install the Debian package fonts-noto-cjk (make system-deps)"
)


def find_cjk_font(
    *, fc_match: str | None = "fc-match", known: Sequence[tuple[str, int, str]] = DEBIAN_CJK_FONTS
) -> CjkFont:
    """The font the labels are drawn with: what fontconfig picks for Simplified Chinese, when it
    covers Chinese (fc-match always answers, with DejaVu when nothing does), else the first of
    `known` on disk; FontMissing when there is none."""
    if fc_match:
        try:
            done = subprocess.run(
                [fc_match, "-f", "%{file}\\n%{index}\\n%{family[0]}\\n%{lang}\\n", "sans-serif:lang=zh-cn"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            done = None
        if done is not None and done.returncode == 0:
            lines = done.stdout.split("\n")
            if len(lines) >= 4 and "zh-cn" in lines[3].split("|") and lines[1].strip().isdigit():
                path = Path(lines[0])
                if path.is_file():
                    return CjkFont(path, int(lines[1]), lines[2].strip())
    for file, index, family in known:
        if Path(file).is_file():
            return CjkFont(Path(file), index, family)
    raise FontMissing(FONT_HELP)


# ---- who is who --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """What a tile says of its person: the name they had in the session and their role."""

    name: str
    role: str  # a SessionRole value, or "" when not known

    def text(self) -> str:
        """`王建国（调解员）`: the name, cut to MAX_LABEL_NAME characters, and the role in Chinese."""
        name = "".join(ch for ch in self.name if ch.isprintable()).strip()
        if len(name) > MAX_LABEL_NAME:
            name = name[: MAX_LABEL_NAME - 1] + "…"
        role = ROLE_NAMES.get(self.role, "")
        return f"{name}（{role}）" if role else name


async def labels_of(tx: Tx, case_id: str, session_id: str) -> dict[str, Label]:
    """Each participant's name and role by participant id: as they answered the recording's
    consent question, else as they joined the session (the mediator who starts a recording is
    not asked), both from what the case log and the consents kept of that session."""
    labels: dict[str, Label] = {}
    for e in await caselog.entries(tx, case_id, kinds=("session.join",)):
        pid = e.data.get("pid")
        if e.session_id == session_id and isinstance(pid, str) and pid not in labels:
            labels[pid] = Label(str(e.data.get("name") or pid), str(e.data.get("role") or ""))
    for c in await stored.consents_of_session(tx, session_id):  # the latest answer wins
        labels[c.pid] = Label(c.name or c.pid, c.role)
    return labels


# ---- the grid ---------------------------------------------------------------------------------


def grid(count: int) -> tuple[int, int]:
    """Columns and rows for `count` tiles: one; two side by side; 3–4 in 2×2; 5–6 in 3×2; more
    (a larger hearing than the mesh allows by default) in the nearest square."""
    if count <= 1:
        return 1, 1
    if count == 2:
        return 2, 1
    if count <= 4:
        return 2, 2
    if count <= 6:
        return 3, 2
    cols = math.ceil(math.sqrt(count))
    return cols, math.ceil(count / cols)


ROLE_ORDER = [r.value for r in SessionRole]  # mediator first, then the parties, …


@dataclass(frozen=True)
class Tile:
    """One person's place in the grid: their video input (None: recorded without video) and label."""

    pid: str
    label: str
    video: int | None  # index of the input (= of the track) with their video
    x: int
    y: int


def tiles(tracks: Sequence[Track], labels: Mapping[str, Label]) -> list[Tile]:
    """A tile for every person recorded (video or audio), mediator first, then by role and by
    when they were first recorded; placed row by row."""
    first: dict[str, float] = {}
    video: dict[str, int] = {}
    for i, t in enumerate(tracks):
        first[t.pid] = min(first.get(t.pid, t.offset), t.offset)
        if t.kind == "video":
            video[t.pid] = i

    def rank(pid: str) -> tuple[int, float, str]:
        role = labels[pid].role if pid in labels else ""
        return (ROLE_ORDER.index(role) if role in ROLE_ORDER else len(ROLE_ORDER), first[pid], pid)

    people = sorted(first, key=rank)
    cols, _ = grid(len(people))
    out = []
    for n, pid in enumerate(people):
        label = labels.get(pid, Label(pid, "")).text()
        out.append(Tile(pid, label, video.get(pid), (n % cols) * TILE_W, (n // cols) * TILE_H))
    return out


def size_of(count: int) -> tuple[int, int]:
    """The download's picture size for `count` tiles."""
    cols, rows = grid(count)
    return cols * TILE_W, rows * TILE_H


# ---- the filter graph -------------------------------------------------------------------------


def _option_value(value: str) -> str:
    """A filter option's value, quoted so that ':' and the like are text; a quote in it ends the
    quoting, is escaped, and starts it again (ffmpeg-filters, "Notes on filtergraph escaping")."""
    return "'" + value.replace("'", "'\\''") + "'"


_GRAPH_SPECIAL = re.compile(r"([\\'\[\],;])")


def _filter(name: str, options: str) -> str:
    """`name=options` in a filter graph: the options escaped a second time, for the graph's own
    parser, which would otherwise end the filter at a ',' or ';' in a name."""
    escaped = _GRAPH_SPECIAL.sub(r"\\\1", options)
    return f"{name}={escaped}"


def label_filter(tile: Tile, font: CjkFont) -> str:
    """The drawtext of a tile's label: bottom left, white on a dark band, drawn verbatim."""
    return _filter(
        "drawtext",
        f"text={_option_value(tile.label)}:expansion=none:{font.drawtext_options()}:fontsize={LABEL_SIZE}"
        ":fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8:x=16:y=h-th-20",
    )


def clock_filter(start: datetime, font: CjkFont) -> str:
    """The drawtext of the Beijing time of each frame, top right: the frame's time on the
    session's timeline plus the wall clock of its start, shifted to UTC+8 and shown as UTC
    (so that ffmpeg's time zone does not matter)."""
    offset = start.timestamp() + BEIJING_OFFSET
    text = f"北京时间 %{{pts:gmtime:{offset:.3f}}}"
    return _filter(
        "drawtext",
        f"text={_option_value(text)}:expansion=normal:{font.drawtext_options()}:fontsize={CLOCK_SIZE}"
        ":fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=6:x=w-tw-16:y=14",
    )


def filter_graph(
    tracks: Sequence[Track], total: float, *, labels: Mapping[str, Label], font: CjkFont, start: datetime
) -> tuple[str, list[str]]:
    """The filter graph for a plan (pure, so that it can be tested on its own), and the outputs
    to map: the labelled grid with the clock, and the mixed audio."""
    parts, maps = [], []
    placed = tiles(tracks, labels)
    for n, tile in enumerate(placed):
        if tile.video is not None:
            t = tracks[tile.video]
            source = (
                f"[{tile.video}:v]setpts=PTS-STARTPTS+{t.offset:.6f}/TB,fps={FPS}:start_time=0,"
                f"scale={TILE_W}:{TILE_H}:force_original_aspect_ratio=decrease,"
                f"pad={TILE_W}:{TILE_H}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
                f"tpad=stop_mode=clone:stop_duration={total:.3f}"
            )
        else:  # heard, not seen: a dark tile that still says who it is
            source = f"color=c={AUDIO_ONLY_COLOUR}:s={TILE_W}x{TILE_H}:r={FPS}:d={total:.3f},setsar=1," + _filter(
                "drawtext",
                f"text={_option_value(AUDIO_ONLY_TEXT)}:expansion=none:{font.drawtext_options()}"
                f":fontsize={LABEL_SIZE}:fontcolor=0xb0b0b0:x=(w-tw)/2:y=(h-th)/2",
            )
        parts.append(f"{source},{label_filter(tile, font)}[v{n}]")
    if len(placed) > 1:
        layout = "|".join(f"{t.x}_{t.y}" for t in placed)
        inputs = "".join(f"[v{n}]" for n in range(len(placed)))
        parts.append(f"{inputs}xstack=inputs={len(placed)}:layout={layout}:fill=black[grid]")
        grid_out = "[grid]"
    else:
        grid_out = "[v0]"
    if placed:
        parts.append(f"{grid_out}{clock_filter(start, font)}[vout]")
        maps += ["-map", "[vout]"]
    audio = [(i, t) for i, t in enumerate(tracks) if t.kind == "audio"]
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
    return ";".join(parts), maps


def ffmpeg_command(
    tracks: Sequence[Track],
    lists: Sequence[Path],
    out: Path,
    total: float,
    *,
    labels: Mapping[str, Label],
    font: CjkFont,
    start: datetime,
    ffmpeg: str = "ffmpeg",
) -> list[str]:
    """The ffmpeg invocation for a plan (pure, so that it can be tested on its own)."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"]
    for concat in lists:  # one per track, in the same order
        cmd += ["-f", "concat", "-safe", "0", "-i", str(concat)]
    graph, maps = filter_graph(tracks, total, labels=labels, font=font, start=start)
    cmd += ["-filter_complex", graph, *maps, "-t", f"{total:.3f}"]
    people = len({t.pid for t in tracks})
    if people:
        cmd += ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", f"{600 * people}k"]
    if any(t.kind == "audio" for t in tracks):
        cmd += ["-c:a", "libopus", "-b:a", "64k"]
    cmd += ["-f", "webm", str(out)]
    return cmd


def start_of(segments: Sequence[Placed]) -> datetime | None:
    """The wall clock of the session's first recorded packet: the time at 0 in the download."""
    return min((s.first_wallclock for s in segments), default=None)


FontSource = Callable[[], CjkFont]


async def _set(core: Core, session_id: str, case_id: str, **values: Any) -> CompositeRecord:
    """Change the session's download state (`status`, `progress`, `error`…), making its row."""
    async with core.db.write() as tx:
        return await stored.save_composite(
            tx, session_id, case_id=case_id, at=core.clock.now(), initial_status=Status.queued, **values
        )


async def status(core: Core, session_id: str) -> CompositeRecord | None:
    async with core.db.read() as tx:
        return await stored.composite_of(tx, session_id)


async def make(
    core: Core, case_id: str, session_id: str, actor: Actor, *, fonts: FontSource = find_cjk_font
) -> CompositeRecord:
    """Make (or make again) the session's composite file. Never raises for a failed ffmpeg or
    a missing font: the failure is stored, with its message, for the case page. `fonts` finds
    the font the labels are drawn with."""
    data_dir = Path(core.settings.data_dir)
    async with core.db.read() as tx:
        deleted = await stored_retention.deleted_segments(tx, session_id)
    if deleted:  # what is left would be a partial recording, made of files nobody may keep
        return await _set(
            core,
            session_id,
            case_id,
            status=Status.deleted,
            progress=1.0,
            error="retention deleted this session's recording files (see recording.deleted in the case log)",
        )
    await _set(core, session_id, case_id, status=Status.running, progress=0.0, error=None)
    async with core.db.read() as tx:
        segments = await stored.segments_of_session(tx, session_id)
        labels = await labels_of(tx, case_id, session_id)
    tracks, total = plan(data_dir, segments)
    start = start_of(segments)
    if not tracks or start is None:
        return await _set(core, session_id, case_id, status=Status.empty, progress=1.0)
    try:
        font = await asyncio.to_thread(fonts)
    except FontMissing as exc:
        log.error("composite of %s: %s", session_id, exc)
        return await _set(core, session_id, case_id, status=Status.failed, error=str(exc)[:400])
    folder = session_dir(data_dir, case_id, session_id)
    work = folder / ".composite"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lists = []
    for n, t in enumerate(tracks):
        lists.append(work / f"{n}-{t.kind}.ffconcat")
        lists[-1].write_text(t.concat_list())
    part = work / "composite.webm.part"
    cmd = ffmpeg_command(
        tracks, lists, part, total, labels=labels, font=font, start=start, ffmpeg=shutil.which("ffmpeg") or "ffmpeg"
    )
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
    placed = tiles(tracks, labels)
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
                "size": list(size_of(len(placed))),
                "tiles": [{"pid": t.pid, "label": t.label} for t in placed],
                "starts_at": wire_time(start),
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
            last = await stored.last_viewed(tx, case_id, session_id, who, COMPOSITE_NAME)
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
            last = await stored.last_viewed(tx, case_id, session_id, who, COMPOSITE_NAME, before_seq=entry.seq)
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
