"""Encoded frames straight out of an aiortc receiver, before its decoder.

aiortc's `MediaRecorder` decodes and re-encodes every frame (14.2 CPU-s for 20 s of one
640x480 VP8 stream); the recorder only needs the bytes the browser sent. A `ReceiverTap`
replaces the receiver's private decoder queue with one that hands each reassembled frame
(`EncodedFrame`) to a sink: the decoder thread aiortc still starts just waits on an empty
queue until the receiver stops, so nothing is ever decoded. It also keeps what playback
needs to line tracks up later (the wall clock of each frame's first packet, the sender's
RTP timestamps untouched, RTCP sender reports) and can ask the sender for a keyframe (PLI).

Everything here runs on the peer connection's event loop, inside aiortc's packet handler:
the sink must be quick and must not raise. An exception escaping into aiortc would close
its DTLS transport, so the tap catches and logs anything the sink raises.
All aiortc privates are reached through `recordings.aiortc_internals`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, RtpPacket

from recordings.aiortc_internals import DecoderQueueReplacement, ReceiverInternals

log = logging.getLogger("heshi.recordings")

RTP_TIMESTAMP_MODULO = 1 << 32
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
_ARRIVALS_KEPT = 128  # RTP timestamps of frames still being reassembled (or lost)


def rtp_timestamp_delta(later: int, earlier: int) -> int:
    """Signed distance between two 32-bit RTP timestamps, across a wraparound."""
    delta = (later - earlier) % RTP_TIMESTAMP_MODULO
    return delta - RTP_TIMESTAMP_MODULO if delta >= RTP_TIMESTAMP_MODULO // 2 else delta


@dataclass(frozen=True)
class SenderReport:
    """An RTCP sender report: the sender's wall clock (NTP) at one RTP timestamp."""

    ssrc: int
    ntp_timestamp: int  # 64-bit NTP: seconds since 1900 << 32 | fraction
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    received_at: float  # our wall clock (unix seconds) when it arrived

    def __post_init__(self) -> None:
        if not 0 <= self.rtp_timestamp < RTP_TIMESTAMP_MODULO:
            raise ValueError(f"RTP timestamp out of range: {self.rtp_timestamp}")
        if not 0 <= self.ntp_timestamp < 1 << 64:
            raise ValueError(f"NTP timestamp out of range: {self.ntp_timestamp}")

    @property
    def ntp_time(self) -> float:
        """The sender's wall clock in unix seconds."""
        return (self.ntp_timestamp >> 32) - NTP_UNIX_OFFSET + (self.ntp_timestamp & 0xFFFFFFFF) / (1 << 32)

    def wall_clock_at(self, rtp_timestamp: int, clock_rate: int) -> float:
        """The sender's wall clock (unix seconds) at `rtp_timestamp` of the same stream."""
        return self.ntp_time + rtp_timestamp_delta(rtp_timestamp, self.rtp_timestamp) / clock_rate

    def to_json(self) -> dict[str, Any]:
        return {
            "ssrc": self.ssrc,
            "ntp_timestamp": self.ntp_timestamp,
            "ntp_time": self.ntp_time,
            "rtp_timestamp": self.rtp_timestamp,
            "packet_count": self.packet_count,
            "octet_count": self.octet_count,
            "received_at": self.received_at,
        }


@dataclass(frozen=True, eq=False)
class EncodedFrame:
    """One complete encoded frame as the sender produced it (a VP8 frame, an Opus packet)."""

    kind: str  # "audio" | "video"
    codec: str  # aiortc's codec name: "VP8", "opus", ...
    clock_rate: int
    rtp_timestamp: int  # 32-bit, as the sender stamped it (what sender reports refer to)
    data: bytes
    keyframe: bool  # decodable on its own (every Opus packet; VP8 keyframes)
    received_at: float  # wall clock (unix seconds) when its first packet arrived
    ssrc: int | None = None
    width: int | None = None  # VP8 keyframes carry the picture size
    height: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("audio", "video"):
            raise ValueError(f"unknown media kind: {self.kind!r}")
        if self.clock_rate <= 0:
            raise ValueError(f"clock rate must be positive: {self.clock_rate}")
        if not 0 <= self.rtp_timestamp < RTP_TIMESTAMP_MODULO:
            raise ValueError(f"RTP timestamp out of range: {self.rtp_timestamp}")


