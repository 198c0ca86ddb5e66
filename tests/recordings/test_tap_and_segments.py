"""Recording without transcoding: encoded frames out of aiortc into hashed WebM segments.

The first group records a real aiortc session (two peer connections on loopback, known
synthetic VP8 and Opus) once per module and checks the files with PyAV and FFmpeg. The
others drive the tap through a real, unconnected RTCRtpReceiver and the writer with
frames from a real VP8/Opus encoder, for the cases a live session cannot force.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, rtcrtpreceiver, rtcrtpsender
from aiortc.codecs.opus import OpusDecoder
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket, RtpPacket

from recordings.segments import (
    FinishedSegment,
    SegmentDiskError,
    SegmentError,
    SegmentPolicy,
    SegmentWriter,
    TimestampUnwrapper,
    UnsupportedCodec,
)
from recordings.tap import (
    EncodedFrame,
    ReceiverTap,
    SenderReport,
    TapError,
    describe_frame,
    receiver_for,
    rtp_timestamp_delta,
    vp8_keyframe_size,
)
from tests.recordings.media import PatternVideoTrack, SineAudioTrack, Vp8Source, opus_packets

WRAP = 1 << 32
VIDEO_FRAMES = 105  # 3.5 s at 30 fps
AUDIO_FRAMES = 175  # 3.5 s of 20 ms
SESSION_MAX = 1.5


# --- checking files ---------------------------------------------------------------------


@dataclass
class Decoded:
    frames: int
    first_packet_key: bool
    first_frame_key: bool
    container_seconds: float
    samples: int = 0
    width: int = 0
    height: int = 0
    channels: int = 0
    extradata: bytes = b""


def decode(path: Path) -> Decoded:
    """Decode every frame of a segment with PyAV."""
    with av.open(str(path)) as container:
        stream: Any = container.streams[0]
        packets = [p for p in container.demux(stream) if p.size]
        frames = [f for p in packets for f in stream.decode(p)] + list(stream.decode(None))
        context = stream.codec_context
        decoded = Decoded(
            frames=len(frames),
            first_packet_key=packets[0].is_keyframe,
            first_frame_key=frames[0].key_frame,
            container_seconds=(container.duration or 0) / 1e6,
        )
        if stream.type == "video":
            decoded.width, decoded.height = context.width, context.height
        else:
            decoded.samples = sum(f.samples for f in frames)
            decoded.channels = context.channels
            decoded.extradata = bytes(context.extradata or b"")
        return decoded


def ffmpeg_check(path: Path) -> dict[str, Any]:
    """ffprobe's view of a segment; fails if FFmpeg reports any error decoding it."""
    assert shutil.which("ffprobe") and shutil.which("ffmpeg"), "FFmpeg is a test dependency (Debian package ffmpeg)"
    errors = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert errors.returncode == 0 and errors.stderr == "", f"{path.name}: {errors.stderr}"
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-of",
            "json",
            "-show_entries",
            "stream=codec_name,width,height,channels,nb_read_frames:format=duration,format_name",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(probe.stdout)
    return result


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_intact(segment: FinishedSegment) -> None:
    """Published, hash as reported, sidecar agrees, decodable from a keyframe."""
    assert segment.path.exists()
    assert sha256(segment.path) == segment.sha256
    assert segment.path.stat().st_size == segment.size_bytes
    assert segment.sidecar is not None
    sidecar = json.loads(segment.sidecar.read_text())
    assert sidecar == json.loads(json.dumps(segment.to_json()))
    decoded = decode(segment.path)
    assert decoded.frames == segment.frame_count
    assert decoded.first_packet_key and decoded.first_frame_key


# --- a live aiortc session, recorded once per module -----------------------------------


@dataclass
class Session:
    directory: Path
    reported: dict[str, list[FinishedSegment]] = field(default_factory=lambda: {"audio": [], "video": []})
    stopped: dict[str, list[FinishedSegment]] = field(default_factory=dict)
    writers: dict[str, SegmentWriter] = field(default_factory=dict)
    taps: dict[str, ReceiverTap] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    decoder_threads: dict[str, int] = field(default_factory=dict)  # name -> CPU ticks used
    decoder_threads_after_close: list[str] = field(default_factory=list)
    decoders_created: int = 0
    frames_decoded: int = 0
    timestamp_origins: list[int] = field(default_factory=list)


def _thread_cpu_ticks(native_id: int) -> int:
    fields_ = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields_[11]) + int(fields_[12])  # utime + stime


