"""One participant's track (one `pid` and kind) as one file, for the review page: its WebM
segments remuxed with ffmpeg's concat demuxer and `-c copy`, never decoded or encoded.

Timeline. A track's segments come from one or more runs and connections: it may start late,
pause (a refusal, a caucus, a recording stopped and started again) and resume after a crash,
each time in new files. Every segment is placed by its first packet's wall clock
(`first_wallclock`): in the file, media time `m` is the wall clock `start + m`, so the holes
between segments stay holes (the file's timestamps jump over them) and are reported as gaps,
never closed up. Within a run, segments follow each other without a hole; the arrival time of
a segment's first packet may land a few milliseconds inside the previous one's last frame, and
such a segment is moved to the previous one's end instead (timestamps must grow): each segment
is placed anew by its own clock, so this never adds up. `Span`s say exactly which wall-clock
stretch each part of the file shows (`media_start`), so that a player maps the wall clock to
media time without assuming anything; `Gap`s are the holes of at least GAP_SECONDS, with why.

Evidence. Only the segments the evidence log holds are used, and each file is checked against
its logged SHA-256 before it is copied: a file that retention deleted, that is missing or that
no longer matches its hash is left out, and its place is a gap that says so (`deleted`,
`missing`, `altered`).

Cache. The file goes to `DATA_DIR/cache/tracks/<case>/<session>/<track id>.webm` (never the
source tree) with a sidecar (`.json`) holding its SHA-256, size, spans and gaps, and the key of
the segment list it was made from; a changed list (a new segment, a deleted file) makes it
again. Builders of one track take turns by a lock file, across processes and nodes sharing the
data directory; the file is replaced atomically, so a player reading the old one keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from .files import sha256_of

log = logging.getLogger("heshi.recordings")

FORMAT = 1  # of the sidecar and the cache key: a new format makes every track again
GAP_SECONDS = 0.25  # a hole shorter than this is not a gap worth showing (it stays in the file)
CACHE_FOLDER = PurePosixPath("cache", "tracks")
BUILD_TIMEOUT_SECONDS = 600.0
LOCK_TIMEOUT_SECONDS = 120.0
CONTENT_TYPES = {"video": "video/webm", "audio": "audio/webm"}
_TRACK_NAMESPACE = uuid.UUID("6f1d2c44-8f0e-4b8e-9a55-1f3f0d9c2a71")


class GapReason:
    not_recorded = "not_recorded"  # nothing was recorded of this track then (stopped, refused, reconnecting)
    deleted = "deleted"  # retention deleted the files; their log entries remain
    missing = "missing"  # a logged file is not on this server
    altered = "altered"  # a logged file no longer matches its SHA-256


class Segment(Protocol):
    """What a track reads of a logged segment (storage's segment records have it)."""

    @property
    def pid(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def index(self) -> int: ...
    @property
    def path(self) -> str: ...  # relative to the data directory
    @property
    def sha256(self) -> str: ...
    @property
    def first_wallclock(self) -> datetime: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def deleted_at(self) -> datetime | None: ...


def track_id(session_id: str, pid: str, kind: str) -> str:
    """A track's id: the same for the same session, participant and kind, on every node."""
    return str(uuid.uuid5(_TRACK_NAMESPACE, f"{session_id}/{pid}/{kind}"))


@dataclass(frozen=True)
class Span:
    """A stretch of wall clock (Unix seconds) the file shows, from `media_start` in the file on."""

    start: float
    end: float
    media_start: float

    def to_json(self) -> dict[str, float]:
        return {"start": self.start, "end": self.end, "media_start": self.media_start}


@dataclass(frozen=True)
class Gap:
    """A stretch of wall clock inside the track's range where it has no media, and why."""

    start: float
    end: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "reason": self.reason}


@dataclass(frozen=True)
class PlannedFile:
    path: str  # relative to the data directory
    sha256: str
    offset: float  # where it starts in the track's file, in seconds
    seconds: float  # until the next file starts (the concat demuxer's `duration`)


@dataclass(frozen=True)
class Plan:
    """Where each usable segment goes in the track's file, and the spans and gaps that gives."""

    start: float | None  # the wall clock at media time 0 (None: nothing usable)
    files: tuple[PlannedFile, ...]
    spans: tuple[Span, ...]
    gaps: tuple[Gap, ...]

    def concat_list(self, data_dir: Path) -> str:
        lines = ["ffconcat version 1.0"]
        for f in self.files:
            lines.append(f"file '{_quote(str(data_dir / f.path))}'")
            lines.append(f"duration {f.seconds:.6f}")
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return text.replace("'", "'\\''")


def _ordered(segments: Sequence[Segment]) -> list[Segment]:
    return sorted(segments, key=lambda s: (s.first_wallclock, s.index, s.path))


def plan(segments: Sequence[Segment], unusable: Mapping[str, str] | None = None) -> Plan:
    """Place one track's segments on the wall clock (pure). `unusable` maps the paths of
    segments that cannot be used to why (a GapReason); the rest go into the file, in order."""
    unusable = unusable or {}
    ordered = _ordered(segments)
    usable = [s for s in ordered if s.path not in unusable and s.deleted_at is None]
    files: list[PlannedFile] = []
    spans: list[Span] = []
    t0 = usable[0].first_wallclock.timestamp() if usable else None
    end = 0.0  # where the previous file's media ends
    span_media = 0.0
    for s in usable:
        assert t0 is not None
        offset = max(s.first_wallclock.timestamp() - t0, end)
        if files:
            if offset - end >= GAP_SECONDS:
                spans.append(Span(t0 + span_media, t0 + end, span_media))
                span_media = offset
            last = files[-1]
            files[-1] = PlannedFile(last.path, last.sha256, last.offset, offset - last.offset)
        else:
            span_media = offset
        length = max(float(s.duration_s), 0.001)
        files.append(PlannedFile(s.path, s.sha256, offset, length))
        end = offset + length
    if files and t0 is not None:
        spans.append(Span(t0 + span_media, t0 + end, span_media))
    return Plan(t0, tuple(files), tuple(spans), tuple(_gaps(ordered, spans, unusable)))


def _gaps(ordered: list[Segment], spans: list[Span], unusable: Mapping[str, str]) -> list[Gap]:
    """The holes of at least GAP_SECONDS between the track's first and last moment, with why."""
    if not ordered:
        return []
    first = min(s.first_wallclock.timestamp() for s in ordered)
    last = max(s.first_wallclock.timestamp() + max(float(s.duration_s), 0.0) for s in ordered)
    holes: list[tuple[float, float]] = []
    cursor = first
    for span in spans:
        if span.start - cursor >= GAP_SECONDS:
            holes.append((cursor, span.start))
        cursor = max(cursor, span.end)
    if last - cursor >= GAP_SECONDS:
        holes.append((cursor, last))
    lost = sorted(
        (s.first_wallclock.timestamp(), s.first_wallclock.timestamp() + float(s.duration_s), _why(s, unusable))
        for s in ordered
        if s.deleted_at is not None or s.path in unusable
    )
    gaps: list[Gap] = []
    for start, stop in holes:
        gaps.extend(_explain(start, stop, lost))
    return gaps


def _explain(start: float, stop: float, lost: list[tuple[float, float, str]]) -> list[Gap]:
    """A hole cut into what its lost segments were (each with its reason) and, around them, what
    was not recorded; pieces shorter than GAP_SECONDS join their neighbour."""
    pieces: list[tuple[float, float, str]] = []
    at = start
    for a, b, why in lost:
        a, b = max(a, at), min(b, stop)
        if b <= a:
            continue
        if a > at:
            pieces.append((at, a, GapReason.not_recorded))
        pieces.append((a, b, why))
        at = b
    if at < stop:
        pieces.append((at, stop, GapReason.not_recorded))
    merged: list[tuple[float, float, str]] = []
    for a, b, why in pieces:
        if merged and (why == merged[-1][2] or b - a < GAP_SECONDS):
            merged[-1] = (merged[-1][0], b, merged[-1][2])
        elif merged and merged[-1][1] - merged[-1][0] < GAP_SECONDS:
            merged[-1] = (merged[-1][0], b, why)
        else:
            merged.append((a, b, why))
    return [Gap(a, b, why) for a, b, why in merged]


def _why(s: Segment, unusable: Mapping[str, str]) -> str:
    return GapReason.deleted if s.deleted_at is not None else unusable.get(s.path, GapReason.missing)


def source_key(segments: Sequence[Segment]) -> str:
    """What the track is made from, as logged: a change to the list makes the file again."""
    rows = [
        [s.path, s.sha256, s.first_wallclock.timestamp(), float(s.duration_s), s.deleted_at is not None]
        for s in _ordered(segments)
    ]
    return hashlib.sha256(json.dumps([FORMAT, rows], separators=(",", ":")).encode()).hexdigest()


# ---- the file ----------------------------------------------------------------------------------


class TrackError(Exception):
    """The track's file could not be made (ffmpeg failed, the disk, a lock held too long)."""


@dataclass(frozen=True)
class Track:
    """One participant's track, made: its file (None when no segment of it can be used), the
    file's SHA-256 and size, and where on the wall clock its media is."""

    id: str
    pid: str
    kind: str
    path: Path | None
    sha256: str | None
    bytes: int | None
    start: float | None
    spans: tuple[Span, ...]
    gaps: tuple[Gap, ...]
    segments: int  # how many logged segments the file holds

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]

    @property
    def end(self) -> float | None:
        return self.spans[-1].end if self.spans else None


