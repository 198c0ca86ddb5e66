"""Every private aiortc (and aioice) detail the recorder relies on, named and checked in one place.

aiortc has no public way to receive encoded frames: `RTCRtpReceiver` hands each
reassembled frame to a decoder thread through a private queue. Recording without
transcoding (DESIGN.md) therefore depends on aiortc internals, and aiortc is pinned in
pyproject.toml. When an upgrade moves one of them, `check_aiortc()` and
`receiver_internals()` raise `AiortcInternalsChanged` naming exactly what moved, instead
of the recorder silently writing nothing (or decoding everything). The tap touches
aiortc's privates only through `ReceiverInternals`.

Neither aiortc nor aioice (its ICE library) lets a caller choose the addresses host
candidates are gathered on: aioice asks every interface. The worker offers candidates only
on the operator's `recorder_addresses` by replacing `aioice.ice.get_host_addresses` for its
own process (`restricted_host_addresses`); aioice is pinned too, and `check_aioice()`
raises `AioiceInternalsChanged` when that function moves.
"""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import queue
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import aioice
import aiortc
from aioice import ice as _aioice_ice
from aiortc import RTCRtpReceiver
from aiortc import rtcrtpreceiver as _receiver_module
from aiortc.codecs import is_rtx
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket

PINNED_AIORTC_VERSION = "1.16.0"
PINNED_AIOICE_VERSION = "0.13.0"

# Name-mangled instance attributes of RTCRtpReceiver (set in its __init__).
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
_STARTED = "_RTCRtpReceiver__started"
_TIMESTAMP_MAPPER = "_RTCRtpReceiver__timestamp_mapper"
_CODECS = "_RTCRtpReceiver__codecs"
_KIND = "_RTCRtpReceiver__kind"


@dataclass(frozen=True)
class Hook:
    """One private aiortc detail and what recordings/tap.py does with it."""

    name: str
    use: str


HOOKS: tuple[Hook, ...] = (
    Hook(
        "RTCRtpReceiver.__decoder_queue",
        "replaced before receive(): put((codec, JitterFrame)) from _handle_rtp_packet goes to the tap, "
        "put(None) means the receiver stopped",
    ),
    Hook(
        "rtcrtpreceiver.decoder_worker(loop, input_q, output_q, decode_error)",
        "the decoder thread aiortc starts in receive() blocks in input_q.get() on the replaced queue",
    ),
    Hook("RTCRtpReceiver.__started / __decoder_thread", "the tap refuses a receiver that already started"),
    Hook(
        "RTCRtpReceiver.__timestamp_mapper.map(timestamp)",
        "replaced by the identity so frames keep the sender's 32-bit RTP timestamps",
    ),
    Hook("RTCRtpReceiver.__codecs", "payload type -> codec, to tell media packets from RTX"),
    Hook("RTCRtpReceiver.__kind", "audio or video, before the remote track exists"),
    Hook(
        "RTCRtpReceiver._handle_rtp_packet(packet, arrival_time_ms)",
        "wrapped per instance: first packet wall clock, media SSRC, per-frame arrival time",
    ),
    Hook("RTCRtpReceiver._handle_rtcp_packet(packet)", "wrapped per instance: RTCP sender reports"),
    Hook("RTCRtpReceiver._send_rtcp_pli(media_ssrc)", "called to ask the sender for a keyframe"),
    Hook("jitterbuffer.JitterFrame(data, timestamp)", "the encoded frame handed to the decoder queue"),
    Hook("rtp.RtcpSrPacket.sender_info (RtcpSenderInfo fields)", "NTP <-> RTP timestamp pairs for alignment"),
    Hook("codecs.is_rtx(codec)", "tells RTX payload types apart"),
    Hook(
        "aioice.ice.get_host_addresses(use_ipv4, use_ipv6)",
        "replaced for the worker's process by restricted_host_addresses: Connection.gather_candidates "
        "looks it up as a module global and binds one host candidate per address it returns",
    ),
)


