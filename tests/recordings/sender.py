"""A participant's send-only connection to the recorder, as a browser makes it, in aiortc."""

from __future__ import annotations

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from tests.signaling.harness import Participant


def prefer(transceiver, mime: str) -> None:  # type: ignore[no-untyped-def]
    caps = RTCRtpSender.getCapabilities(transceiver.kind)
    transceiver.setCodecPreferences(
        [c for c in caps.codecs if c.mimeType.lower() == mime] + [c for c in caps.codecs if c.mimeType.lower() != mime]
    )


async def send_to_recorder(p: Participant, *tracks: MediaStreamTrack) -> RTCPeerConnection:
    """Offer the tracks send-only to the recorder through the signaling, VP8 and Opus first."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # never a public STUN server
    for track in tracks:
        t = pc.addTransceiver(track, direction="sendonly")
        prefer(t, "video/vp8" if track.kind == "video" else "audio/opus")
    await pc.setLocalDescription(await pc.createOffer())
    seen = len([s for s in p.signals if s["from"] == "recorder" and s["type"] == "answer"])
    ack = await p.call("signal", {"to": "recorder", "type": "offer", "sdp": pc.localDescription.sdp})
    assert ack == {"ok": True}, ack
    answers = await p.wait_for(
        lambda: (a := [s for s in p.signals if s["from"] == "recorder" and s["type"] == "answer"])[seen:] and a,
        timeout=20,
        what="the recorder's answer",
    )
    await pc.setRemoteDescription(RTCSessionDescription(answers[-1]["sdp"], "answer"))
    return pc