async def _record(session: Session) -> None:
    sender, recorder = RTCPeerConnection(), RTCPeerConnection()
    video, audio = PatternVideoTrack(VIDEO_FRAMES), SineAudioTrack(AUDIO_FRAMES)
    transceiver = sender.addTransceiver(video, direction="sendonly")
    capabilities = RTCRtpSender.getCapabilities("video")
    assert capabilities is not None
    transceiver.setCodecPreferences([c for c in capabilities.codecs if c.mimeType in ("video/VP8", "video/rtx")])
    sender.addTransceiver(audio, direction="sendonly")

    async def reported(segment: FinishedSegment) -> None:
        session.reported[segment.kind].append(segment)

    @recorder.on("track")
    def on_track(track: Any) -> None:
        tap = ReceiverTap(receiver_for(recorder, track))
        writer = SegmentWriter(
            session.directory,
            track.kind,
            track_id=track.id,
            kind=track.kind,
            policy=SegmentPolicy(max_seconds=SESSION_MAX, keyframe_retry_seconds=0.2),
            request_keyframe=tap.request_keyframe,
            on_segment=reported,
        )
        tap.start(writer)
        session.taps[track.kind], session.writers[track.kind] = tap, writer

    try:
        await sender.setLocalDescription(await sender.createOffer())
        await recorder.setRemoteDescription(sender.localDescription)
        await recorder.setLocalDescription(await recorder.createAnswer())
        await sender.setRemoteDescription(recorder.localDescription)
        deadline = time.monotonic() + 30
        while (video.sent < VIDEO_FRAMES or audio.sent < AUDIO_FRAMES) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the last packets in flight
        session.sent = {"video": video.sent, "audio": audio.sent}
        for thread in threading.enumerate():
            if thread.name in ("video-decoder", "audio-decoder") and thread.native_id is not None:
                session.decoder_threads[thread.name] = _thread_cpu_ticks(thread.native_id)
    finally:
        await recorder.close()  # the receivers stop: the writers end their last segment themselves
        await sender.close()
    session.decoder_threads_after_close = [
        t.name for t in threading.enumerate() if t.name in ("video-decoder", "audio-decoder")
    ]
    for kind, writer in session.writers.items():
        session.stopped[kind] = await writer.stop()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    result = Session(directory=tmp_path_factory.mktemp("recording"))
    counted = 0

    def origins_near_the_wrap() -> int:
        # The sender's SSRCs and RTP timestamp origins: close below 2**32, so both tracks wrap mid-session.
        nonlocal counted
        counted += 1
        value = WRAP - 40_000 - 1000 * counted
        result.timestamp_origins.append(value)
        return value

    real_get_decoder = rtcrtpreceiver.get_decoder
    real_vp8_decode, real_opus_decode = Vp8Decoder.decode, OpusDecoder.decode

    def counting_get_decoder(codec: Any) -> Any:
        result.decoders_created += 1
        return real_get_decoder(codec)

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        def decode_(self: Any, encoded_frame: Any) -> Any:
            result.frames_decoded += 1
            return real(self, encoded_frame)

        return decode_

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rtcrtpsender, "random32", origins_near_the_wrap)
        patch.setattr(rtcrtpreceiver, "get_decoder", counting_get_decoder)
        patch.setattr(Vp8Decoder, "decode", counting(real_vp8_decode))
        patch.setattr(OpusDecoder, "decode", counting(real_opus_decode))
        asyncio.run(_record(result))
    return result


def test_the_session_produced_video_and_audio_segments_without_errors(session: Session) -> None:
    assert session.sent == {"video": VIDEO_FRAMES, "audio": AUDIO_FRAMES}
    for kind in ("video", "audio"):
        assert session.writers[kind].error is None
        assert len(session.stopped[kind]) >= 2, f"{kind}: {session.stopped[kind]}"
        # Reported through the hook, in order, exactly the segments stop() returns.
        assert session.reported[kind] == session.stopped[kind]
        assert [s.index for s in session.stopped[kind]] == list(range(len(session.stopped[kind])))
        assert session.stopped[kind][-1].ended_by == "stop"
    assert not list(session.directory.glob("*.part")), "every segment was published"


