"""Pre-encoded media for the recording benchmark: VP8 and Opus sent by aiortc without encoding.

aiortc's RTCRtpSender packetizes an `av.Packet` returned by a track's recv() as it is
(`RTCRtpSender._next_encoded_frame` calls the encoder's `pack()`, not `encode()`), so a load
generator can send many 640x480 30 fps streams at the cost of packetizing and encrypting.
The media is encoded once (`encode_media`), saved, and looped by every track with growing
timestamps.

Keyframes: a looped recording cannot answer the recorder's PLI, so the video has a keyframe
every `KEYFRAME_SECONDS` (2 s). The recorder asks for one from 8 s into a 10 s segment and
the next one comes within 2 s, so segments still start on keyframes and no frame is dropped
waiting for one.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import pickle
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

WIDTH, HEIGHT, FPS = 640, 480, 30
VIDEO_RATE = 90000
VIDEO_TICKS = VIDEO_RATE // FPS
SAMPLE_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms
KEYFRAME_SECONDS = 2
# The browser's cap on video to the recorder (HESHI_VIDEO_MAX_KBPS, default 500): web/static/js/room/recorder.js.
VIDEO_KBPS = 500
AUDIO_KBPS = 32  # what browsers send for speech

# aiortc's jitter buffer releases a frame only once a packet of a later frame arrives, and
# holds 4 Opus frames back (prefetch): after the counted frames each track sends this many
# more, which the recorder cannot receive, so that every counted frame can be.
VIDEO_TAIL = 1
AUDIO_TAIL = 4


@dataclass
class Media:
    video: list[bytes]  # one VP8 frame each, 30 fps
    keyframes: list[bool]
    audio: list[bytes]  # one Opus packet each, 20 ms
    video_kbps: float
    audio_kbps: float
    seconds: float

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self))

    @staticmethod
    def load(path: Path) -> Media:
        return pickle.loads(path.read_bytes())

    def describe(self) -> dict[str, object]:
        return {
            "video": f"VP8 {WIDTH}x{HEIGHT} {FPS} fps",
            "video_kbps": round(self.video_kbps),
            "keyframe_every_s": KEYFRAME_SECONDS,
            "audio": "Opus 48 kHz, 20 ms packets",
            "audio_kbps": round(self.audio_kbps),
            "loop_seconds": self.seconds,
        }


def _picture(frame: av.VideoFrame, index: int, rng: random.Random, noise: bytes) -> None:
    """A moving diagonal texture with a small patch of fresh noise, so that the encoder spends
    its whole bitrate, as on a camera picture."""
    luma, u, v = frame.planes
    width = luma.line_size
    shift = (index * 5) % 256
    row = bytes((x + shift) % 256 for x in range(width))
    rows = bytearray()
    for y in range(HEIGHT):
        rows += row[y % 64 :] + row[: y % 64]
    # A 96x72 noise patch wandering over the picture.
    px = int((WIDTH - 96) * (0.5 + 0.5 * math.sin(index / 20)))
    py = int((HEIGHT - 72) * (0.5 + 0.5 * math.cos(index / 27)))
    start = rng.randrange(len(noise) - 96 * 72)
    for y in range(72):
        o = (py + y) * width + px
        rows[o : o + 96] = noise[start + y * 96 : start + (y + 1) * 96]
    luma.update(bytes(rows))
    for plane, value in ((u, 128 + int(40 * math.sin(index / 15))), (v, 128)):
        plane.update(bytes([value]) * plane.buffer_size)


def encode_media(seconds: float = 10.0, video_kbps: int = VIDEO_KBPS, audio_kbps: int = AUDIO_KBPS) -> Media:
    """Encode `seconds` of 640x480 30 fps VP8 (a keyframe every 2 s, CBR) and of Opus."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.time_base = fractions.Fraction(1, VIDEO_RATE)
    codec.framerate = fractions.Fraction(FPS, 1)
    codec.bit_rate = video_kbps * 1000
    codec.gop_size = FPS * KEYFRAME_SECONDS
    # Like aiortc's own encoder (and a browser's): real time, constant bitrate.
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "minrate": str(video_kbps * 1000),
        "maxrate": str(video_kbps * 1000),
        "bufsize": str(video_kbps * 1000),
        "undershoot-pct": "95",
        "overshoot-pct": "15",
    }
    rng = random.Random(7)
    noise = bytes(96 + b % 64 for b in rng.randbytes(1 << 20))  # low-amplitude noise
    video: list[bytes] = []
    keyframes: list[bool] = []
    count = int(seconds * FPS)
    for i in range(count):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        _picture(frame, i, rng, noise)
        frame.pts = i * VIDEO_TICKS
        frame.time_base = fractions.Fraction(1, VIDEO_RATE)
        if i % (FPS * KEYFRAME_SECONDS) == 0:
            frame.pict_type = av.video.frame.PictureType.I
        packets = codec.encode(frame)
        data = b"".join(bytes(p) for p in packets)
        assert data, "libvpx held a frame back despite lag-in-frames=0"
        video.append(data)
        keyframes.append(not data[0] & 0x01)
    assert keyframes[0] and all(keyframes[i] for i in range(0, count, FPS * KEYFRAME_SECONDS))

    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate, opus.layout, opus.format = SAMPLE_RATE, "stereo", "s16"
    opus.bit_rate = audio_kbps * 1000
    opus.open()
    audio: list[bytes] = []
    n = 0
    while len(audio) < int(seconds * 50):
        frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_SAMPLES)
        samples = bytearray()
        for k in range(AUDIO_SAMPLES):
            t = (n * AUDIO_SAMPLES + k) / SAMPLE_RATE
            value = int(6000 * math.sin(2 * math.pi * (180 + 60 * math.sin(t * 3)) * t) + rng.randint(-800, 800))
            samples += value.to_bytes(2, "little", signed=True) * 2
        frame.planes[0].update(bytes(samples))
        frame.sample_rate = SAMPLE_RATE
        frame.pts = n * AUDIO_SAMPLES
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        n += 1
        audio.extend(bytes(p) for p in opus.encode(frame))
    audio = audio[: int(seconds * 50)]
    return Media(
        video=video,
        keyframes=keyframes,
        audio=audio,
        video_kbps=sum(map(len, video)) * 8 / seconds / 1000,
        audio_kbps=sum(map(len, audio)) * 8 / seconds / 1000,
        seconds=seconds,
    )


