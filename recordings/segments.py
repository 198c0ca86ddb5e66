"""Per-track WebM segments muxed from encoded frames: no decoding, no encoding.

Each remote track is written as a series of short WebM files, so that a crash loses at
most the segment being written. A segment is written to `<name>.webm.part`; when it ends
it is closed, fsynced and hashed, described in `<name>.json` (the sidecar), and only then
published as `<name>.webm` and reported. Publishing is a hard link plus unlink, so an
existing file is never replaced, and a finished file is never opened for writing again:
a failing disk (ENOSPC, EIO) stops the writer with a `SegmentDiskError` and leaves every
finished segment intact. A `.part` file is never reported.

Timing: packets carry the sender's RTP timestamps, unwrapped across the 32-bit
wraparound, in the RTP clock's time base (1/90000 video, 1/48000 Opus; WebM rewrites it to
1/1000). Each file starts at 0; the sidecar holds the first RTP timestamp, the wall clock
of the first packet and the RTCP sender reports (NTP <-> RTP) that line tracks up.

Cuts: a segment never lasts longer than `max_seconds`. A video segment starts on a
keyframe: from `keyframe_request_at` of the maximum on, the writer asks the sender for a
keyframe (again every `keyframe_retry_seconds`) and cuts at the first one that comes. If
none has come by the maximum, the cap wins: the segment ends there, and the inter frames
that follow are dropped (counted in the next segment's `dropped_frames`) until a keyframe
starts the next segment, still asked for every retry interval. Browsers answer a PLI
within a round trip, so this only loses frames on a badly broken link.

The writer runs on the event loop: its frame path is called from aiortc's packet handler
and never raises. Closing, fsync and hashing a finished segment run in a thread, one
segment after another, so segments are published and reported in order.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import io
import json
import logging
import os
import re
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
from av.container import OutputContainer
from av.stream import Stream

from recordings.files import sha256_of
from recordings.tap import EncodedFrame, SenderReport, rtp_timestamp_delta

log = logging.getLogger("heshi.recordings")

SIDECAR_FORMAT = 1

# aiortc codec name (lowercased) -> (media kind, FFmpeg codec name); WebM carries these.
_MUXED_CODECS = {"vp8": ("video", "vp8"), "opus": ("audio", "opus")}
_NOMINAL_FPS = {"video": 30, "audio": 50}  # a first frame's duration guess: 30 fps, 20 ms
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class SegmentPolicy:
    max_seconds: float = 10.0
    keyframe_request_at: float = 0.8  # fraction of max_seconds from which a video cut is due
    keyframe_retry_seconds: float = 0.5
    write_sidecar: bool = True

    def __post_init__(self) -> None:
        if not self.max_seconds > 0:
            raise ValueError(f"max_seconds must be positive: {self.max_seconds}")
        if not 0 < self.keyframe_request_at <= 1:
            raise ValueError(f"keyframe_request_at must be in (0, 1]: {self.keyframe_request_at}")
        if not self.keyframe_retry_seconds > 0:
            raise ValueError(f"keyframe_retry_seconds must be positive: {self.keyframe_retry_seconds}")


class SegmentError(Exception):
    """The writer stopped: no further segment will be written. Finished ones are intact."""

    def __init__(self, message: str, *, path: Path | None = None, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.cause = cause


class SegmentDiskError(SegmentError):
    """Writing to disk failed (no space, I/O error, permissions)."""

    @property
    def errno(self) -> int | None:
        return self.cause.errno if isinstance(self.cause, OSError) else None


class UnsupportedCodec(SegmentError):
    pass


@dataclass(frozen=True)
class FinishedSegment:
    """A published segment: the file, its hash and what is needed to line it up."""

    path: Path
    sha256: str
    size_bytes: int
    index: int
    track_id: str
    kind: str
    codec: str  # as muxed: "vp8" | "opus"
    clock_rate: int
    ssrc: int | None
    first_rtp_timestamp: int  # 32-bit, as the sender stamped the first frame
    first_packet_at: float  # our wall clock when the first frame's first packet arrived
    frame_count: int
    duration_seconds: float
    dropped_frames: int  # frames dropped since the previous segment (waiting for a keyframe, late)
    ended_by: str  # keyframe | resolution | max_duration | stop | discontinuity | codec
    sender_reports: tuple[SenderReport, ...]  # the last one before the segment and those during it
    width: int | None = None
    height: int | None = None
    sidecar: Path | None = None

    @property
    def sender_wall_clock(self) -> float | None:
        """The sender's wall clock (unix seconds) at the first frame, by the latest sender report."""
        if not self.sender_reports:
            return None
        return self.sender_reports[-1].wall_clock_at(self.first_rtp_timestamp, self.clock_rate)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SIDECAR_FORMAT,
            "file": self.path.name,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "index": self.index,
            "track_id": self.track_id,
            "kind": self.kind,
            "codec": self.codec,
            "clock_rate": self.clock_rate,
            "ssrc": self.ssrc,
            "first_rtp_timestamp": self.first_rtp_timestamp,
            "first_packet_at": self.first_packet_at,
            "sender_wall_clock": self.sender_wall_clock,
            "frame_count": self.frame_count,
            "duration_seconds": self.duration_seconds,
            "dropped_frames": self.dropped_frames,
            "ended_by": self.ended_by,
            "width": self.width,
            "height": self.height,
            "sender_reports": [r.to_json() for r in self.sender_reports],
        }


