"""Real WebRTC peers (aiortc) set up audio and video with each other through the signaling alone."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.signaling.harness import Participant
from tests.support.stores import on_both_room_stores

pytestmark = on_both_room_stores  # the live room, on the memory store and on Redis


async def _negotiate(
    offerer: Participant, answerer: Participant, pc_offer: RTCPeerConnection, pc_answer: RTCPeerConnection
) -> None:
    """Offer/answer through the server. aiortc gathers candidates before it sets the local
    description, so the SDP carries them and no trickle is needed."""
    await pc_offer.setLocalDescription(await pc_offer.createOffer())
    ack = await offerer.call("signal", {"to": answerer.pid, "type": "offer", "sdp": pc_offer.localDescription.sdp})
    assert ack == {"ok": True}
    offer = await answerer.wait_for(
        lambda: next((s for s in answerer.signals if s["type"] == "offer"), None), what="offer"
    )
    assert offer["from"] == offerer.pid
    await pc_answer.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
    await pc_answer.setLocalDescription(await pc_answer.createAnswer())
    ack = await answerer.call("signal", {"to": offerer.pid, "type": "answer", "sdp": pc_answer.localDescription.sdp})
    assert ack == {"ok": True}
    answer = await offerer.wait_for(
        lambda: next((s for s in offerer.signals if s["type"] == "answer"), None), what="answer"
    )
    await pc_offer.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))


async def test_two_aiortc_peers_exchange_audio_and_video_through_heshi_signaling(live):
    mediator = await live.person("mediator")
    await mediator.join()
    expert = await live.person("expert")
    await expert.join()
    assert (await mediator.call("media.publish"))["publishing"] is True
    assert (await expert.call("media.publish"))["publishing"] is True

    pc_m, pc_e = RTCPeerConnection(), RTCPeerConnection()
    received: dict[str, list] = {"mediator": [], "expert": []}

    def collect(pc: RTCPeerConnection, who: str) -> None:
        @pc.on("track")
        def on_track(track):  # type: ignore[no-untyped-def]
            received[who].append(track)

    collect(pc_m, "mediator")
    collect(pc_e, "expert")
    for pc in (pc_m, pc_e):
        pc.addTrack(AudioStreamTrack())
        pc.addTrack(VideoStreamTrack())
    try:
        await _negotiate(mediator, expert, pc_m, pc_e)
        for who in ("mediator", "expert"):
            kinds = sorted(t.kind for t in received[who])
            assert kinds == ["audio", "video"], f"{who} got {kinds}"
        # Frames really flow both ways: several decoded video frames and audio frames each.
        for who in ("mediator", "expert"):
            for track in received[who]:
                frames = [await asyncio.wait_for(track.recv(), 10) for _ in range(5)]
                if track.kind == "video":
                    assert all(f.width == 640 and f.height == 480 for f in frames)
                    assert frames[-1].pts > frames[0].pts
                else:
                    assert all(f.sample_rate == 48000 for f in frames)
        assert pc_m.connectionState == "connected" and pc_e.connectionState == "connected"
    finally:
        await pc_m.close()
        await pc_e.close()