@dataclass
class Gate:
    """When the tracks of one process start and how many frames they count.

    Every track waits for `start_at` (unix time) plus its own offset, then sends counted
    frames until `seconds` after `start_at`, then the tail frames (see VIDEO_TAIL), then ends.
    """

    opened: asyncio.Event = field(default_factory=asyncio.Event)
    start_at: float = 0.0
    seconds: float = 0.0

    def open(self, start_at: float, seconds: float) -> None:
        self.start_at, self.seconds = start_at, seconds
        self.opened.set()


class LoopedTrack(MediaStreamTrack):
    """Sends pre-encoded packets in a loop, paced in real time, with growing timestamps.

    `sent` counts the frames handed to aiortc within the counted window (not the tail),
    `late` how late each one was handed over (the load generator falling behind shows here).
    """

    def __init__(self, kind: str, packets: list[bytes], gate: Gate, *, phase: float, offset: float = 0.0) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._gate = gate
        self._phase = phase  # spread the tracks over a frame interval, as unsynchronised cameras are
        self._offset = offset  # when this track starts after the gate opens (a session started later)
        video = kind == "video"
        self._interval = 1 / FPS if video else AUDIO_SAMPLES / SAMPLE_RATE
        self._ticks = VIDEO_TICKS if video else AUDIO_SAMPLES
        self._time_base = fractions.Fraction(1, VIDEO_RATE if video else SAMPLE_RATE)
        self._tail = VIDEO_TAIL if video else AUDIO_TAIL
        self._index = 0
        self.counted = 0  # frames in the counted window, fixed when the gate opens
        self.sent = 0
        self.tail_sent = 0
        self.late: list[float] = []

    @property
    def done(self) -> bool:
        """Sent its counted frames and its tail (or was stopped)."""
        return self.readyState == "ended"

    async def recv(self) -> av.Packet:
        if self._index == 0:
            await self._gate.opened.wait()
            self.counted = round((self._gate.seconds - self._offset) / self._interval)
        if self._index >= self.counted + self._tail:
            self.stop()
            raise MediaStreamError
        due = self._gate.start_at + self._offset + self._phase + self._index * self._interval
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        self.late.append(max(0.0, time.time() - due))
        packet = av.Packet(self._packets[self._index % len(self._packets)])
        packet.pts = self._index * self._ticks
        packet.time_base = self._time_base
        if self._index < self.counted:
            self.sent += 1
        else:
            self.tail_sent += 1
        self._index += 1
        return packet