def test_nothing_is_decoded(session: Session) -> None:
    assert session.decoders_created == 0
    assert session.frames_decoded == 0
    # aiortc still starts its decoder threads; they wait on an empty queue and use no CPU.
    assert set(session.decoder_threads) == {"video-decoder", "audio-decoder"}
    assert all(ticks <= 2 for ticks in session.decoder_threads.values()), session.decoder_threads
    assert session.decoder_threads_after_close == []  # and they end with the receivers
    for kind in ("video", "audio"):
        tap = session.taps[kind]
        assert tap.ended and tap.dropped == 0
        assert tap.frames == sum(s.frame_count for s in session.stopped[kind]) + session.writers[kind].dropped_frames


def test_every_segment_decodes_and_video_segments_start_on_a_keyframe(session: Session) -> None:
    for kind in ("video", "audio"):
        for segment in session.stopped[kind]:
            assert_intact(segment)
            decoded = decode(segment.path)
            if kind == "video":
                assert (decoded.width, decoded.height) == (640, 480) == (segment.width, segment.height)
                assert segment.codec == "vp8"
            else:
                assert decoded.channels == 2 and decoded.extradata.startswith(b"OpusHead")
                assert decoded.samples == segment.frame_count * 960
                assert segment.codec == "opus"


def test_ffmpeg_reads_every_segment_without_errors(session: Session) -> None:
    for kind in ("video", "audio"):
        for segment in session.stopped[kind]:
            probe = ffmpeg_check(segment.path)
            stream = probe["streams"][0]
            assert probe["format"]["format_name"].startswith("matroska")
            assert int(stream["nb_read_frames"]) == segment.frame_count
            assert abs(float(probe["format"]["duration"]) - segment.duration_seconds) <= 0.002
            if kind == "video":
                assert (stream["codec_name"], stream["width"], stream["height"]) == ("vp8", 640, 480)
            else:
                assert (stream["codec_name"], stream["channels"]) == ("opus", 2)


def test_decoded_frames_and_duration_match_what_was_sent(session: Session) -> None:
    for kind, rate in (("video", 30), ("audio", 50)):
        segments = session.stopped[kind]
        frames = sum(decode(s.path).frames for s in segments)
        seconds = sum(decode(s.path).container_seconds for s in segments)
        sent = session.sent[kind]
        assert abs(frames - sent) <= 0.05 * sent, f"{kind}: decoded {frames} of {sent} frames"
        assert abs(seconds - sent / rate) <= 0.05 * sent / rate, f"{kind}: {seconds} s of {sent / rate} s"


def test_segments_never_exceed_the_maximum_and_follow_each_other_without_gaps(session: Session) -> None:
    for kind in ("video", "audio"):
        segments = session.stopped[kind]
        for segment in segments:
            assert segment.duration_seconds <= SESSION_MAX
            assert decode(segment.path).container_seconds <= SESSION_MAX + 0.001
        for before, after in zip(segments, segments[1:]):
            gap = rtp_timestamp_delta(after.first_rtp_timestamp, before.first_rtp_timestamp)
            assert gap == round(before.duration_seconds * before.clock_rate), f"{kind}: {before} -> {after}"
            assert after.dropped_frames == 0
    # Video is cut where the keyframe asked for at 80% arrives; audio exactly at the maximum.
    assert {s.ended_by for s in session.stopped["video"][:-1]} == {"keyframe"}
    assert all(0.8 * SESSION_MAX <= s.duration_seconds < SESSION_MAX for s in session.stopped["video"][:-1])
    assert session.taps["video"].keyframe_requests >= len(session.stopped["video"]) - 1
    assert {s.ended_by for s in session.stopped["audio"][:-1]} == {"max_duration"}
    assert all(s.duration_seconds == SESSION_MAX for s in session.stopped["audio"][:-1])


def test_rtp_timestamps_wrapped_during_the_session(session: Session) -> None:
    for kind in ("video", "audio"):
        segments = session.stopped[kind]
        assert segments[0].first_rtp_timestamp in session.timestamp_origins  # the first frame
        assert segments[-1].first_rtp_timestamp < segments[0].first_rtp_timestamp  # wrapped past 2**32


def test_sender_reports_line_segments_up_with_their_arrival(session: Session) -> None:
    for kind in ("video", "audio"):
        tap = session.taps[kind]
        assert tap.first_packet_at is not None and tap.last_sender_report is not None
        segments = session.stopped[kind]
        assert segments[0].first_packet_at == tap.first_packet_at
        for segment in segments[1:]:
            assert segment.sender_reports, f"{kind} segment {segment.index} has no sender report"
            assert all(r.ssrc == segment.ssrc == tap.media_ssrc for r in segment.sender_reports)
            # Same machine, same clock: the sender's NTP time of the first frame is its arrival time.
            assert segment.sender_wall_clock is not None
            assert abs(segment.sender_wall_clock - segment.first_packet_at) < 0.5