def vp8_keyframe_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) if `data` is a VP8 keyframe (RFC 6386 section 9.1), else None."""
    # Frame tag bit 0 is 0 for keyframes, which then carry a start code and the size.
    if len(data) < 10 or data[0] & 0x01 or data[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(data[6:8], "little") & 0x3FFF, int.from_bytes(data[8:10], "little") & 0x3FFF


def describe_frame(codec: str, data: bytes) -> tuple[bool, int | None, int | None]:
    """(keyframe, width, height) of an encoded frame; unknown codecs are never keyframes."""
    name = codec.lower()
    if name == "opus":
        return True, None, None
    if name == "vp8":
        size = vp8_keyframe_size(data)
        return (True, *size) if size else (False, None, None)
    return False, None, None


class FrameSink(Protocol):
    """Where a tap delivers. Called on the event loop inside aiortc's packet handler."""

    def on_frame(self, frame: EncodedFrame) -> None: ...

    def on_sender_report(self, report: SenderReport) -> None: ...

    def on_end(self) -> None:
        """The receiver stopped (closed, RTCP BYE or transport lost): no more frames."""


class TapError(RuntimeError):
    pass


class _KeepTimestamps:
    """Stands in for aiortc's TimestampMapper, which rebases timestamps for its decoder."""

    def map(self, timestamp: int) -> int:
        return timestamp


class _TapQueue(DecoderQueueReplacement):
    """Stands in for the receiver's decoder queue.

    `put` is called by aiortc on the event loop: a `(codec, JitterFrame)` goes to the tap,
    `None` means the receiver is stopping. `get` is called by aiortc's decoder thread and
    blocks until then, so that thread never gets anything to decode.
    """

    def __init__(
        self, on_frame: Callable[[RTCRtpCodecParameters, JitterFrame], None], on_end: Callable[[], None]
    ) -> None:
        self._on_frame = on_frame
        self._on_end = on_end
        self._stopped = threading.Event()

    def put(self, item: tuple[RTCRtpCodecParameters, JitterFrame] | None) -> None:
        if item is None:
            first = not self._stopped.is_set()
            self._stopped.set()
            if first:
                self._on_end()
            return
        codec, frame = item
        self._on_frame(codec, frame)

    def get(self) -> None:
        self._stopped.wait()
        return None


