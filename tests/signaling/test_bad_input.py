"""Hostile and malformed input: each gets a clear error, and the connection, the room and the
process carry on — after every bad message the same participant can still chat and sync."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import socketio

from server.http.requests import JOIN_COOKIE
from server.services import invitations
from signaling.limits import LIMITS
from tests.signaling.harness import Participant, refusal, staff_cookie
from tests.support.stores import on_both_room_stores

pytestmark = on_both_room_stores  # the live room, on the memory store and on Redis

# ---- helpers ----------------------------------------------------------------------------


def another(live: Any, *, join: str | None = None, staff: str | None = None, origin: str | None = None) -> Participant:
    p = Participant(live.base_url, live.session_id, join=join, staff=staff, origin=origin)
    live.people.append(p)
    return p


class Checker:
    """Asserts that a participant's connection is still fully usable."""

    def __init__(self, p: Participant, core: Any):
        self.p, self.core, self.n = p, core, 0

    async def still_usable(self, after: str = "") -> None:
        self.n += 1
        self.core.clock.advance(seconds=1)  # one more chat token; keeps the flood limits out of the way
        assert self.p.sio.connected, f"the connection closed after {after}"
        sync = await self.p.call("room.sync", {"after_seq": 0})
        assert sync["ok"], (after, sync)
        chat = await self.p.call("chat.send", {"client_id": f"alive-{self.n}", "text": "仍然可用"})
        assert chat["ok"] and chat["duplicate"] is False, (after, chat)


async def mediator_in_room(live: Any, core: Any) -> tuple[Participant, Checker]:
    m = await live.person("mediator")
    await m.join()
    return m, Checker(m, core)


def check_error(ack: Any, code: str, what: str) -> dict[str, Any]:
    assert isinstance(ack, dict) and ack.get("ok") is False, (what, ack)
    assert ack["error"]["code"] == code, (what, ack)
    assert isinstance(ack["error"]["message"], str) and ack["error"]["message"], (what, ack)
    return ack["error"]


# ---- unknown events and payloads of the wrong shape -------------------------------------


async def test_unknown_events_get_unknown_event_and_the_connection_carries_on(live, core):
    m, check = await mediator_in_room(live, core)
    names = [
        "room.destroy",
        "ROOM.JOIN",
        "room.join ",
        "admin.shutdown",
        "room.event",
        "error",
        "x" * 500,
        "__proto__",
        "signal\u0000",
        "调解.结束",
    ]
    for name in names:
        before = len(m.errors)
        check_error(await m.call(name, {}), "unknown_event", name)
        await m.wait_for(lambda before=before: len(m.errors) > before, what=f"error event for {name!r}")
        assert m.errors[-1]["event"] == name and m.errors[-1]["code"] == "unknown_event"
        await check.still_usable(name)


async def test_client_events_named_connect_or_disconnect_do_not_reach_the_lifecycle_handlers(live, core):
    m, check = await mediator_in_room(live, core)
    expert = await live.person("expert")
    await expert.join()
    echeck = Checker(expert, core)
    for name, args in (
        ("disconnect", "client disconnect"),
        ("disconnect", {}),
        ("connect", ({"aiohttp.request": "x"}, {"session_id": live.session_id})),
        ("connect", {}),
    ):
        check_error(await expert.sio.call(name, args, timeout=10), "unknown_event", name)
        await echeck.still_usable(name)
    marker = await expert.call("chat.send", {"client_id": "marker", "text": "还在"})
    await m.wait_event("chat.message", id=marker["message"]["id"])
    assert not m.of_type("participant.reconnecting"), "a fake disconnect event dropped the expert's seat"
    room = await live.signaling.store.load(live.session_id)
    assert room.seats[expert.pid].connected is True
    await check.still_usable("the expert's fake lifecycle events")


@pytest.mark.parametrize("event", ["room.sync", "chat.send", "lobby.admit", "signal", "room.join", "media.publish"])
async def test_a_payload_that_is_not_an_object_is_invalid(live, core, event):
    m, check = await mediator_in_room(live, core)
    for payload in ([1, 2, 3], [], "room.sync", "", 42, 3.5, True, [{"after_seq": 0}]):
        err = check_error(await m.call(event, payload), "invalid_input", f"{event} {payload!r}")
        assert "object" in err["message"]
        await check.still_usable(f"{event} {payload!r}")