# --- the tap on a real receiver, fed RTP by hand ---------------------------------------

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.frames: list[EncodedFrame] = []
        self.reports: list[SenderReport] = []
        self.ended = 0
        self.fail = fail

    def on_frame(self, frame: EncodedFrame) -> None:
        self.frames.append(frame)
        if self.fail:
            raise RuntimeError("a sink that fails")

    def on_sender_report(self, report: SenderReport) -> None:
        self.reports.append(report)

    def on_end(self) -> None:
        self.ended += 1


@pytest.fixture
async def video_receiver() -> Any:
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="recvonly")
    receiver = transceiver.receiver
    receiver._track = RemoteStreamTrack(kind="video")  # as setRemoteDescription() does
    yield receiver
    await pc.close()


def vp8_packets(frames: list[bytes], first_timestamp: int, ssrc: int = 1234) -> Iterator[RtpPacket]:
    sequence = 1000
    for index, data in enumerate(frames):
        payloads = Vp8Encoder._packetize(data, picture_id=index)
        for n, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=96,
                sequence_number=sequence % 65536,
                timestamp=(first_timestamp + index * 3000) % WRAP,
                ssrc=ssrc,
            )
            packet.marker = int(n == len(payloads) - 1)
            packet.payload = payload
            sequence += 1
            yield packet


async def test_the_tap_delivers_encoded_frames_with_their_rtp_timestamps_and_never_decodes(
    video_receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoders = []
    monkeypatch.setattr(rtcrtpreceiver, "get_decoder", lambda codec: decoders.append(codec))
    ticks = iter(range(1, 1000))
    arrivals: list[float] = []

    def clock() -> float:
        arrivals.append(5000.0 + next(ticks))
        return arrivals[-1]

    tap = ReceiverTap(video_receiver, clock=clock)
    with pytest.raises(TapError, match="already has a tap"):
        ReceiverTap(video_receiver)
    sink = Sink()
    tap.start(sink)
    await video_receiver.receive(RTCRtpReceiveParameters(codecs=[VP8]))
    source = Vp8Source()
    frames = [source.next(keyframe=i in (0, 5)) for i in range(8)]
    first = WRAP - 6000  # wraps on the third frame
    for packet in vp8_packets(frames, first):
        await video_receiver._handle_rtp_packet(packet, arrival_time_ms=0)
    await video_receiver._handle_rtcp_packet(
        RtcpSrPacket(
            ssrc=1234,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=(3_900_000_000 << 32) | (1 << 31), rtp_timestamp=first, packet_count=9, octet_count=99
            ),
        )
    )

    # A frame is complete when the next one starts: the last stays in aiortc's jitter buffer.
    assert [f.data for f in sink.frames] == frames[:-1]
    assert [f.rtp_timestamp for f in sink.frames] == [(first + i * 3000) % WRAP for i in range(7)]
    assert [f.keyframe for f in sink.frames] == [i in (0, 5) for i in range(7)]
    assert (sink.frames[0].width, sink.frames[0].height) == (160, 120)
    assert all(f.kind == "video" and f.codec == "VP8" and f.clock_rate == 90000 and f.ssrc == 1234 for f in sink.frames)
    assert tap.first_packet_at == 5001.0 == sink.frames[0].received_at
    assert sink.frames[1].received_at > sink.frames[0].received_at
    assert sink.reports == [tap.last_sender_report]
    assert sink.reports[0].ntp_time == 3_900_000_000 - 2_208_988_800 + 0.5
    assert decoders == []

    pli: list[int] = []

    async def send_pli(media_ssrc: int) -> None:
        pli.append(media_ssrc)

    monkeypatch.setattr(video_receiver, "_send_rtcp_pli", send_pli)
    assert tap.request_keyframe() is True
    await asyncio.sleep(0)
    assert pli == [1234]

    await video_receiver.stop()
    assert sink.ended == 1 and tap.ended
    assert tap.request_keyframe() is False


async def test_a_receiver_that_already_started_cannot_be_tapped(video_receiver: Any) -> None:
    await video_receiver.receive(RTCRtpReceiveParameters(codecs=[VP8]))
    with pytest.raises(TapError, match="already started"):
        ReceiverTap(video_receiver)  # its decoder thread holds aiortc's queue


