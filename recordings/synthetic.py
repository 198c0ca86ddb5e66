"""Synthetic recordings: known media written through the recorder's own parts, with no peers.

The media are generated here: real VP8 video (libvpx, a moving texture) and real Opus audio
(libopus, a 400 Hz tone). No browser, no WebRTC peer and no recorder worker is involved. The
frames go through the recorder's own `SegmentWriter` (recordings/segments.py) into WebM
segments in the session's recording directory, and each finished segment is reported to the
evidence log exactly as a worker reports it (recordings/worker.py → `evidence.save_segment`:
the node checks the size and SHA-256 and logs `recording.segment` as `recorder:<run id>`).
The wall clock of each segment is the one the caller chooses.

Used by `heshi demo` (server/services/demo.py: the demo case's recorded session, marked as
sample data) and by the tests that need real recording files without a live room.
"""

from __future__ import annotations

import array
import fractions
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import av

from recordings import evidence
from recordings.segments import FinishedSegment, SegmentPolicy, SegmentWriter
from recordings.tap import EncodedFrame, describe_frame
from server.domain.actors import Actor
from server.services.core import Core

VIDEO_RATE = 90000
FPS = 30
SAMPLE_RATE = 48000
AUDIO_FRAME = 960  # 20 ms

_TEXTURE = bytes((x * 3) % 256 for x in range(1024)) * 1024  # 1 MiB, enough for 640x480 luma plus shifts


def fill_pattern(frame: av.VideoFrame, index: int) -> None:
    """A diagonal texture shifted a few bytes per frame: every frame has real motion."""
    luma, *chroma = frame.planes
    offset = (index * 7) % 1024
    luma.update(_TEXTURE[offset : offset + luma.buffer_size])
    for plane in chroma:
        plane.update(bytes([128]) * plane.buffer_size)


class Vp8Source:
    """A VP8 encoder producing frames on demand; a keyframe whenever asked for."""

    def __init__(self, width: int = 160, height: int = 120) -> None:
        self.width, self.height = width, height
        self._codec = av.CodecContext.create("libvpx", "w")
        self._codec.width, self._codec.height = width, height
        self._codec.pix_fmt = "yuv420p"
        self._codec.time_base = fractions.Fraction(1, VIDEO_RATE)
        self._codec.gop_size = 100000  # keyframes only when asked
        self._codec.bit_rate = 400_000
        self._codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        self._index = 0

    def next(self, keyframe: bool = False) -> bytes:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        fill_pattern(frame, self._index)
        frame.pts = self._index * (VIDEO_RATE // FPS)
        frame.time_base = fractions.Fraction(1, VIDEO_RATE)
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        self._index += 1
        data = b"".join(bytes(p) for p in self._codec.encode(frame))
        if not data:
            raise RuntimeError("libvpx buffered a frame despite lag-in-frames=0")
        return data


def opus_packets(count: int) -> Iterator[bytes]:
    """`count` Opus packets of 20 ms (a 400 Hz tone), as a browser would send them."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = SAMPLE_RATE
    codec.layout = "stereo"
    codec.format = "s16"
    codec.open()
    samples = array.array("h")
    for n in range(AUDIO_FRAME):
        value = int(8000 * math.sin(2 * math.pi * 400 * n / SAMPLE_RATE))
        samples.extend((value, value))
    produced = 0
    index = 0
    while produced < count:
        frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_FRAME)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = index * AUDIO_FRAME
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        index += 1
        for packet in codec.encode(frame):
            if produced < count:
                produced += 1
                yield bytes(packet)


async def write_track(
    folder: Path,
    stem: str,
    kind: str,
    start: datetime,
    seconds: float,
    *,
    segment_seconds: float = 1.0,
    track_id: str | None = None,
) -> list[FinishedSegment]:
    """`seconds` of one participant's VP8 video (160×120, 30 fps) or Opus audio (20 ms packets),
    whose first packet arrived at `start`, written by the recorder's `SegmentWriter` as WebM
    segments of at most `segment_seconds` (video cut at the keyframe the writer asks for)."""
    finished: list[FinishedSegment] = []
    keyframe = True

    def ask() -> None:
        nonlocal keyframe
        keyframe = True

    writer = SegmentWriter(
        folder,
        stem,
        track_id=track_id or stem,
        kind=kind,
        policy=SegmentPolicy(max_seconds=segment_seconds, keyframe_retry_seconds=0.1),
        request_keyframe=ask,
        on_segment=finished.append,
    )
    t0 = start.timestamp()
    if kind == "video":
        source = Vp8Source()
        step = VIDEO_RATE // FPS
        for i in range(round(seconds * FPS)):
            data = source.next(keyframe=keyframe)
            keyframe = False
            key, width, height = describe_frame("VP8", data)
            writer.on_frame(
                EncodedFrame(
                    "video", "VP8", VIDEO_RATE, (7000 + i * step) % 2**32, data, key, t0 + i / FPS, 11, width, height
                )
            )
    else:
        per_second = SAMPLE_RATE // AUDIO_FRAME
        for i, data in enumerate(opus_packets(round(seconds * per_second))):
            writer.on_frame(
                EncodedFrame(
                    "audio", "opus", SAMPLE_RATE, (900 + i * AUDIO_FRAME) % 2**32, data, True, t0 + i / per_second, 12
                )
            )
    await writer.stop()
    if writer.error is not None:
        raise writer.error
    return finished


def segment_report(data_dir: Path, pid: str, seg: FinishedSegment) -> dict[str, object]:
    """A finished segment as a recorder worker reports it to its node."""
    return {
        "pid": pid,
        "kind": seg.kind,
        "codec": seg.codec,
        "track": seg.track_id,
        "index": seg.index,
        "path": seg.path.relative_to(data_dir).as_posix(),
        "sha256": seg.sha256,
        "bytes": seg.size_bytes,
        "frames": seg.frame_count,
        "duration_s": seg.duration_seconds,
        "first_wallclock": seg.first_packet_at,
        "first_rtp_ts": seg.first_rtp_timestamp,
        "sender_reports": [],
    }


async def log_segments(core: Core, run_id: str, pid: str, data_dir: Path, segments: list[FinishedSegment]) -> list[str]:
    """Report each finished segment to the node, as a recorder worker does (logged as
    `recorder:<run id>`); the segment ids."""
    return [
        await evidence.save_segment(core, run_id, Actor.recorder(run_id), segment_report(data_dir, pid, seg))
        for seg in segments
    ]