async def test_several_payload_arguments_are_a_bad_request(live, core):
    m, check = await mediator_in_room(live, core)
    for args in (({"after_seq": 0}, {"after_seq": 1}), ({"after_seq": 0}, "extra"), ({}, None, 3)):
        check_error(await m.sio.call("room.sync", args, timeout=10), "bad_request", repr(args))
        await check.still_usable(repr(args))
    check_error(
        await m.sio.call("chat.send", ({"client_id": "two", "text": "x"}, {"to": m.pid}), timeout=10),
        "bad_request",
        "chat with two payloads",
    )
    assert [mm for mm in (await m.call("chat.history", {}))["messages"] if mm["client_id"] == "two"] == []


async def test_an_event_sent_without_a_payload_is_treated_as_an_empty_object(live, core):
    m, check = await mediator_in_room(live, core)
    assert (await m.sio.call("ice.servers", timeout=10)) == {"ok": True, "ice_servers": []}
    err = check_error(await m.sio.call("room.sync", timeout=10), "invalid_input", "sync without payload")
    assert "after_seq" in err["fields"]
    await check.still_usable("no payload")


# ---- missing fields and wrong types -----------------------------------------------------

MISSING = [
    ("room.sync", {}, "after_seq"),
    ("lobby.deny", {}, "pid"),
    ("lobby.deny", {"reason": "x"}, "pid"),
    ("moderation.remove", {}, "pid"),
    ("moderation.mute", {"kind": "audio"}, "pid"),
    ("signal", {}, "to"),
    ("signal", {"to": "i:x"}, "type"),
    ("chat.send", {"text": "你好"}, "client_id"),
    ("chat.send", {"client_id": "c1"}, "text"),
]

WRONG = [
    ("room.sync", {"after_seq": "zero"}, "after_seq"),
    ("room.sync", {"after_seq": -1}, "after_seq"),
    ("room.sync", {"after_seq": 1.5}, "after_seq"),
    ("room.sync", {"after_seq": None}, "after_seq"),
    ("room.sync", {"after_seq": 0, "admin": True}, "admin"),
    ("room.join", {"last_seq": -5}, "last_seq"),
    ("room.join", {"resume_token": 12345}, "resume_token"),
    ("room.join", {"resume_token": "t" * 65}, "resume_token"),
    ("room.join", {"role": "mediator"}, "role"),
    ("room.join", {"pid": "a:admin"}, "pid"),
    ("lobby.admit", {"pids": "everyone"}, "pids"),
    ("lobby.admit", {"pids": [1, 2]}, "pids.0"),
    ("lobby.admit", {"pids": [""]}, "pids.0"),
    ("lobby.admit", {"pids": ["p" * 65]}, "pids.0"),
    ("lobby.admit", {"pids": [f"i:{i}" for i in range(51)]}, "pids"),
    ("lobby.deny", {"pid": {"$ne": ""}}, "pid"),
    ("lobby.deny", {"pid": "i:x", "reason": "r" * 201}, "reason"),
    ("moderation.mute", {"pid": "i:x", "kind": "everything"}, "kind"),
    ("moderation.remove", {"pid": ["i:x"]}, "pid"),
    ("session.end", {"reason": 7}, "reason"),
    ("session.end", {"force": True}, "force"),
    ("media.publish", {"video": True}, "video"),
    ("signal", {"to": 5, "type": "offer", "sdp": "v=0"}, "to"),
    ("signal", {"to": "i:x", "type": "candidate", "candidate": "candidate:1 1 udp"}, "candidate"),
    (
        "signal",
        {"to": "i:x", "type": "candidate", "candidate": {"candidate": "c", "sdpMLineIndex": -1}},
        "candidate.sdpMLineIndex",
    ),
    ("signal", {"to": "i:x", "type": "candidate", "candidate": {"candidate": "c", "evil": 1}}, "candidate.evil"),
    ("chat.send", {"client_id": 5, "text": "x"}, "client_id"),
    ("chat.send", {"client_id": "c1", "text": ["x"]}, "text"),
    ("chat.send", {"client_id": "../../etc", "text": "x"}, "client_id"),
    ("chat.send", {"client_id": "c1", "text": "x", "to": 9}, "to"),
    ("chat.send", {"client_id": "c1", "text": "x" * 100_000}, "text"),
    ("chat.history", {"limit": "ten"}, "limit"),
    ("chat.history", {"limit": 0}, "limit"),
    ("chat.history", {"limit": 10_000}, "limit"),
    ("chat.history", {"before": "b" * 37}, "before"),
    ("ice.servers", {"username": "admin"}, "username"),
]


@pytest.mark.parametrize("cases", [MISSING, WRONG], ids=["missing fields", "wrong types"])
async def test_missing_fields_and_wrong_types_are_invalid_and_name_the_field(live, core, cases):
    m, check = await mediator_in_room(live, core)
    for event, payload, field in cases:
        what = f"{event} {str(payload)[:80]}"
        err = check_error(await m.call(event, payload), "invalid_input", what)
        assert field in err["fields"], (what, err)
        assert err["message"].startswith(next(iter(err["fields"]))), (what, err)
        await check.still_usable(what)