async def test_a_failing_sink_never_breaks_aiortcs_packet_handler(video_receiver: Any) -> None:
    tap = ReceiverTap(video_receiver)
    sink = Sink(fail=True)
    tap.start(sink)
    await video_receiver.receive(RTCRtpReceiveParameters(codecs=[VP8]))
    source = Vp8Source()
    for packet in vp8_packets([source.next(keyframe=i == 0) for i in range(4)], 1000):
        await video_receiver._handle_rtp_packet(packet, arrival_time_ms=0)  # must not raise
    assert len(sink.frames) == 3 and tap.dropped == 3


async def test_frames_before_the_sink_is_set_are_counted_and_dropped(video_receiver: Any) -> None:
    tap = ReceiverTap(video_receiver)
    await video_receiver.receive(RTCRtpReceiveParameters(codecs=[VP8]))
    source = Vp8Source()
    for packet in vp8_packets([source.next(keyframe=i == 0) for i in range(3)], 1000):
        await video_receiver._handle_rtp_packet(packet, arrival_time_ms=0)
    assert tap.frames == 0 and tap.dropped == 2
    assert tap.request_keyframe() is True  # the sender is known even without a sink


# --- pure pieces ---------------------------------------------------------------------------


def test_rtp_timestamps_are_unwrapped_across_2_to_the_32() -> None:
    unwrapper = TimestampUnwrapper()
    stamps = [WRAP - 6000, WRAP - 3000, 0, 3000, 6000]
    assert [unwrapper.unwrap(t) for t in stamps] == [WRAP - 6000, WRAP - 3000, WRAP, WRAP + 3000, WRAP + 6000]
    assert unwrapper.unwrap(3000) == WRAP + 3000  # a late frame goes back, not forward by 2**32
    assert unwrapper.unwrap(WRAP - 1) == WRAP - 1  # late across the wrap, too
    assert unwrapper.unwrap(100) == WRAP + 100
    many = TimestampUnwrapper()
    step = 1 << 30
    assert [many.unwrap((i * step) % WRAP) for i in range(10)] == [i * step for i in range(10)]


def test_rtp_timestamp_delta_is_signed_and_wraps() -> None:
    assert rtp_timestamp_delta(10, WRAP - 10) == 20
    assert rtp_timestamp_delta(WRAP - 10, 10) == -20
    assert rtp_timestamp_delta(5, 5) == 0


def test_vp8_keyframes_are_recognised_from_the_payload() -> None:
    source = Vp8Source(width=176, height=144)
    key, inter = source.next(keyframe=True), source.next()
    assert vp8_keyframe_size(key) == (176, 144)
    assert vp8_keyframe_size(inter) is None
    assert vp8_keyframe_size(b"\x00" * 20) is None  # keyframe bit but no start code: not trusted
    assert describe_frame("VP8", key) == (True, 176, 144)
    assert describe_frame("VP8", inter) == (False, None, None)
    assert describe_frame("opus", b"\xfc\xff\xfe") == (True, None, None)
    assert describe_frame("H264", key) == (False, None, None)


def test_a_sender_report_gives_the_senders_wall_clock_of_any_timestamp() -> None:
    report = SenderReport(
        ssrc=1,
        ntp_timestamp=(2_208_988_800 + 1000) << 32,
        rtp_timestamp=WRAP - 45000,
        packet_count=0,
        octet_count=0,
        received_at=0.0,
    )
    assert report.ntp_time == 1000.0
    assert report.wall_clock_at(45000, 90000) == 1001.0  # one second later, across the wrap
    assert report.wall_clock_at(WRAP - 90000, 90000) == 999.5
    with pytest.raises(ValueError):
        SenderReport(ssrc=1, ntp_timestamp=0, rtp_timestamp=WRAP, packet_count=0, octet_count=0, received_at=0)


def test_segment_policy_rejects_nonsense() -> None:
    for bad in (
        {"max_seconds": 0},
        {"keyframe_request_at": 0},
        {"keyframe_request_at": 1.5},
        {"keyframe_retry_seconds": -1},
    ):
        with pytest.raises(ValueError):
            SegmentPolicy(**bad)


# --- the writer, fed by a real encoder --------------------------------------------------


def video_frame(data: bytes, timestamp: int, *, ssrc: int = 7, received_at: float = 1000.0) -> EncodedFrame:
    keyframe, width, height = describe_frame("VP8", data)
    return EncodedFrame(
        kind="video",
        codec="VP8",
        clock_rate=90000,
        rtp_timestamp=timestamp % WRAP,
        data=data,
        keyframe=keyframe,
        received_at=received_at,
        ssrc=ssrc,
        width=width,
        height=height,
    )