class ReceiverTap:
    """Takes the encoded frames of one remote track from its RTCRtpReceiver.

    Attach before the receiver starts receiving: in the peer connection's `track` event,
    or after setRemoteDescription() and before the connection is established.

    Counters: `frames` handed to the sink; `dropped` discarded before `start(sink)` or
    lost to a sink that raised; `keyframe_requests` PLIs sent. `first_packet_at` is the
    wall clock of the first media packet, `media_ssrc` the sender's, `ended` whether the
    receiver stopped.
    """

    def __init__(self, receiver: RTCRtpReceiver, *, clock: Callable[[], float] = time.time) -> None:
        self._internals = ReceiverInternals(receiver)
        if self._internals.started:
            raise TapError(
                "the receiver already started receiving (its decoder thread holds the frames): "
                "attach the tap in the track event, before the connection is established"
            )
        if self._internals.replaced_queue:
            raise TapError("the receiver already has a tap")
        self.receiver = receiver
        self.kind = self._internals.kind
        self.track_id = receiver.track.id if receiver.track is not None else None
        self._clock = clock
        self._sink: FrameSink | None = None
        self.first_packet_at: float | None = None
        self.media_ssrc: int | None = None
        self.last_sender_report: SenderReport | None = None
        self.frames = 0
        self.dropped = 0
        self.keyframe_requests = 0
        self.ended = False
        self._arrivals: dict[int, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

        self._internals.replace_decoder_queue(_TapQueue(self._deliver, self._end))
        self._internals.replace_timestamp_mapper(_KeepTimestamps())
        self._internals.wrap_handle_rtp_packet(self._wrap_rtp)
        self._internals.wrap_handle_rtcp_packet(self._wrap_rtcp)

    def start(self, sink: FrameSink) -> None:
        """Deliver frames, sender reports and the end of the track to `sink` from now on."""
        if self._sink is not None:
            raise TapError("the tap already has a sink")
        self._sink = sink

    def request_keyframe(self) -> bool:
        """Ask the sender for a keyframe (RTCP PLI); False while there is nobody to ask.

        Call on the event loop; the PLI is sent by a task.
        """
        if self.kind != "video" or self.media_ssrc is None or self.ended:
            return False
        self._spawn(self._send_pli(self.media_ssrc))
        self.keyframe_requests += 1
        return True

    async def _send_pli(self, media_ssrc: int) -> None:
        try:
            await self._internals.send_pli(media_ssrc)
        except Exception:
            log.warning("could not send a PLI for SSRC %d", media_ssrc, exc_info=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- hooks inside aiortc; none of them may raise ---

    def _wrap_rtp(self, original: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Any]:
        async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
            try:
                self._saw_packet(packet)
            except Exception:
                log.exception("recording tap failed on an RTP packet")
            await original(packet, arrival_time_ms=arrival_time_ms)

        return handle_rtp_packet

    def _wrap_rtcp(self, original: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Any]:
        async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
            if isinstance(packet, RtcpSrPacket):
                try:
                    self._sender_report(packet)
                except Exception:
                    log.exception("recording tap failed on a sender report")
            await original(packet)

        return handle_rtcp_packet

    def _saw_packet(self, packet: RtpPacket) -> None:
        if not self._internals.is_media_payload(packet.payload_type):
            return  # RTX or unknown: the original packet was (or will be) counted
        now = self._clock()
        if self.first_packet_at is None:
            self.first_packet_at = now
        self.media_ssrc = packet.ssrc
        if packet.timestamp not in self._arrivals:
            self._arrivals[packet.timestamp] = now
            if len(self._arrivals) > _ARRIVALS_KEPT:
                del self._arrivals[next(iter(self._arrivals))]

    def _sender_report(self, packet: RtcpSrPacket) -> None:
        info = packet.sender_info
        report = SenderReport(
            ssrc=packet.ssrc,
            ntp_timestamp=info.ntp_timestamp,
            rtp_timestamp=info.rtp_timestamp,
            packet_count=info.packet_count,
            octet_count=info.octet_count,
            received_at=self._clock(),
        )
        self.last_sender_report = report
        if self._sink is not None:
            self._sink.on_sender_report(report)

    def _deliver(self, codec: RTCRtpCodecParameters, jitter_frame: JitterFrame) -> None:
        try:
            timestamp = jitter_frame.timestamp % RTP_TIMESTAMP_MODULO
            received_at = self._arrivals.pop(timestamp, None)
            data = bytes(jitter_frame.data)
            keyframe, width, height = describe_frame(codec.name, data)
            frame = EncodedFrame(
                kind=self.kind,
                codec=codec.name,
                clock_rate=codec.clockRate,
                rtp_timestamp=timestamp,
                data=data,
                keyframe=keyframe,
                received_at=self._clock() if received_at is None else received_at,
                ssrc=self.media_ssrc,
                width=width,
                height=height,
            )
            if self._sink is None:
                self.dropped += 1
                return
            self.frames += 1
            self._sink.on_frame(frame)
        except Exception:
            self.dropped += 1
            log.exception("recording sink failed on a %s frame", self.kind)

    def _end(self) -> None:
        self.ended = True
        if self._sink is None:
            return
        try:
            self._sink.on_end()
        except Exception:
            log.exception("recording sink failed at the end of a %s track", self.kind)


def receiver_for(pc: RTCPeerConnection, track: MediaStreamTrack) -> RTCRtpReceiver:
    """The receiver of a remote track, as given by the peer connection's `track` event."""
    for receiver in pc.getReceivers():
        if receiver.track is track:
            return receiver
    raise TapError(f"no receiver of this peer connection carries track {track.id}")
