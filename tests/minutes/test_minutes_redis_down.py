"""The minutes do not depend on Redis (DESIGN.md): on a node whose room state lives in Redis,
the mediator's saves are stored and acknowledged, and everyone admitted still reads them, while
Redis is down; only the live `minutes.updated` is lost, and `minutes.get` catches up."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from server.app import create_app
from server.services import eventlog
from server.services.core import Core
from tests.signaling.harness import Participant, join_cookie
from tests.support.services import start_redis

from .test_minutes_live import save


async def test_minutes_are_saved_and_read_while_redis_is_down(aiohttp_server: Any, core: Core, world: Any) -> None:
    url, proc = start_redis()
    people: list[Participant] = []
    try:
        settings = replace(core.settings, redis_url=url)
        node = Core.build(settings, clock=core.clock)
        server = await aiohttp_server(create_app(settings, core=node))
        base = str(server.make_url("")).rstrip("/")

        async def person(role: str) -> Participant:
            p = Participant(base, world.demo.session_id, join=await join_cookie(base, world.demo.links[role]))
            people.append(p)
            await p.connect()
            return p

        mediator, applicant = await person("mediator"), await person("applicant")
        await mediator.join()
        await applicant.join()
        assert (await mediator.call("lobby.admit", {}))["ok"]
        await applicant.wait_event("participant.joined", where=lambda d: d["participant"]["pid"] == applicant.pid)
        first = await mediator.call("minutes.save", save(0, "before", result="开始"))
        assert first["ok"] and first["revision"] == 1

        proc.terminate()
        proc.wait(10)

        entry = {"speaker": "李秀英", "text": "断网期间的陈述", "at": "2026-12-05T09:30:00+00:00"}
        ack = await mediator.call("minutes.save", save(1, "during", entries=[entry], result="继续"), timeout=30)
        assert ack["ok"], ack
        assert ack["revision"] == 2 and not ack["duplicate"]
        again = await mediator.call("minutes.save", save(1, "during", entries=[entry], result="继续"), timeout=30)
        assert again["ok"] and again["duplicate"] and again["revision"] == 2  # a resend is still stored once
        read = await applicant.call("minutes.get", timeout=30)
        assert read["ok"], read
        assert read["minutes"]["revision"] == 2 and read["minutes"]["sha256"] == ack["sha256"]
        assert read["minutes"]["document"]["entries"][0]["text"] == "断网期间的陈述"
        # A save on the old revision is still a conflict, never an overwrite.
        stale = await applicant.call("minutes.save", save(1, "party", result="改"), timeout=30)
        assert not stale["ok"] and stale["error"]["code"] == "forbidden"  # a party writes nothing, Redis or not
        stale = await mediator.call("minutes.save", save(1, "stale", result="旧"), timeout=30)
        assert not stale["ok"] and stale["error"]["code"] == "conflict" and stale["error"]["current_revision"] == 2

        async with core.db.read() as tx:
            logged = await eventlog.entries(tx, world.demo.case_id, kinds=("minutes.saved",))
        assert [e.data["revision"] for e in logged] == [1, 2]
        assert logged[1].data["sha256"] == ack["sha256"] and logged[1].actor == f"invitation:{mediator.pid[2:]}"
        assert mediator.sio.connected and applicant.sio.connected
    finally:
        for p in people:
            await p.close()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
