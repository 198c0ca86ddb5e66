"""The main flow of a live session over real Socket.IO connections."""

from __future__ import annotations

from tests.support.stores import on_both_room_stores

pytestmark = on_both_room_stores  # the live room, on the memory store and on Redis


async def test_a_party_waits_in_the_lobby_until_the_mediator_admits_them(live):
    mediator = await live.person("mediator")
    m = await mediator.join()
    assert m["room"]["you"]["state"] == "admitted"
    applicant = await live.person("applicant")
    a = await applicant.join()
    assert a["room"]["you"]["state"] == "lobby"
    assert a["room"]["lobby_reason"] == "waiting_for_admission"
    update = await mediator.wait_event("lobby.updated", where=lambda d: d["lobby"])
    assert [p["pid"] for p in update["data"]["lobby"]] == [applicant.pid]
    ack = await mediator.call("lobby.admit", {"pids": [applicant.pid]})
    assert ack == {"ok": True, "admitted": [applicant.pid]}
    await applicant.wait_event("participant.joined")
    joined = await mediator.wait_event("participant.joined", where=lambda d: d["participant"]["pid"] == applicant.pid)
    assert joined["data"]["participant"]["state"] == "admitted"


async def test_chat_and_relay_between_admitted_members(live):
    mediator = await live.person("mediator")
    await mediator.join()
    expert = await live.person("expert")
    e = await expert.join()
    assert e["room"]["you"]["state"] == "admitted"  # direct entry
    ack = await expert.call("chat.send", {"client_id": "c1", "text": "你好"})
    assert ack["ok"] and ack["message"]["text"] == "你好"
    got = await mediator.wait_event("chat.message")
    assert got["data"]["id"] == ack["message"]["id"]
    ack = await mediator.call("signal", {"to": expert.pid, "type": "offer", "sdp": "v=0\r\n"})
    assert ack == {"ok": True}
    await expert.wait_for(lambda: expert.signals, what="signal")
    assert expert.signals[0] == {"from": mediator.pid, "type": "offer", "sdp": "v=0\r\n"}