def audio_frame(data: bytes, timestamp: int, *, ssrc: int = 8) -> EncodedFrame:
    return EncodedFrame(
        kind="audio",
        codec="opus",
        clock_rate=48000,
        rtp_timestamp=timestamp % WRAP,
        data=data,
        keyframe=True,
        received_at=1000.0,
        ssrc=ssrc,
    )


class Camera:
    """A sender: VP8 frames at 30 fps that answers keyframe requests after `delay` frames (None: never)."""

    def __init__(self, delay: int | None = 0, first_timestamp: int = 12345, source: Vp8Source | None = None):
        self.source = source or Vp8Source()
        self.delay = delay
        self.timestamp = first_timestamp
        self.requests: list[int] = []
        self.sent = 0
        self._key_at: int | None = 0  # the first frame is a keyframe

    def request_keyframe(self) -> None:
        self.requests.append(self.sent - 1)  # the frame the writer was looking at
        if self.delay is not None and self._key_at is None:
            self._key_at = self.sent + self.delay

    def next(self) -> EncodedFrame:
        key = self._key_at is not None and self.sent >= self._key_at
        if key:
            self._key_at = None
        frame = video_frame(self.source.next(keyframe=key), self.timestamp, received_at=1000.0 + self.sent / 30)
        self.timestamp += 3000
        self.sent += 1
        return frame


def writer_for(directory: Path, camera: Camera | None = None, **kwargs: Any) -> tuple[SegmentWriter, list[Any]]:
    events: list[Any] = []
    options: dict[str, Any] = {"policy": SegmentPolicy(max_seconds=1.0, keyframe_retry_seconds=0.1)}
    options.update(kwargs)
    writer = SegmentWriter(
        directory,
        "v",
        track_id="track-1",
        kind="video",
        request_keyframe=camera.request_keyframe if camera else None,
        on_segment=events.append,
        on_error=events.append,
        **options,
    )
    return writer, events


async def test_video_is_cut_at_the_keyframe_asked_for_at_80_percent(tmp_path: Path) -> None:
    camera = Camera(delay=1)
    writer, events = writer_for(tmp_path, camera)
    for _ in range(80):
        writer.on_frame(camera.next())
    segments = await writer.stop()
    assert events == segments and writer.error is None
    # Asked at 24 frames (0.8 s), the keyframe came with the next frame but one.
    assert [s.frame_count for s in segments] == [26, 26, 26, 2]
    assert [s.ended_by for s in segments] == ["keyframe", "keyframe", "keyframe", "stop"]
    assert camera.requests == [24, 50, 76]
    for segment in segments:
        assert_intact(segment)
        assert segment.duration_seconds == segment.frame_count / 30
        assert segment.dropped_frames == 0


async def test_without_a_keyframe_the_maximum_still_holds_and_frames_wait_for_the_next_keyframe(tmp_path: Path) -> None:
    camera = Camera(delay=None)
    writer, _ = writer_for(tmp_path, camera)
    for _ in range(40):
        writer.on_frame(camera.next())
    camera.delay = 0  # the sender finally answers
    for _ in range(20):
        writer.on_frame(camera.next())
    segments = await writer.stop()
    first, second = segments
    assert (first.frame_count, first.duration_seconds, first.ended_by) == (30, 1.0, "max_duration")
    # Asked from 0.8 s every 0.1 s (3 frames), before and after the cut.
    assert camera.requests == [24, 27, 30, 33, 36, 39, 42]
    assert second.dropped_frames == 13  # frames 30..42 could not start a segment
    assert rtp_timestamp_delta(second.first_rtp_timestamp, first.first_rtp_timestamp) == 43 * 3000
    assert writer.dropped_frames == 13
    for segment in segments:
        assert_intact(segment)
        assert decode(segment.path).container_seconds <= 1.0


async def test_the_first_frames_wait_for_a_keyframe(tmp_path: Path) -> None:
    source = Vp8Source()
    source.next()  # joined mid-stream: the keyframe went by
    camera = Camera(delay=4, source=source)
    camera._key_at = None
    writer, _ = writer_for(tmp_path, camera)
    for _ in range(10):
        writer.on_frame(camera.next())
    (segment,) = await writer.stop()
    assert camera.requests == [0, 3]  # at once, then every 0.1 s
    assert segment.dropped_frames == 5 and segment.frame_count == 5
    assert_intact(segment)


