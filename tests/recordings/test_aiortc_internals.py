"""The recorder relies on aiortc and aioice internals: these tests fail loudly when an upgrade moves one.

If one fails after changing the aiortc pin, read recordings/aiortc_internals.py (HOOKS
lists each internal and what the tap does with it) and update recordings/tap.py. If one
fails after changing the aioice pin, update restricted_host_addresses there.
"""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import aioice
import aiortc
import pytest
from aioice import ice as aioice_ice
from aiortc import RTCPeerConnection, RTCRtpReceiver, rtcrtpreceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport

from recordings import aiortc_internals
from recordings.aiortc_internals import (
    HOOKS,
    PINNED_AIOICE_VERSION,
    PINNED_AIORTC_VERSION,
    AioiceInternalsChanged,
    AiortcInternalsChanged,
    ReceiverInternals,
    check_aioice,
    check_aiortc,
    restricted_host_addresses,
)

ROOT = Path(__file__).resolve().parents[2]


def _source(function: Any) -> str:
    return re.sub(r"\s+", " ", inspect.getsource(function))


def test_the_installed_aiortc_is_the_pinned_one() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"aiortc=={PINNED_AIORTC_VERSION}" in pins, (
        "recordings/aiortc_internals.py names another aiortc version than pyproject.toml"
    )
    assert aiortc.__version__ == PINNED_AIORTC_VERSION, (
        f"aiortc {aiortc.__version__} is installed but the recorder was checked against {PINNED_AIORTC_VERSION}: "
        "re-check every hook in recordings/aiortc_internals.py, then move the pin"
    )
    assert aiortc_internals.version_is_pinned()


def test_every_hooked_function_has_the_expected_shape() -> None:
    check_aiortc()


async def test_a_fresh_receiver_has_the_private_state_the_tap_replaces() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video", direction="recvonly").receiver
        internals = ReceiverInternals(receiver)
        assert internals.kind == "video"
        assert not internals.started and not internals.replaced_queue
    finally:
        await pc.close()


