"""Two Heshi nodes sharing one Redis and one database: a room spans both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from server.app import create_app
from server.services.core import Core
from signaling.server import SIGNALING
from signaling.store.redis import RedisRoomStore
from tests.conftest import World
from tests.signaling.harness import Participant, join_cookie
from tests.support.stores import room_store as open_room_store


@pytest.fixture
async def nodes(aiohttp_server: Any, core: Core, world: World) -> AsyncIterator[list[str]]:
    # A prefix of this test's own: rooms of other runs in a shared Redis are not ours to sweep.
    async with open_room_store("redis") as store:
        settings = store.settings(core.settings)
        urls, cores = [], []
        for _ in range(2):
            node_core = Core.build(settings, clock=core.clock)
            cores.append(node_core)
            server = await aiohttp_server(create_app(settings, core=node_core))
            assert isinstance(server.app[SIGNALING].store, RedisRoomStore)
            urls.append(str(server.make_url("")).rstrip("/"))
        yield urls


async def _person(base: str, world: World, role: str, people: list[Participant]) -> Participant:
    p = Participant(base, world.demo.session_id, join=await join_cookie(base, world.demo.links[role]))
    people.append(p)
    await p.connect()
    return p


async def test_participants_on_two_nodes_see_each_other_relay_and_chat(nodes, world):
    a, b = nodes
    people: list[Participant] = []
    try:
        mediator = await _person(a, world, "mediator", people)
        await mediator.join()
        applicant = await _person(b, world, "applicant", people)
        joined = await applicant.join()
        assert joined["room"]["you"]["state"] == "lobby"
        await mediator.wait_event("lobby.updated", where=lambda d: d["lobby"])
        assert (await mediator.call("lobby.admit", {}))["admitted"] == [applicant.pid]
        await applicant.wait_event("participant.joined", where=lambda d: d["participant"]["pid"] == applicant.pid)

        assert (await applicant.call("signal", {"to": mediator.pid, "type": "offer", "sdp": "v=0\r\n"}))["ok"]
        await mediator.wait_for(lambda: mediator.signals, what="offer relayed from node B to node A")
        assert mediator.signals[0]["from"] == applicant.pid

        sent = await mediator.call("chat.send", {"client_id": "n1", "text": "跨节点消息"})
        got = await applicant.wait_event("chat.message", id=sent["message"]["id"])
        assert got["data"]["text"] == "跨节点消息"
    finally:
        for p in people:
            await p.close()


async def test_a_participant_who_reconnects_through_the_other_node_keeps_their_seat_and_gets_what_they_missed(
    nodes, world
):
    a, b = nodes
    people: list[Participant] = []
    try:
        mediator = await _person(a, world, "mediator", people)
        await mediator.join()
        expert = await _person(b, world, "expert", people)
        first = await expert.join()
        assert first["room"]["you"]["state"] == "admitted"
        last_seq = max([first["room"]["seq"], *(e["seq"] for e in expert.events)])
        await expert.close()
        await mediator.wait_event("participant.reconnecting", pid=expert.pid)

        sent = [await mediator.call("chat.send", {"client_id": f"m{i}", "text": f"消息{i}"}) for i in range(3)]

        again = Participant(a, world.demo.session_id, join=expert.cookies["heshi_join"])
        people.append(again)
        await again.connect()
        ack = await again.join(resume_token=first["resume_token"], last_seq=last_seq)
        assert ack["resumed"] is True
        assert ack["room"]["you"]["pid"] == expert.pid and ack["room"]["you"]["state"] == "admitted"
        missed_chat = [e["data"]["id"] for e in ack["missed"] if e["type"] == "chat.message"]
        assert missed_chat == [s["message"]["id"] for s in sent]
        seqs = [e["seq"] for e in ack["missed"]]
        assert seqs == sorted(set(seqs))
        back = await mediator.wait_event(
            "participant.reconnected", where=lambda d: d["participant"]["pid"] == expert.pid
        )
        assert back["data"]["renegotiate"] is True
        roster = [p["pid"] for p in ack["room"]["participants"]]
        assert sorted(roster) == sorted({mediator.pid, expert.pid})
    finally:
        for p in people:
            await p.close()


async def test_joins_fail_closed_with_a_clear_error_while_redis_is_down(aiohttp_server, core, world):
    """Room state lives in Redis: without it nobody is let in, and nothing crashes."""
    from tests.support.services import start_redis

    url, proc = start_redis()
    try:
        settings = replace(core.settings, redis_url=url)
        node = Core.build(settings, clock=core.clock)
        server = await aiohttp_server(create_app(settings, core=node))
        base = str(server.make_url("")).rstrip("/")
        mediator = Participant(base, world.demo.session_id, join=await join_cookie(base, world.demo.links["mediator"]))
        await mediator.connect()
        proc.terminate()
        proc.wait(10)
        ack = await mediator.call("room.join", {}, timeout=30)
        assert ack["ok"] is False
        assert ack["error"]["code"] == "unavailable"
        # The connection survives and the health check still answers.
        assert mediator.sio.connected
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200
        await mediator.close()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