async def test_a_keyframe_with_a_new_picture_size_starts_a_new_segment(tmp_path: Path) -> None:
    small, large = Vp8Source(160, 120), Vp8Source(320, 240)
    writer, _ = writer_for(tmp_path)
    frames = [video_frame(small.next(keyframe=i == 0), i * 3000) for i in range(5)]
    frames += [video_frame(large.next(keyframe=i == 0), (5 + i) * 3000) for i in range(5)]
    for frame in frames:
        writer.on_frame(frame)
    first, second = await writer.stop()
    assert first.ended_by == "resolution"
    assert [(s.width, s.height, s.frame_count) for s in (first, second)] == [(160, 120, 5), (320, 240, 5)]
    assert (decode(second.path).width, decode(second.path).height) == (320, 240)


async def test_stop_in_the_middle_of_a_segment_finishes_a_valid_file(tmp_path: Path) -> None:
    camera = Camera()
    writer, events = writer_for(tmp_path, camera)
    for _ in range(10):
        writer.on_frame(camera.next())
    assert list(tmp_path.iterdir()) == [tmp_path / "v-00000.webm.part"]
    (segment,) = await writer.stop()
    assert events == [segment]
    assert (segment.frame_count, segment.ended_by, segment.duration_seconds) == (10, "stop", 10 / 30)
    assert_intact(segment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v-00000.json", "v-00000.webm"]
    writer.on_frame(camera.next())  # after stop: dropped, no new file
    assert writer.dropped_frames == 1 and await writer.stop() == [segment]


async def test_audio_is_cut_at_the_maximum_with_a_proper_opus_header(tmp_path: Path) -> None:
    events: list[Any] = []
    writer = SegmentWriter(
        tmp_path, "a", track_id="mic", kind="audio", policy=SegmentPolicy(max_seconds=0.5), on_segment=events.append
    )
    for n, data in enumerate(opus_packets(80)):
        writer.on_frame(audio_frame(data, WRAP - 960 * 40 + n * 960))  # wraps halfway
    segments = await writer.stop()
    assert [s.frame_count for s in segments] == [25, 25, 25, 5]
    assert [s.duration_seconds for s in segments] == [0.5, 0.5, 0.5, 0.1]
    for segment in segments:
        assert_intact(segment)
        decoded = decode(segment.path)
        assert decoded.samples == segment.frame_count * 960
        assert decoded.channels == 2
        assert decoded.extradata == b"OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x00"


async def test_late_frames_are_dropped_and_a_jump_back_starts_a_new_timeline(tmp_path: Path) -> None:
    source = Vp8Source()
    writer, _ = writer_for(tmp_path)
    for i in range(6):
        writer.on_frame(video_frame(source.next(keyframe=i == 0), 90000 + i * 3000))
    writer.on_frame(video_frame(source.next(), 90000 + 2 * 3000))  # late: dropped
    restarted = Vp8Source()
    for i in range(4):  # the sender restarted its clock, 1 s back
        writer.on_frame(video_frame(restarted.next(keyframe=i == 0), i * 3000))
    first, second = await writer.stop()
    assert (first.frame_count, first.ended_by) == (6, "discontinuity")
    assert (second.frame_count, second.first_rtp_timestamp, second.dropped_frames) == (4, 0, 1)
    assert_intact(first)
    assert_intact(second)


async def test_sender_reports_go_with_the_segments_they_describe(tmp_path: Path) -> None:
    camera = Camera(delay=0)
    writer, _ = writer_for(tmp_path, camera, policy=SegmentPolicy(max_seconds=0.5, keyframe_retry_seconds=0.1))

    def report(ssrc: int, rtp_timestamp: int) -> SenderReport:
        return SenderReport(
            ssrc=ssrc,
            ntp_timestamp=(2_208_988_800 + 2000) << 32,
            rtp_timestamp=rtp_timestamp,
            packet_count=1,
            octet_count=1,
            received_at=0.0,
        )

    early = report(7, 12345)
    writer.on_sender_report(early)  # before any frame
    for i in range(30):
        if i == 5:
            writer.on_sender_report(report(99, 0))  # another stream's: not ours
        writer.on_frame(camera.next())
    segments = await writer.stop()
    assert segments[0].sender_reports == (early,)
    assert segments[1].sender_reports == (early,)  # the latest one before it is carried over
    assert segments[0].sender_wall_clock == 2000.0
    assert segments[1].sender_wall_clock == 2000.0 + segments[0].duration_seconds


async def test_codecs_webm_cannot_carry_stop_the_writer(tmp_path: Path) -> None:
    errors: list[SegmentError] = []
    writer = SegmentWriter(tmp_path, "v", track_id="t", kind="video", on_error=errors.append)
    writer.on_frame(
        EncodedFrame(
            kind="video",
            codec="H264",
            clock_rate=90000,
            rtp_timestamp=0,
            data=b"\x00" * 10,
            keyframe=True,
            received_at=0.0,
        )
    )
    await writer.drain()
    assert len(errors) == 1 and isinstance(errors[0], UnsupportedCodec) and writer.closed
    assert list(tmp_path.iterdir()) == []


class FillsUp:
    """A file that runs out of space after `limit` bytes, like a full disk."""

    def __init__(self, path: Path, limit: int) -> None:
        self._file = open(path, "xb")
        self._limit = limit
        self.written = 0

    def write(self, data: Any) -> int:
        if self.written + len(data) > self._limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += len(data)
        return self._file.write(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False


@pytest.mark.parametrize("limit", [None, 0, 3000, 6000])
async def test_a_full_disk_stops_the_writer_and_keeps_finished_segments(tmp_path: Path, limit: int | None) -> None:
    def open_part(path: Path) -> BinaryIO:
        if not path.name.startswith("v-00002"):
            return open(path, "xb")
        if limit is None:  # cannot even create the file
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return cast(BinaryIO, FillsUp(path, limit))

    loop_errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
    camera = Camera(delay=0)
    writer, events = writer_for(tmp_path, camera, open_part=open_part)
    for _ in range(120):
        writer.on_frame(camera.next())  # never raises, even once the disk is full
        await asyncio.sleep(0)
    finished = await writer.stop()

    assert [s.index for s in finished] == [0, 1]
    errors = [e for e in events if isinstance(e, SegmentError)]
    assert len(errors) == 1 and isinstance(errors[0], SegmentDiskError)
    assert errors[0].errno == errno.ENOSPC and errors[0].path == tmp_path / "v-00002.webm.part"
    assert writer.error is errors[0] and writer.closed
    assert [e for e in events if isinstance(e, FinishedSegment)] == finished
    for segment in finished:
        assert_intact(segment)
    # What was being written stays a .part: never published, never reported.
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:4] == ["v-00000.json", "v-00000.webm", "v-00001.json", "v-00001.webm"]
    assert all(name.endswith(".webm.part") and name >= "v-00002" for name in names[4:])
    assert ("v-00002.webm.part" in names) == (limit is not None)
    assert writer.dropped_frames > 0 and loop_errors == []


async def test_a_segment_still_being_written_is_only_a_part_file(tmp_path: Path) -> None:
    camera = Camera(delay=0)
    writer, events = writer_for(tmp_path, camera)
    for _ in range(40):
        writer.on_frame(camera.next())
    await writer.drain()  # segment 0 published, segment 1 open: as a crash would find them
    assert [s.index for s in events] == [0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v-00000.json", "v-00000.webm", "v-00001.webm.part"]
    await writer.stop()


async def test_an_existing_segment_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "v-00000.webm").write_bytes(b"evidence")
    camera = Camera()
    writer, events = writer_for(tmp_path, camera)
    writer.on_frame(camera.next())
    await writer.stop()
    assert len(events) == 1 and isinstance(events[0], SegmentError) and not isinstance(events[0], SegmentDiskError)
    assert (tmp_path / "v-00000.webm").read_bytes() == b"evidence"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v-00000.webm"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 200 KiB tmpfs: a disk that really fills up (needs root)."""
    from tests.support.tmpfs import tiny_tmpfs

    with tiny_tmpfs(tmp_path / "tiny", "200k") as mount:
        yield mount


async def test_a_disk_that_really_fills_up(tiny_disk: Path) -> None:
    camera = Camera(delay=0, source=Vp8Source(320, 240))
    writer, events = writer_for(tiny_disk, camera)
    for _ in range(600):
        writer.on_frame(camera.next())
        if writer.closed:
            break
        await asyncio.sleep(0)
    finished = await writer.stop()
    assert isinstance(writer.error, SegmentDiskError) and writer.error.errno == errno.ENOSPC
    assert finished and [s.index for s in finished] == list(range(len(finished)))
    for segment in finished:
        assert_intact(segment)
    published = sorted(p.name for p in tiny_disk.glob("*.webm"))
    assert published == [s.path.name for s in finished]