def test_the_receiver_feeds_its_decoder_thread_as_the_tap_expects() -> None:
    """What signatures cannot show: where frames, timestamps and the stop signal flow."""
    receive = _source(RTCRtpReceiver.receive)
    assert "target=decoder_worker" in receive and "self.__decoder_queue," in receive, (
        "receive() no longer starts decoder_worker on self.__decoder_queue"
    )
    handle = _source(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__timestamp_mapper.map(" in handle, "_handle_rtp_packet no longer maps timestamps"
    assert "self.__decoder_queue.put((codec, encoded_frame))" in handle, (
        "_handle_rtp_packet no longer queues (codec, frame) for the decoder"
    )
    assert "if not self._enabled:" in handle
    stop = _source(RTCRtpReceiver._RTCRtpReceiver__stop_decoder)
    assert "self.__decoder_queue.put(None)" in stop, "stopping no longer puts None in the decoder queue"
    worker = _source(rtcrtpreceiver.decoder_worker)
    assert "input_q.get()" in worker and "if task is None:" in worker, "decoder_worker reads its queue differently"
    rtcp = _source(RTCRtpReceiver._handle_rtcp_packet)
    assert "isinstance(packet, RtcpSrPacket)" in rtcp


def test_the_transport_calls_the_receivers_handlers_through_the_instance() -> None:
    # The tap wraps _handle_rtp_packet/_handle_rtcp_packet per instance; a call through the class would skip it.
    assert "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in _source(
        RTCDtlsTransport._handle_rtp_data
    )
    assert "await recipient._handle_rtcp_packet(packet)" in _source(RTCDtlsTransport._handle_rtcp_data)


def test_a_moved_hook_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def send_pli(self: Any, ssrc: int) -> None:
        pass

    monkeypatch.setattr(RTCRtpReceiver, "_send_rtcp_pli", send_pli)
    with pytest.raises(AiortcInternalsChanged) as caught:
        check_aiortc()
    message = str(caught.value)
    assert message.startswith(f"aiortc {aiortc.__version__} changed RTCRtpReceiver._send_rtcp_pli")
    assert "recordings/tap.py must be updated" in message
    monkeypatch.delattr(RTCRtpReceiver, "_send_rtcp_pli")
    with pytest.raises(AiortcInternalsChanged, match=r"_send_rtcp_pli \(missing\)"):
        check_aiortc()


async def test_a_receiver_without_the_private_queue_is_refused() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio", direction="recvonly").receiver
        delattr(receiver, "_RTCRtpReceiver__decoder_queue")
        with pytest.raises(AiortcInternalsChanged, match=r"RTCRtpReceiver.__decoder_queue \(missing\)"):
            ReceiverInternals(receiver)
    finally:
        await pc.close()


def test_every_hook_is_documented() -> None:
    documented = " ".join(hook.name for hook in HOOKS)
    for name in (
        "__decoder_queue",
        "decoder_worker",
        "__started",
        "__decoder_thread",
        "__timestamp_mapper",
        "__codecs",
        "__kind",
        "_handle_rtp_packet",
        "_handle_rtcp_packet",
        "_send_rtcp_pli",
        "JitterFrame",
        "RtcpSrPacket",
        "is_rtx",
        "aioice.ice.get_host_addresses",
    ):
        assert name in documented, name


# ---- aioice: the worker's host addresses ----------------------------------------------------


def test_the_installed_aioice_is_the_pinned_one() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"aioice=={PINNED_AIOICE_VERSION}" in pins, (
        "recordings/aiortc_internals.py names another aioice version than pyproject.toml"
    )
    assert aioice.__version__ == PINNED_AIOICE_VERSION, (
        f"aioice {aioice.__version__} is installed but restricted_host_addresses was checked against "
        f"{PINNED_AIOICE_VERSION}: re-check it in recordings/aiortc_internals.py, then move the pin"
    )


def test_aioice_gathers_host_candidates_through_the_function_the_worker_replaces() -> None:
    check_aioice()
    gather = _source(aioice_ice.Connection.gather_candidates)
    assert "addresses = get_host_addresses( use_ipv4=self._use_ipv4, use_ipv6=self._use_ipv6 )" in gather, (
        "gather_candidates no longer takes its host addresses from get_host_addresses"
    )
    assert "self.get_component_candidates(component=component, addresses=addresses)" in gather, (
        "gather_candidates no longer makes one host candidate per address it got"
    )


async def _gathered_hosts() -> set[str]:
    connection = aioice_ice.Connection(ice_controlling=False)  # no STUN or TURN server: host candidates only
    try:
        await connection.gather_candidates()
        return {c.host for c in connection.local_candidates if c.type == "host"}
    finally:
        await connection.close()


async def test_restricted_host_addresses_gathers_only_there_and_restores_aioice() -> None:
    original = aioice_ice.get_host_addresses
    assert "127.0.0.1" not in await _gathered_hosts(), "aioice itself leaves loopback out"
    with restricted_host_addresses(["127.0.0.1"]):
        assert await _gathered_hosts() == {"127.0.0.1"}
    assert aioice_ice.get_host_addresses is original
    with restricted_host_addresses([]):
        assert aioice_ice.get_host_addresses is original, "no addresses: aioice's own choice"


def test_a_moved_aioice_hook_is_named_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice_ice, "get_host_addresses", lambda use_ipv4, use_ipv6, use_mdns: [])
    with pytest.raises(AioiceInternalsChanged) as caught:
        check_aioice()
    message = str(caught.value)
    assert message.startswith(f"aioice {aioice.__version__} changed aioice.ice.get_host_addresses (parameters")
    assert "restricted_host_addresses in recordings/aiortc_internals.py must be updated" in message
    assert isinstance(caught.value, AiortcInternalsChanged)
    with pytest.raises(AioiceInternalsChanged):
        with restricted_host_addresses(["127.0.0.1"]):
            pytest.fail("the restriction must refuse to start when its hook moved")
    monkeypatch.delattr(aioice_ice, "get_host_addresses")
    with pytest.raises(AioiceInternalsChanged, match=r"get_host_addresses \(missing\)"):
        check_aioice()


def test_gathering_that_no_longer_asks_get_host_addresses_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    async def gather_candidates(self: Any) -> None:
        pass

    monkeypatch.setattr(aioice_ice.Connection, "gather_candidates", gather_candidates)
    with pytest.raises(
        AioiceInternalsChanged, match=r"Connection.gather_candidates \(no longer calls get_host_addresses\)"
    ):
        check_aioice()