class AiortcInternalsChanged(RuntimeError):
    """An aiortc internal the tap relies on is missing or has a different shape."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"aiortc {aiortc.__version__} changed {what}; recordings/tap.py must be updated "
            f"(it was written against aiortc {PINNED_AIORTC_VERSION})"
        )
        self.what = what


class AioiceInternalsChanged(AiortcInternalsChanged):
    """An aioice internal the worker's address restriction relies on is missing or has a different shape."""

    def __init__(self, what: str) -> None:
        RuntimeError.__init__(
            self,
            f"aioice {aioice.__version__} changed {what}; restricted_host_addresses in "
            f"recordings/aiortc_internals.py must be updated (it was written against aioice {PINNED_AIOICE_VERSION})",
        )
        self.what = what


def version_is_pinned() -> bool:
    return aiortc.__version__ == PINNED_AIORTC_VERSION and aioice.__version__ == PINNED_AIOICE_VERSION


def _require_params(
    owner: str,
    func: Any,
    expected: list[str],
    *,
    coroutine: bool,
    error: type[AiortcInternalsChanged] = AiortcInternalsChanged,
) -> None:
    if func is None or not callable(func):
        raise error(f"{owner} (missing)")
    if coroutine != inspect.iscoroutinefunction(func):
        kind = "a coroutine function" if coroutine else "a plain function"
        raise error(f"{owner} (no longer {kind})")
    params = list(inspect.signature(func).parameters)
    if params != expected:
        raise error(f"{owner} (parameters {params}, expected {expected})")


def check_aiortc() -> None:
    """Verify the classes and functions the tap hooks into; raise AiortcInternalsChanged if one moved."""
    _require_params(
        "RTCRtpReceiver._handle_rtp_packet",
        getattr(RTCRtpReceiver, "_handle_rtp_packet", None),
        ["self", "packet", "arrival_time_ms"],
        coroutine=True,
    )
    _require_params(
        "RTCRtpReceiver._handle_rtcp_packet",
        getattr(RTCRtpReceiver, "_handle_rtcp_packet", None),
        ["self", "packet"],
        coroutine=True,
    )
    _require_params(
        "RTCRtpReceiver._send_rtcp_pli",
        getattr(RTCRtpReceiver, "_send_rtcp_pli", None),
        ["self", "media_ssrc"],
        coroutine=True,
    )
    _require_params(
        "rtcrtpreceiver.decoder_worker",
        getattr(_receiver_module, "decoder_worker", None),
        ["loop", "input_q", "output_q", "decode_error"],
        coroutine=False,
    )
    _require_params("jitterbuffer.JitterFrame", JitterFrame.__init__, ["self", "data", "timestamp"], coroutine=False)
    if [f.name for f in fields(RtcpSenderInfo)] != ["ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count"]:
        raise AiortcInternalsChanged("rtp.RtcpSenderInfo (fields)")
    if [f.name for f in fields(RtcpSrPacket)][:2] != ["ssrc", "sender_info"]:
        raise AiortcInternalsChanged("rtp.RtcpSrPacket (fields)")


def check_aioice() -> None:
    """Verify what restricted_host_addresses replaces; raise AioiceInternalsChanged if it moved."""
    _require_params(
        "aioice.ice.get_host_addresses",
        getattr(_aioice_ice, "get_host_addresses", None),
        ["use_ipv4", "use_ipv6"],
        coroutine=False,
        error=AioiceInternalsChanged,
    )
    gather = getattr(_aioice_ice.Connection, "gather_candidates", None)
    _require_params(
        "aioice.ice.Connection.gather_candidates", gather, ["self"], coroutine=True, error=AioiceInternalsChanged
    )
    assert gather is not None  # _require_params refused a missing one
    # A replaced module global only takes effect if gathering looks the name up at call time.
    if "get_host_addresses" not in gather.__code__.co_names or gather.__globals__ is not vars(_aioice_ice):
        raise AioiceInternalsChanged("aioice.ice.Connection.gather_candidates (no longer calls get_host_addresses)")