def cache_dir(data_dir: Path, case_id: str, session_id: str) -> Path:
    return Path(data_dir) / CACHE_FOLDER / case_id / session_id


async def ensure(
    data_dir: Path,
    case_id: str,
    session_id: str,
    pid: str,
    kind: str,
    segments: Sequence[Segment],
    *,
    ffmpeg: str | None = None,
) -> Track:
    """The track's file, made (or made again) if the cache does not hold it for these segments.
    `segments` are the session's logged segments of this pid and kind."""
    if kind not in CONTENT_TYPES:
        raise ValueError(f"unknown media kind: {kind!r}")
    mine = [s for s in segments if s.pid == pid and s.kind == kind]
    tid = track_id(session_id, pid, kind)
    folder = cache_dir(data_dir, case_id, session_id)
    key = source_key(mine)
    cached = _cached(folder, tid, key, pid, kind)
    if cached is not None:
        return cached
    folder.mkdir(parents=True, exist_ok=True)
    async with _locked(folder / f"{tid}.lock"):
        cached = _cached(folder, tid, key, pid, kind)  # made by whoever held the lock before us
        if cached is not None:
            return cached
        return await _build(
            Path(data_dir), folder, tid, key, pid, kind, mine, ffmpeg or shutil.which("ffmpeg") or "ffmpeg"
        )