class TimestampUnwrapper:
    """Extends 32-bit RTP timestamps to a count that keeps growing across the wraparound."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._extended = 0

    def unwrap(self, timestamp: int) -> int:
        if self._last is None:
            self._extended = timestamp
        else:
            self._extended += rtp_timestamp_delta(timestamp, self._last)
        self._last = timestamp
        return self._extended


def open_new_file(path: Path) -> BinaryIO:
    """Create `path` for writing; fail if it exists (a `.part` is never shared)."""
    return open(path, "xb")


def opus_head(channels: int = 2) -> bytes:
    """OpusHead (RFC 7845 section 5.1) for WebM's CodecPrivate.

    No pre-skip: the recording starts mid-stream. RTP Opus is always signalled as two
    channels; mono packets decode fine with a stereo header.
    """
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 0, 48000, 0, 0)


def _add_opus_stream(container: OutputContainer) -> Stream:
    # add_mux_stream() cannot set channels or CodecPrivate, and WebM players need both.
    # A stream copied from a template gets a codec context that PyAV never opens (no
    # encoder runs) but whose parameters it copies into the file header.
    scratch = av.open(io.BytesIO(), "w", format="webm")
    try:
        template = scratch.add_stream("libopus", rate=48000)
        stream = container.add_stream_from_template(template)
    finally:
        scratch.close()
    context = stream.codec_context
    context.extradata = opus_head()
    context.layout = "stereo"
    context.sample_rate = 48000
    return stream


@dataclass(eq=False)
class _OpenSegment:
    index: int
    part: Path
    final: Path
    sidecar: Path
    file: BinaryIO
    container: OutputContainer
    stream: Stream
    codec: str
    clock_rate: int
    max_ticks: int
    first_ext: int
    first: EncodedFrame
    dropped_before: int
    reports: list[SenderReport]
    width: int | None = None
    height: int | None = None
    frames: int = 0
    end_ext: int = 0
    ended_by: str = ""
    time_base: Fraction = field(init=False)

    def __post_init__(self) -> None:
        self.time_base = Fraction(1, self.clock_rate)

    def mux(self, frame: EncodedFrame, ext: int, duration: int) -> None:
        packet = av.Packet(frame.data)
        packet.stream = self.stream
        packet.time_base = self.time_base
        packet.pts = packet.dts = ext - self.first_ext
        packet.duration = duration
        packet.is_keyframe = frame.keyframe
        self.container.mux(packet)
        self.frames += 1
        self.end_ext = ext + duration

    def abort(self) -> None:
        """Drop the file handles after a failure; the `.part` stays where it is, unreported."""
        # Closing the file first makes PyAV skip the trailer it could not write anyway.
        for close in (self.file.close, self.container.close):
            try:
                close()
            except Exception:
                pass


class SegmentWriter:
    """Writes one track's encoded frames as WebM segments. A FrameSink for ReceiverTap.

    `request_keyframe` is called (on the loop) when a video cut is due, e.g. the tap's
    `request_keyframe`. `on_segment` gets each FinishedSegment in order, after it is
    published; `on_error` gets the one SegmentError that stopped the writer (segments
    already ended before it may still be published and reported after it). Both may be
    plain functions or coroutine functions; exceptions they raise are logged.
    Use it on the event loop: it schedules publishing there.
    """

    def __init__(
        self,
        directory: Path | str,
        stem: str,
        *,
        track_id: str,
        kind: str,
        policy: SegmentPolicy | None = None,
        request_keyframe: Callable[[], object] | None = None,
        on_segment: Callable[[FinishedSegment], Awaitable[None] | None] | None = None,
        on_error: Callable[[SegmentError], Awaitable[None] | None] | None = None,
        open_part: Callable[[Path], BinaryIO] = open_new_file,
        first_index: int = 0,
    ) -> None:
        if not _STEM.fullmatch(stem):
            raise ValueError(f"segment stem must be a plain file name: {stem!r}")
        if kind not in ("audio", "video"):
            raise ValueError(f"unknown media kind: {kind!r}")
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise NotADirectoryError(f"no such directory: {self.directory}")
        self.stem = stem
        self.track_id = track_id
        self.kind = kind
        self.policy = policy or SegmentPolicy()
        self._request_keyframe = request_keyframe
        self._on_segment = on_segment
        self._on_error = on_error
        self._open_part = open_part
        self._next_index = first_index

        self.finished: list[FinishedSegment] = []
        self.error: SegmentError | None = None
        self.dropped_frames = 0
        self.keyframe_requests = 0
        self._closed = False
        self._segment: _OpenSegment | None = None
        self._held: tuple[EncodedFrame, int] | None = None  # muxed once the next frame gives its duration
        self._unwrapper = TimestampUnwrapper()
        self._last_ext: int | None = None
        self._interval: int | None = None
        self._last_request_ext: int | None = None
        self._dropped_since_segment = 0
        self._latest_reports: dict[int, SenderReport] = {}  # by SSRC
        self._tail: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def closed(self) -> bool:
        """Finished, stopped or failed: further frames are dropped."""
        return self._closed

    # --- FrameSink ---

    def on_frame(self, frame: EncodedFrame) -> None:
        if self._closed:
            self.dropped_frames += 1
            return
        try:
            self._accept(frame)
        except Exception as exc:
            self._fail(exc, self._segment.part if self._segment else None)

    def on_sender_report(self, report: SenderReport) -> None:
        self._latest_reports[report.ssrc] = report
        if self._segment is not None:
            self._segment.reports.append(report)

    def on_end(self) -> None:
        self.finish()

    # --- lifetime ---

    def finish(self) -> None:
        """End the current segment cleanly and accept no more frames; publishing continues in the background."""
        if self._closed:
            return
        self._closed = True
        if self._segment is not None:
            try:
                self._close_segment("stop", None)
            except Exception as exc:
                self._fail(exc, self._segment.part if self._segment else None)

    async def stop(self) -> list[FinishedSegment]:
        """finish(), then wait until every segment is published (or the writer failed)."""
        self.finish()
        await self.drain()
        return list(self.finished)

    async def drain(self) -> None:
        """Wait for the segments being published and the hooks being called."""
        while True:
            pending = [t for t in (self._tail, *self._tasks) if t is not None and not t.done()]
            if not pending:
                return
            await asyncio.wait(pending)

    # --- frame path (on the loop; everything raised here ends in _fail) ---

    def _accept(self, frame: EncodedFrame) -> None:
        if frame.kind != self.kind:
            raise SegmentError(f"a {frame.kind} frame on the {self.kind} track {self.track_id}")
        muxed = _MUXED_CODECS.get(frame.codec.lower())
        if muxed is None or muxed[0] != frame.kind:
            raise UnsupportedCodec(f"cannot record {frame.kind} codec {frame.codec!r} into WebM")
        codec = muxed[1]

        ext = self._unwrapper.unwrap(frame.rtp_timestamp)
        if self._last_ext is not None and ext <= self._last_ext:
            if self._last_ext - ext < frame.clock_rate:
                self._drop()  # late or repeated
                return
            # The sender's clock jumped back (a new stream): end the segment, start a new timeline.
            if self._segment is not None:
                self._close_segment("discontinuity", None)
            self._unwrapper = TimestampUnwrapper()
            ext = self._unwrapper.unwrap(frame.rtp_timestamp)
            self._last_ext = self._interval = None
        if self._last_ext is not None:
            self._interval = ext - self._last_ext
        self._last_ext = ext

        segment = self._segment
        if segment is not None:
            if codec != segment.codec or frame.clock_rate != segment.clock_rate:
                self._close_segment("codec", ext)
            else:
                self._cut_if_due(segment, frame, ext)

        if self._segment is None:
            if not frame.keyframe:
                self._drop()
                self._ask_for_keyframe(ext, frame.clock_rate)
                return
            self._open_segment(frame, ext, codec)
        self._append(frame, ext)

    def _cut_if_due(self, segment: _OpenSegment, frame: EncodedFrame, ext: int) -> None:
        elapsed = ext - segment.first_ext
        due = segment.max_ticks * self.policy.keyframe_request_at
        would_overrun = elapsed + self._estimated_duration(segment) > segment.max_ticks
        if self.kind == "audio":
            if would_overrun:
                self._close_segment("max_duration", ext)
            return
        if frame.keyframe and (frame.width, frame.height) != (segment.width, segment.height):
            self._close_segment("resolution", ext)
        elif frame.keyframe and elapsed >= due:
            self._close_segment("keyframe", ext)
        elif would_overrun:
            self._close_segment("max_duration", ext)
        elif elapsed >= due:
            self._ask_for_keyframe(ext, frame.clock_rate)

    def _estimated_duration(self, segment: _OpenSegment) -> int:
        """How long the frame being added will last: the last interval, at most a tenth of the cap."""
        nominal = segment.clock_rate // _NOMINAL_FPS[self.kind]
        return max(1, min(self._interval or nominal, segment.max_ticks // 10))

    def _ask_for_keyframe(self, ext: int, clock_rate: int) -> None:
        if self.kind != "video" or self._request_keyframe is None:
            return
        retry = self.policy.keyframe_retry_seconds * clock_rate
        if self._last_request_ext is not None and 0 <= ext - self._last_request_ext < retry:
            return
        self._last_request_ext = ext
        self.keyframe_requests += 1
        try:
            self._request_keyframe()
        except Exception:
            log.warning("keyframe request failed on track %s", self.track_id, exc_info=True)

    def _drop(self) -> None:
        self.dropped_frames += 1
        self._dropped_since_segment += 1

    def _open_segment(self, frame: EncodedFrame, ext: int, codec: str) -> None:
        index = self._next_index
        self._next_index += 1
        name = f"{self.stem}-{index:05d}"
        final = self.directory / f"{name}.webm"
        sidecar = self.directory / f"{name}.json"
        part = self.directory / f"{name}.webm.part"
        for existing in (final, sidecar):
            if existing.exists():
                raise SegmentError(f"{existing} already exists: refusing to overwrite it", path=existing)
        try:
            file = self._open_part(part)
        except OSError as exc:
            raise SegmentDiskError(f"cannot create {part}: {exc}", path=part, cause=exc) from exc
        try:
            container = av.open(file, "w", format="webm")
            if codec == "vp8":
                stream = container.add_mux_stream("vp8", width=frame.width or 0, height=frame.height or 0)
            else:
                stream = _add_opus_stream(container)
        except BaseException:
            file.close()
            raise
        # The sender's latest report (NTP <-> RTP) before this segment, so that every segment can be placed.
        if frame.ssrc is None:
            carried = list(self._latest_reports.values())
        else:
            carried = [self._latest_reports[frame.ssrc]] if frame.ssrc in self._latest_reports else []
        self._segment = _OpenSegment(
            index=index,
            part=part,
            final=final,
            sidecar=sidecar,
            file=file,
            container=container,
            stream=stream,
            codec=codec,
            clock_rate=frame.clock_rate,
            max_ticks=round(self.policy.max_seconds * frame.clock_rate),
            first_ext=ext,
            first=frame,
            dropped_before=self._dropped_since_segment,
            reports=carried,
            width=frame.width,
            height=frame.height,
        )
        self._dropped_since_segment = 0
        self._last_request_ext = None

    def _append(self, frame: EncodedFrame, ext: int) -> None:
        assert self._segment is not None
        if self._held is not None:
            held, held_ext = self._held
            self._segment.mux(held, held_ext, ext - held_ext)
        self._held = (frame, ext)

    def _close_segment(self, reason: str, next_ext: int | None) -> None:
        """Mux the held frame, then hand the segment over to be published."""
        segment = self._segment
        assert segment is not None
        if self._held is not None:
            held, held_ext = self._held
            remaining = segment.max_ticks - (held_ext - segment.first_ext)
            duration = next_ext - held_ext if next_ext is not None else self._estimated_duration(segment)
            self._held = None
            segment.mux(held, held_ext, max(1, min(duration, remaining)))
        segment.ended_by = reason
        self._segment = None
        log.debug("track %s segment %d ends (%s) after %d frames", self.track_id, segment.index, reason, segment.frames)
        previous = self._tail
        self._tail = asyncio.get_running_loop().create_task(self._publish_after(previous, segment))

    # --- publishing (a thread per segment, in order) ---

    async def _publish_after(self, previous: asyncio.Task[None] | None, segment: _OpenSegment) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            finished = await asyncio.to_thread(_publish, segment, self.track_id, self.kind, self.policy.write_sidecar)
        except Exception as exc:
            segment.abort()
            self._fail(exc, segment.part)
            return
        self.finished.append(finished)
        if self._on_segment is not None:
            await _call_hook(self._on_segment, finished)

    def _fail(self, exc: BaseException, path: Path | None) -> None:
        if isinstance(exc, SegmentError):
            error = exc
        elif isinstance(exc, OSError):
            error = SegmentDiskError(f"cannot write {path}: {exc}", path=path, cause=exc)
        else:
            log.error("recording track %s failed unexpectedly", self.track_id, exc_info=exc)
            error = SegmentError(f"recording failed at {path}: {exc!r}", path=path, cause=exc)
        if self.error is not None:
            log.warning("track %s: a further error after the writer stopped: %s", self.track_id, error)
            return
        self.error = error
        self._closed = True
        log.error("recording track %s stopped: %s", self.track_id, error)
        if self._segment is not None:
            self._segment.abort()
            self._segment = None
            self._held = None
        if self._on_error is not None:
            try:
                task = asyncio.get_running_loop().create_task(_call_hook(self._on_error, error))
            except RuntimeError:  # no loop: nothing to call the hook on; `error` says it all
                return
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _call_hook(hook: Callable[[Any], Awaitable[None] | None], argument: Any) -> None:
    try:
        result = hook(argument)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("recording hook %r failed", hook)


def _publish(segment: _OpenSegment, track_id: str, kind: str, write_sidecar: bool) -> FinishedSegment:
    """Close, fsync, hash, describe and publish one segment. Runs in a thread."""
    try:
        segment.container.close()
    finally:
        segment.file.close()
    sha256, size = sha256_of(segment.part, fsync=True)
    finished = FinishedSegment(
        path=segment.final,
        sha256=sha256,
        size_bytes=size,
        index=segment.index,
        track_id=track_id,
        kind=kind,
        codec=segment.codec,
        clock_rate=segment.clock_rate,
        ssrc=segment.first.ssrc,
        first_rtp_timestamp=segment.first.rtp_timestamp,
        first_packet_at=segment.first.received_at,
        frame_count=segment.frames,
        duration_seconds=(segment.end_ext - segment.first_ext) / segment.clock_rate,
        dropped_frames=segment.dropped_before,
        ended_by=segment.ended_by,
        sender_reports=tuple(r for r in segment.reports if segment.first.ssrc is None or r.ssrc == segment.first.ssrc),
        width=segment.width,
        height=segment.height,
        sidecar=segment.sidecar if write_sidecar else None,
    )
    # The sidecar goes first: a crash in between leaves a .part its sidecar vouches for.
    if write_sidecar:
        _write_new_file(segment.sidecar, json.dumps(finished.to_json(), indent=2).encode() + b"\n")
    _publish_file(segment.part, segment.final)
    _fsync_directory(segment.final.parent)
    return finished


def _write_new_file(path: Path, data: bytes) -> None:
    part = path.with_name(path.name + ".part")
    with open(part, "xb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    _publish_file(part, path)


def _publish_file(part: Path, final: Path) -> None:
    """Atomically give `part` its final name, never replacing an existing file."""
    try:
        os.link(part, final)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        # No hard links on this filesystem: rename, after checking (not atomically) for a clash.
        if final.exists():
            raise FileExistsError(errno.EEXIST, "refusing to overwrite", str(final)) from exc
        os.rename(part, final)
        return
    os.unlink(part)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
