"""Network drops, resumes, reloads, replaced connections, the grace period and the idle timeout.
Time is the injected FrozenClock; the sweep is called directly instead of waiting for it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio
from sqlalchemy import select

from server.http.requests import JOIN_COOKIE
from server.storage.models import CaseEvent, MediationSession
from tests.signaling.harness import Participant
from tests.support.stores import on_both_room_stores

pytestmark = on_both_room_stores  # the live room, on the memory store and on Redis

# ---- helpers ----------------------------------------------------------------------------


def same_person(live: Any, p: Participant) -> Participant:
    """A new connection with the same invitation cookie (a new socket, a reloaded page)."""
    q = Participant(live.base_url, live.session_id, join=p.cookies[JOIN_COOKIE])
    live.people.append(q)
    return q


def last_seq(p: Participant) -> int:
    assert p.joined is not None
    return max([e["seq"] for e in p.events] + [p.joined["room"]["seq"]])


async def drop(live: Any, p: Participant) -> None:
    """The connection goes away, as after a network drop; returns once the server has noticed."""
    pid = p.pid
    await p.sio.eio.disconnect(abort=True)
    deadline = asyncio.get_running_loop().time() + 10
    while p.sio.connected or ((seat := await seat_of(live, pid)) is not None and seat.connected):
        assert asyncio.get_running_loop().time() < deadline, "the server did not notice the drop"
        await asyncio.sleep(0.02)


async def closed(p: Participant, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while p.sio.connected:
        assert asyncio.get_running_loop().time() < deadline, "the server did not close the connection"
        await asyncio.sleep(0.02)


async def meeting(live: Any, *roles: str) -> dict[str, Participant]:
    m = await live.person("mediator")
    await m.join()
    people = {"mediator": m}
    for role in roles:
        p = await live.person(role)
        if (await p.join())["room"]["you"]["state"] == "lobby":
            assert (await m.call("lobby.admit", {"pids": [p.pid]}))["admitted"] == [p.pid]
            await p.wait_event("participant.joined", where=lambda d, pid=p.pid: d["participant"]["pid"] == pid)
        people[role] = p
    return people


async def seat_of(live: Any, pid: str) -> Any:
    room = await live.signaling.store.load(live.session_id)
    return None if room is None else room.seats.get(pid)


async def session_status(core: Any, session_id: str) -> str:
    async with core.db.read() as s:
        row = await s.get(MediationSession, session_id)
    assert row is not None
    return row.status


# ---- drops and resumes ------------------------------------------------------------------


async def test_a_dropped_connection_is_announced_and_the_seat_is_kept(live):
    people = await meeting(live, "applicant", "expert")
    mediator, applicant, expert = people["mediator"], people["applicant"], people["expert"]
    await drop(live, applicant)
    for p in (mediator, expert):
        got = await p.wait_event("participant.reconnecting", pid=applicant.pid)
        assert got["data"] == {"pid": applicant.pid}
    seat = await seat_of(live, applicant.pid)
    assert seat.connected is False and seat.state.value == "admitted"


async def test_resuming_within_the_grace_period_returns_exactly_the_missed_events_in_order(live, core):
    people = await meeting(live, "applicant", "expert")
    mediator, applicant, expert = people["mediator"], people["applicant"], people["expert"]
    assert (await applicant.call("media.publish", {}))["ok"]
    await mediator.wait_event("publisher.added", pid=applicant.pid)
    token, seen = applicant.joined["resume_token"], last_seq(applicant)
    await drop(live, applicant)
    await mediator.wait_event("participant.reconnecting", pid=applicant.pid)

    core.clock.advance(seconds=10)
    public = [
        (await mediator.call("chat.send", {"client_id": f"away{i}", "text": f"离线期间{i}"}))["message"]["id"]
        for i in range(3)
    ]
    to_expert = await mediator.call("chat.send", {"client_id": "exp", "text": "给专家", "to": expert.pid})
    to_applicant = await mediator.call("chat.send", {"client_id": "app", "text": "给申请人", "to": applicant.pid})
    assert (await expert.call("media.publish", {}))["ok"]
    core.clock.advance(seconds=core.settings.session_grace_seconds - 20)
    await live.signaling.service.sweep()  # inside the grace period: nothing released

    back = same_person(live, applicant)
    ack = await back.join(resume_token=token, last_seq=seen)
    assert ack["resumed"] is True and ack["resume_token"] != token
    assert ack["room"]["you"] == {
        "pid": applicant.pid,
        "name": "李秀英",
        "role": "applicant",
        "state": "admitted",
        "connected": True,
        "publishing": True,
    }
    assert back.pid == applicant.pid
    missed = ack["missed"]
    assert [e["type"] for e in missed] == ["chat.message"] * 4 + ["publisher.added"]
    assert [e["data"]["id"] for e in missed[:4]] == public + [to_applicant["message"]["id"]]
    assert missed[4]["data"] == {"pid": expert.pid}
    seqs = [e["seq"] for e in missed]
    assert seqs == sorted(set(seqs)) and seqs[0] > seen and seqs[-1] <= ack["room"]["seq"]
    assert to_expert["message"]["id"] not in [e["data"].get("id") for e in missed]

    for p in (mediator, expert):
        got = await p.wait_event("participant.reconnected", where=lambda d: d["participant"]["pid"] == applicant.pid)
        assert got["data"]["renegotiate"] is True and got["data"]["participant"]["connected"] is True
    assert not back.of_type("participant.reconnected")
    pids = [p["pid"] for p in ack["room"]["participants"]]
    assert sorted(pids) == sorted({mediator.pid, applicant.pid, expert.pid}) and len(pids) == 3

    # Events after the resume arrive live, not again in a later sync.
    later = await mediator.call("chat.send", {"client_id": "after", "text": "回来了"})
    got = await back.wait_event("chat.message", id=later["message"]["id"])
    assert got["seq"] > ack["room"]["seq"]
    assert len(back.of_type("chat.message")) == 1


async def test_a_stale_or_wrong_resume_token_keeps_the_seat_but_returns_no_missed_events(live):
    people = await meeting(live, "applicant")
    applicant = people["applicant"]
    seen = last_seq(applicant)
    await drop(live, applicant)
    ack = await same_person(live, applicant).join(resume_token="not-the-token", last_seq=seen)
    assert ack["resumed"] is True and ack["missed"] is None
    assert ack["room"]["you"]["state"] == "admitted"


async def test_someone_waiting_in_the_lobby_who_drops_comes_back_to_the_lobby(live):
    mediator = await live.person("mediator")
    await mediator.join()
    applicant = await live.person("applicant")
    first = await applicant.join()
    await drop(live, applicant)
    await mediator.wait_event("lobby.updated", where=lambda d: d["lobby"] and not d["lobby"][0]["connected"])
    ack = await same_person(live, applicant).join(resume_token=first["resume_token"], last_seq=last_seq(applicant))
    assert ack["resumed"] is True and ack["room"]["you"]["state"] == "lobby"
    assert ack["room"]["lobby_reason"] == "waiting_for_admission" and ack["chat"] is None
    # One for the lobby change the drop caused, while away; one for the rejoin itself.
    assert [(e["type"], e["data"]) for e in ack["missed"]] == [
        ("lobby.status", {"reason": "waiting_for_admission"})
    ] * 2


async def test_after_the_grace_period_the_seat_is_released_and_logged(live, core):
    people = await meeting(live, "applicant")
    mediator, applicant = people["mediator"], people["applicant"]
    await drop(live, applicant)
    await mediator.wait_event("participant.reconnecting", pid=applicant.pid)
    core.clock.advance(seconds=core.settings.session_grace_seconds - 1)
    await live.signaling.service.sweep()
    assert await seat_of(live, applicant.pid) is not None
    core.clock.advance(seconds=1)
    await live.signaling.service.sweep()
    await mediator.wait_event("participant.left", pid=applicant.pid)
    assert await seat_of(live, applicant.pid) is None
    async with core.db.read() as s:
        leaves = (await s.execute(select(CaseEvent).where(CaseEvent.kind == "session.leave"))).scalars().all()
    assert [(e.data["pid"], e.data["reason"]) for e in leaves] == [(applicant.pid, "grace period expired")]
    # Coming back now is a new arrival: through the lobby again.
    again = await same_person(live, applicant).join()
    assert again["resumed"] is False and again["room"]["you"]["state"] == "lobby"


async def test_a_page_reload_keeps_the_admitted_seat_without_going_back_to_the_lobby(live):
    people = await meeting(live, "applicant")
    mediator, applicant = people["mediator"], people["applicant"]
    sent = await mediator.call("chat.send", {"client_id": "before-reload", "text": "刷新前"})
    await applicant.close()  # the page goes away
    await mediator.wait_event("participant.reconnecting", pid=applicant.pid)
    reloaded = same_person(live, applicant)
    ack = await reloaded.join()  # a new page: no resume token
    assert ack["resumed"] is True and ack["missed"] is None
    assert ack["room"]["you"]["state"] == "admitted" and reloaded.pid == applicant.pid
    assert [m["id"] for m in ack["chat"]["messages"]] == [sent["message"]["id"]]
    assert [p["pid"] for p in ack["room"]["participants"]].count(applicant.pid) == 1
    assert (await reloaded.call("chat.send", {"client_id": "after-reload", "text": "刷新后"}))["ok"]


async def test_a_second_connection_of_the_same_participant_replaces_the_first(live):
    people = await meeting(live, "applicant")
    mediator, applicant = people["mediator"], people["applicant"]
    second = await live.person("applicant")  # the same link opened on another device
    ack = await second.join()
    assert ack["resumed"] is True and second.pid == applicant.pid
    assert ack["room"]["you"]["state"] == "admitted"
    await closed(applicant)
    marker = await second.call("chat.send", {"client_id": "second", "text": "换了设备"})
    await mediator.wait_event("chat.message", id=marker["message"]["id"])
    assert not mediator.of_type("participant.reconnecting"), "the replaced socket's close was taken for a drop"
    seat = await seat_of(live, applicant.pid)
    assert seat.connected is True
    room = await live.signaling.store.load(live.session_id)
    assert list(room.seats).count(applicant.pid) == 1 and len(room.seats) == 2


async def test_a_mediator_who_drops_and_returns_puts_the_lobby_back_to_waiting_for_admission(live):
    mediator = await live.person("mediator")
    await mediator.join()
    applicant = await live.person("applicant")
    await applicant.join()
    await drop(live, mediator)
    await applicant.wait_event("lobby.status", reason="waiting_for_mediator")
    back = same_person(live, mediator)
    ack = await back.join()
    assert ack["resumed"] is True and [p["pid"] for p in ack["room"]["lobby"]] == [applicant.pid]
    await applicant.wait_for(
        lambda: applicant.of_type("lobby.status")[-1]["data"]["reason"] == "waiting_for_admission",
        what="waiting_for_admission again",
    )
    assert (await back.call("lobby.admit", {}))["admitted"] == [applicant.pid]


# ---- idle timeout -----------------------------------------------------------------------


async def test_a_session_nobody_is_connected_to_ends_after_the_idle_timeout(live, core):
    people = await meeting(live, "applicant")
    for p in people.values():
        await drop(live, p)
    idle = core.settings.session_idle_minutes
    core.clock.advance(minutes=idle - 1)
    await live.signaling.service.sweep()
    assert await session_status(core, live.session_id) == "live"
    assert await live.signaling.store.load(live.session_id) is not None
    core.clock.advance(minutes=1)
    await live.signaling.service.sweep()
    assert await session_status(core, live.session_id) == "ended"
    assert await live.signaling.store.load(live.session_id) is None
    async with core.db.read() as s:
        end = (await s.execute(select(CaseEvent).where(CaseEvent.kind == "session.end"))).scalars().all()
    assert [(e.actor, e.data["reason"]) for e in end] == [("system:idle-timeout", "idle timeout")]
    p = same_person(live, people["mediator"])
    got: list[Any] = []
    p.sio.on("connect_error", lambda data: got.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await p.connect()
    assert got[0]["data"]["code"] == "invalid_token"


async def test_a_session_with_someone_connected_does_not_idle_out(live, core):
    people = await meeting(live, "applicant")
    await drop(live, people["applicant"])
    core.clock.advance(minutes=core.settings.session_idle_minutes * 2)
    await live.signaling.service.sweep()
    assert await session_status(core, live.session_id) == "live"
    assert (await people["mediator"].call("room.sync", {"after_seq": 0}))["ok"]


async def test_the_idle_clock_starts_again_when_someone_comes_back(live, core):
    people = await meeting(live)
    mediator = people["mediator"]
    await drop(live, mediator)
    core.clock.advance(minutes=core.settings.session_idle_minutes - 5)
    await live.signaling.service.sweep()  # the mediator's seat is released; the room stays
    back = same_person(live, mediator)
    await back.join()
    await drop(live, back)
    core.clock.advance(minutes=10)
    await live.signaling.service.sweep()
    assert await session_status(core, live.session_id) == "live"
    core.clock.advance(minutes=core.settings.session_idle_minutes)
    await live.signaling.service.sweep()
    assert await session_status(core, live.session_id) == "ended"