def _cached(folder: Path, tid: str, key: str, pid: str, kind: str) -> Track | None:
    try:
        meta = json.loads((folder / f"{tid}.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("source_key") != key:
        return None
    path = folder / f"{tid}.webm"
    if meta.get("sha256") is not None:
        try:
            if path.stat().st_size != meta.get("bytes"):
                return None
        except OSError:
            return None
    return _track_of(meta, tid, pid, kind, path if meta.get("sha256") is not None else None)


def _track_of(meta: dict[str, Any], tid: str, pid: str, kind: str, path: Path | None) -> Track:
    return Track(
        id=tid,
        pid=pid,
        kind=kind,
        path=path,
        sha256=meta.get("sha256"),
        bytes=meta.get("bytes"),
        start=meta.get("start"),
        spans=tuple(Span(float(s["start"]), float(s["end"]), float(s["media_start"])) for s in meta["spans"]),
        gaps=tuple(Gap(float(g["start"]), float(g["end"]), str(g["reason"])) for g in meta["gaps"]),
        segments=int(meta.get("segments", 0)),
    )


@contextlib.asynccontextmanager
async def _locked(path: Path) -> AsyncIterator[None]:
    """An exclusive lock on `path` (flock), waited for without blocking the loop."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise TrackError(f"cannot lock {path.name}: {exc}") from exc
                if time.monotonic() > deadline:
                    raise TrackError(f"another builder has held {path.name} for too long") from None
                await asyncio.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _check(data_dir: Path, segments: Sequence[Segment]) -> dict[str, str]:
    """The segments that cannot go into the file, and why: the file is gone or no longer matches
    its logged SHA-256. (Runs in a thread: it reads every file.)"""
    unusable: dict[str, str] = {}
    for s in segments:
        if s.deleted_at is not None:
            continue
        path = data_dir / s.path
        try:
            digest, _size = sha256_of(path)
        except FileNotFoundError:
            unusable[s.path] = GapReason.missing
            continue
        except OSError as exc:
            log.warning("cannot read segment %s: %s", s.path, exc)
            unusable[s.path] = GapReason.missing
            continue
        if digest != s.sha256:
            log.error("segment %s does not match its logged SHA-256: left out of its track", s.path)
            unusable[s.path] = GapReason.altered
    return unusable


async def _build(
    data_dir: Path,
    folder: Path,
    tid: str,
    key: str,
    pid: str,
    kind: str,
    segments: Sequence[Segment],
    ffmpeg: str,
) -> Track:
    unusable = await asyncio.to_thread(_check, data_dir, segments)
    p = plan(segments, unusable)
    final = folder / f"{tid}.webm"
    meta: dict[str, Any] = {
        "format": FORMAT,
        "source_key": key,
        "pid": pid,
        "kind": kind,
        "start": p.start,
        "spans": [s.to_json() for s in p.spans],
        "gaps": [g.to_json() for g in p.gaps],
        "segments": len(p.files),
        "files": [{"path": f.path, "sha256": f.sha256, "offset": f.offset} for f in p.files],
        "sha256": None,
        "bytes": None,
    }
    if not p.files:
        with contextlib.suppress(FileNotFoundError):
            final.unlink()
        _write_json(folder / f"{tid}.json", meta)
        return _track_of(meta, tid, pid, kind, None)
    stamp = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    listing = folder / f".{tid}-{stamp}.ffconcat"
    part = folder / f".{tid}-{stamp}.webm.part"
    try:
        listing.write_text(p.concat_list(data_dir))
        await _remux(ffmpeg, listing, part)
        digest, size = await asyncio.to_thread(sha256_of, part, fsync=True)
        os.replace(part, final)
    finally:
        for leftover in (listing, part):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    meta.update(sha256=digest, bytes=size)
    _write_json(folder / f"{tid}.json", meta)
    log.info("track %s of %s (%s) made from %d segments: %d bytes", tid, pid, kind, len(p.files), size)
    return _track_of(meta, tid, pid, kind, final)


async def _remux(ffmpeg: str, listing: Path, out: Path) -> None:
    cmd = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        str(listing),
        "-map",
        "0",
        "-c",
        "copy",
        "-cues_to_front",
        "1",  # the index first: a player seeks without fetching the end of the file
        "-f",
        "webm",
        str(out),
    ]
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise TrackError(f"cannot run ffmpeg: {exc}") from exc
    try:
        _, err = await asyncio.wait_for(proc.communicate(), BUILD_TIMEOUT_SECONDS)
    except BaseException as exc:  # timed out, or the request went away: no ffmpeg is left behind
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise TrackError(f"ffmpeg took longer than {BUILD_TIMEOUT_SECONDS:.0f} s") from None
        raise
    if proc.returncode != 0 or not await asyncio.to_thread(out.exists):
        message = err.decode(errors="replace").strip()[-400:] or f"ffmpeg exited with {proc.returncode}"
        raise TrackError(message)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    part = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}")
    part.write_text(json.dumps(data, indent=1))
    os.replace(part, path)