@contextlib.contextmanager
def restricted_host_addresses(addresses: Sequence[str]) -> Iterator[None]:
    """While open, every ICE connection in this process offers host candidates only on `addresses`.

    No addresses: aioice's own choice (every interface but loopback). The replacement is
    process-wide, which is why only the recorder worker, a process of its own, opens this.
    """
    if not addresses:
        yield
        return
    check_aioice()
    chosen = tuple(str(ipaddress.ip_address(a)) for a in addresses)
    original = _aioice_ice.get_host_addresses

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (use_ipv4 if ipaddress.ip_address(a).version == 4 else use_ipv6)]

    _aioice_ice.get_host_addresses = get_host_addresses
    try:
        yield
    finally:
        _aioice_ice.get_host_addresses = original


class DecoderQueueReplacement:
    """Base of what a tap puts in place of the decoder queue: `put` from aiortc's loop, `get` from its thread."""

    def put(self, item: Any) -> None:
        raise NotImplementedError

    def get(self) -> Any:
        raise NotImplementedError


class ReceiverInternals:
    """Typed access to one RTCRtpReceiver's private state, verified on construction."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        check_aiortc()
        self.receiver = receiver
        for name, expected in ((_DECODER_QUEUE, queue.Queue), (_STARTED, bool), (_CODECS, dict), (_KIND, str)):
            value = getattr(receiver, name, _MISSING)
            if value is _MISSING:
                raise AiortcInternalsChanged(f"RTCRtpReceiver.{_public(name)} (missing)")
            if name == _DECODER_QUEUE and isinstance(value, DecoderQueueReplacement):
                continue
            if not isinstance(value, expected):
                raise AiortcInternalsChanged(
                    f"RTCRtpReceiver.{_public(name)} (a {type(value).__name__}, expected {expected.__name__})"
                )
        if not hasattr(receiver, _DECODER_THREAD):
            raise AiortcInternalsChanged(f"RTCRtpReceiver.{_public(_DECODER_THREAD)} (missing)")
        mapper = getattr(receiver, _TIMESTAMP_MAPPER, None)
        if not callable(getattr(mapper, "map", None)):
            raise AiortcInternalsChanged(f"RTCRtpReceiver.{_public(_TIMESTAMP_MAPPER)}.map (missing)")

    @property
    def started(self) -> bool:
        """True once receive() ran: the decoder thread then holds the original queue."""
        return bool(getattr(self.receiver, _STARTED)) or getattr(self.receiver, _DECODER_THREAD) is not None

    @property
    def replaced_queue(self) -> bool:
        """True once a tap replaced the decoder queue."""
        return isinstance(getattr(self.receiver, _DECODER_QUEUE), DecoderQueueReplacement)

    @property
    def kind(self) -> str:
        kind: str = getattr(self.receiver, _KIND)
        return kind

    def replace_decoder_queue(self, replacement: DecoderQueueReplacement) -> None:
        setattr(self.receiver, _DECODER_QUEUE, replacement)

    def replace_timestamp_mapper(self, replacement: Any) -> None:
        setattr(self.receiver, _TIMESTAMP_MAPPER, replacement)

    def codec(self, payload_type: int) -> RTCRtpCodecParameters | None:
        codec: RTCRtpCodecParameters | None = getattr(self.receiver, _CODECS).get(payload_type)
        return codec

    def is_media_payload(self, payload_type: int) -> bool:
        """A payload type this receiver decodes (not RTX, not unknown)."""
        codec = self.codec(payload_type)
        return codec is not None and not is_rtx(codec)

    def wrap_handle_rtp_packet(self, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        original = self.receiver._handle_rtp_packet
        self.receiver._handle_rtp_packet = wrapper(original)  # type: ignore[method-assign]

    def wrap_handle_rtcp_packet(self, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        original = self.receiver._handle_rtcp_packet
        self.receiver._handle_rtcp_packet = wrapper(original)  # type: ignore[method-assign]

    async def send_pli(self, media_ssrc: int) -> None:
        await self.receiver._send_rtcp_pli(media_ssrc)


_MISSING = object()


def _public(mangled: str) -> str:
    return mangled.replace("_RTCRtpReceiver", "", 1)
