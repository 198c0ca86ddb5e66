"""Known synthetic media for recording tests: paced aiortc tracks and pre-encoded frames."""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import time
from collections.abc import Iterator

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

VIDEO_RATE = 90000
FPS = 30
SAMPLE_RATE = 48000
AUDIO_FRAME = 960  # 20 ms


_TEXTURE = bytes((x * 3) % 256 for x in range(1024)) * 1024  # 1 MiB, enough for 640x480 luma plus shifts


def _fill(frame: av.VideoFrame, index: int) -> None:
    # A diagonal texture shifted a few bytes per frame: every frame has real motion.
    luma, *chroma = frame.planes
    offset = (index * 7) % 1024
    luma.update(_TEXTURE[offset : offset + luma.buffer_size])
    for plane in chroma:
        plane.update(bytes([128]) * plane.buffer_size)


class _PacedTrack(MediaStreamTrack):
    """`frames` frames in real time, one every `interval` seconds, then the track ends."""

    interval = 0.0

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.frames = frames
        self.sent = 0
        self._start: float | None = None

    async def _next(self) -> None:
        """Wait for the next frame's time; end the track after the last one."""
        if self.sent >= self.frames:
            self.stop()
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            await asyncio.sleep(max(0.0, self._start + self.sent * self.interval - time.time()))


class PatternVideoTrack(_PacedTrack):
    """`frames` frames of moving texture at 30 fps, then the track ends."""

    kind = "video"
    interval = 1 / FPS

    def __init__(self, frames: int, width: int = 640, height: int = 480) -> None:
        super().__init__(frames)
        self.width, self.height = width, height

    async def recv(self) -> av.VideoFrame:
        await self._next()
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        _fill(frame, self.sent)
        frame.pts = self.sent * (VIDEO_RATE // FPS)
        frame.time_base = fractions.Fraction(1, VIDEO_RATE)
        self.sent += 1
        return frame


class SineAudioTrack(_PacedTrack):
    """`frames` 20 ms frames of a 400 Hz tone (48 kHz mono), then the track ends."""

    kind = "audio"
    interval = AUDIO_FRAME / SAMPLE_RATE

    def __init__(self, frames: int) -> None:
        super().__init__(frames)
        # 400 Hz repeats every 120 samples, so every 960-sample frame is the same.
        self._samples = array.array(
            "h", (int(8000 * math.sin(2 * math.pi * 400 * n / SAMPLE_RATE)) for n in range(AUDIO_FRAME))
        ).tobytes()

    async def recv(self) -> av.AudioFrame:
        await self._next()
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME)
        frame.planes[0].update(self._samples)
        frame.pts = self.sent * AUDIO_FRAME
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self.sent += 1
        return frame


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
        _fill(frame, self._index)
        frame.pts = self._index * (VIDEO_RATE // FPS)
        frame.time_base = fractions.Fraction(1, VIDEO_RATE)
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        self._index += 1
        data = b"".join(bytes(p) for p in self._codec.encode(frame))
        assert data, "libvpx buffered a frame despite lag-in-frames=0"
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