async def test_a_frame_over_the_size_limit_closes_only_that_connection_and_the_person_can_come_back(live, core):
    m, _ = await mediator_in_room(live, core)
    expert = await live.person("expert")
    await expert.join()
    dropped = asyncio.Event()
    expert.sio.on("disconnect", lambda *a: dropped.set())
    await expert.sio.emit("chat.send", {"client_id": "huge", "text": "x" * (300 * 1024)})
    await asyncio.wait_for(dropped.wait(), 10)
    await m.wait_event("participant.reconnecting", pid=expert.pid)
    back = another(live, join=expert.cookies[JOIN_COOKIE])
    ack = await back.join()
    assert ack["resumed"] is True and ack["room"]["you"]["state"] == "admitted"
    await Checker(back, core).still_usable("an oversized frame")
    await Checker(m, core).still_usable("someone else's oversized frame")


# ---- refused connections ----------------------------------------------------------------


async def test_a_refused_connection_says_why_in_connect_error_data(live):
    p = another(live)
    got: list[Any] = []
    p.sio.on("connect_error", lambda data: got.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await p.connect()
    assert got == [
        {
            "message": "open your invitation link, or sign in, before joining",
            "data": {"code": "unauthenticated", "message": "open your invitation link, or sign in, before joining"},
        }
    ]


async def test_connecting_without_a_proper_session_id_is_invalid_input(live, core):
    cookie = (await live.person("applicant", connect=False)).cookies[JOIN_COOKIE]
    for auth in (
        {},
        {"session_id": 5},
        {"session_id": ""},
        {"session_id": "s" * 37},
        {"session": live.session_id},
        {"session_id": None},
    ):
        assert (await refusal(another(live, join=cookie), auth))["code"] == "invalid_input", auth
    p = another(live, join=cookie)
    got: list[Any] = []
    p.sio.on("connect_error", lambda data: got.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):  # no auth at all
        await p.sio.connect(
            live.base_url, transports=["websocket"], headers={"Cookie": f"{JOIN_COOKIE}={cookie}"}, wait_timeout=10
        )
    assert got[0]["data"]["code"] == "invalid_input"
    ok = another(live, join=cookie)
    assert (await ok.join())["ok"]


async def test_nobody_learns_from_a_refusal_whether_a_session_exists(live):
    """Who is asking is settled before the session is looked up (issue 9, item 4): a real
    session and a made-up one get the same refusal, whoever asks; only a malformed id is
    refused as such, for everyone alike."""
    made_up = "00000000-0000-4000-8000-000000000000"
    real, other = live.session_id, live.world.other_session_id
    for sid in ("nope", "'; drop table sessions; --", "会话", made_up[:-1]):
        assert (await refusal(another(live), {"session_id": sid}))["code"] == "invalid_input", sid
    # Nobody signed in: unauthenticated, real or not.
    assert [(await refusal(another(live), {"session_id": sid})) for sid in (real, made_up, other)] == [
        await refusal(another(live), {"session_id": real})
    ] * 3
    # A link for one session: any other session id, real or not, is simply not theirs.
    cookie = (await live.person("applicant", connect=False)).cookies[JOIN_COOKIE]
    assert {(await refusal(another(live, join=cookie), {"session_id": sid}))["code"] for sid in (made_up, other)} == {
        "forbidden"
    }
    # Staff: a session outside their cases looks like one that does not exist.
    outsider = await staff_cookie(live.base_url, "other-mediator", live.world.passwords["other-mediator"])
    hidden = await refusal(another(live, staff=outsider), {"session_id": real})
    missing = await refusal(another(live, staff=outsider), {"session_id": made_up})
    assert hidden == missing and hidden["code"] == "not_found"


async def test_connecting_without_a_cookie_or_with_a_forged_one_is_unauthenticated(live):
    real = (await live.person("applicant", connect=False)).cookies[JOIN_COOKIE]
    forged = [None, "forged-cookie-value", real[:-2] + ("AA" if not real.endswith("AA") else "BB"), "é" * 20, "x" * 500]
    for cookie in forged:
        assert (await refusal(another(live, join=cookie)))["code"] == "unauthenticated", cookie
    assert (await refusal(another(live, staff="not-a-staff-session")))["code"] == "unauthenticated"
    # A join cookie is not a staff cookie.
    p = Participant(live.base_url, live.session_id)
    p.cookies = {"heshi_session": real}
    live.people.append(p)
    assert (await refusal(p))["code"] == "unauthenticated"


async def test_an_expired_invitation_no_longer_connects(live, core):
    applicant = await live.person("applicant", connect=False)
    assert (await another(live, join=applicant.cookies[JOIN_COOKIE]).join())["ok"]
    core.clock.advance(hours=core.settings.invitation_ttl_hours, seconds=1)
    assert (await refusal(another(live, join=applicant.cookies[JOIN_COOKIE])))["code"] == "unauthenticated"


async def test_a_revoked_invitation_no_longer_connects(live, core):
    applicant = await live.person("applicant", connect=False)
    invitation_id = None
    for listed in await invitations.list_for_case(
        core, live.world.principals["demo-mediator"], live.world.demo.case_id
    ):
        if listed.invitation.role == "applicant":
            invitation_id = listed.invitation.id
    assert invitation_id is not None
    await invitations.revoke(core, live.world.principals["demo-mediator"], invitation_id, "发错了人")
    assert (await refusal(another(live, join=applicant.cookies[JOIN_COOKIE])))["code"] == "unauthenticated"


async def test_an_invitation_for_another_session_and_staff_outside_the_case_are_refused(live):
    applicant = await live.person("applicant", connect=False)
    p = another(live, join=applicant.cookies[JOIN_COOKIE])
    assert (await refusal(p, {"session_id": live.world.other_session_id}))["code"] == "forbidden"
    outsider = await staff_cookie(live.base_url, "other-mediator", live.world.passwords["other-mediator"])
    assert (await refusal(another(live, staff=outsider)))["code"] == "not_found"
    reviewer = await staff_cookie(live.base_url, "demo-reviewer", live.world.passwords["demo-reviewer"])
    assert (await refusal(another(live, staff=reviewer)))["code"] == "forbidden"


async def test_browsers_may_connect_only_from_our_own_origin(live, core, caplog):
    cookie = (await live.person("applicant", connect=False)).cookies[JOIN_COOKIE]
    caplog.set_level(logging.INFO)
    refused = (
        "http://evil.example",
        "null",
        live.base_url.replace("127.0.0.1", "localhost"),
        "http://heshi.test.evil.example",
    )
    for origin in refused:
        p = another(live, join=cookie, origin=origin)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await p.connect()
        assert not p.sio.connected, origin
    # Refused origins are expected: each is logged once, as a warning that names it, never as an error.
    about_origins = [r for r in caplog.records if "origin" in r.getMessage()]
    assert [r.levelno for r in about_origins] == [logging.WARNING] * len(refused), [
        (r.levelname, r.getMessage()) for r in about_origins
    ]
    for origin, record in zip(refused, about_origins):
        assert repr(origin) in record.getMessage()
    for origin in (live.base_url, core.settings.public_url):
        p = another(live, join=cookie, origin=origin)
        await p.connect()
        assert p.sio.connected, origin
        await p.close()


# ---- floods -----------------------------------------------------------------------------


async def test_a_flood_of_events_is_rate_limited_and_the_connection_recovers(live, core):
    m, check = await mediator_in_room(live, core)
    acks = await asyncio.gather(*(m.call("room.sync", {"after_seq": 0}, timeout=30) for _ in range(300)))
    ok = [a for a in acks if a["ok"]]
    limited = [a for a in acks if not a["ok"]]
    # The clock stands still: exactly the burst passes (less the one room.join already took).
    assert len(ok) == int(LIMITS["any"][1]) - 1 and len(limited) == 300 - len(ok)
    for a in limited:
        assert a["error"]["code"] == "rate_limited" and a["error"]["retry_after"] >= 1
    assert m.sio.connected
    error_of_chat = await m.call("chat.send", {"client_id": "during", "text": "x"})
    assert error_of_chat["ok"] is False and error_of_chat["error"]["code"] == "rate_limited"
    core.clock.advance(seconds=max(a["error"]["retry_after"] for a in limited))
    await check.still_usable("a flood")
    newcomer = await live.person("expert")
    assert (await newcomer.join())["ok"]


async def test_a_flood_of_chat_from_one_participant_does_not_limit_another(live, core):
    m, check = await mediator_in_room(live, core)
    expert = await live.person("expert")
    await expert.join()
    for i in range(15):
        await m.call("chat.send", {"client_id": f"f{i}", "text": "刷屏"})
    assert m.errors and m.errors[-1]["code"] == "rate_limited"
    assert (await expert.call("chat.send", {"client_id": "calm", "text": "我没刷屏"}))["ok"]
    await check.still_usable("a chat flood")
