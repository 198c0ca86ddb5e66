"""Known synthetic media for recording tests: paced aiortc tracks (real time), and the
pre-encoded frames of recordings/synthetic.py."""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import time

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from recordings.synthetic import AUDIO_FRAME, FPS, SAMPLE_RATE, VIDEO_RATE, Vp8Source, fill_pattern, opus_packets

__all__ = [
    "AUDIO_FRAME",
    "FPS",
    "SAMPLE_RATE",
    "VIDEO_RATE",
    "PatternVideoTrack",
    "SineAudioTrack",
    "Vp8Source",
    "opus_packets",
]


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
        fill_pattern(frame, self.sent)
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
