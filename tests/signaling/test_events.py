"""Every client → server event of the live session, over real Socket.IO connections: what it
does when allowed, and the clear error it gives when not."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from server.config import Settings
from server.domain.grants import SessionRole
from server.http.requests import JOIN_COOKIE
from server.services import eventlog, invitations
from server.services.core import Core
from server.storage.models import CaseEvent, ChatMessage, Invitation, MediationSession
from tests.signaling.harness import Participant, join_cookie, refusal
from tests.support.stores import on_both_room_stores

pytestmark = on_both_room_stores  # the live room, on the memory store and on Redis

# ---- settings per test ------------------------------------------------------------------


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(settings: Settings, settings_overrides: dict[str, Any]) -> Settings:
    """The shared test settings, with this test's overrides (parametrize `settings_overrides`)."""
    return replace(settings, **settings_overrides)


# ---- helpers ----------------------------------------------------------------------------


async def invite(
    live: Any, core: Core, role: SessionRole, name: str, *, direct_entry: bool | None = None, connect: bool = True
) -> Participant:
    """Someone holding a fresh invitation to the demo session, issued by the demo mediator."""
    inv = await invitations.issue(
        core,
        live.world.principals["demo-mediator"],
        live.session_id,
        role=role,
        display_name=name,
        direct_entry=direct_entry,
    )
    cookie = await join_cookie(live.base_url, invitations.link_for(core, inv))
    p = Participant(live.base_url, live.session_id, join=cookie)
    live.people.append(p)
    if connect:
        await p.connect()
    return p


def same_person(live: Any, p: Participant) -> Participant:
    """A new connection with the same cookie: the same person on a reloaded page or a new socket."""
    q = Participant(live.base_url, live.session_id, join=p.cookies.get(JOIN_COOKIE))
    live.people.append(q)
    return q


async def closed(p: Participant, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while p.sio.connected:
        assert asyncio.get_running_loop().time() < deadline, "the server did not close the connection"
        await asyncio.sleep(0.02)


async def admitted(live: Any, *roles: str) -> dict[str, Participant]:
    """The mediator and the given demo roles, all joined and admitted."""
    m = await live.person("mediator")
    await m.join()
    people = {"mediator": m}
    for role in roles:
        p = await live.person(role)
        ack = await p.join()
        if ack["room"]["you"]["state"] == "lobby":
            assert (await m.call("lobby.admit", {"pids": [p.pid]}))["admitted"] == [p.pid]
            await p.wait_event("participant.joined", where=lambda d, pid=p.pid: d["participant"]["pid"] == pid)
        people[role] = p
    return people


def error_of(ack: dict[str, Any], code: str) -> dict[str, Any]:
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == code, ack
    assert ack["error"]["message"]
    return ack["error"]


async def session_row(core: Core, session_id: str) -> MediationSession:
    async with core.db.read() as s:
        row = await s.get(MediationSession, session_id)
    assert row is not None
    return row


async def session_events(core: Core, case_id: str) -> list[CaseEvent]:
    async with core.db.read() as s:
        return list(
            (
                await s.execute(
                    select(CaseEvent)
                    .where(CaseEvent.case_id == case_id, CaseEvent.kind.like("session.%"))
                    .order_by(CaseEvent.seq)
                )
            ).scalars()
        )


# ---- room.join --------------------------------------------------------------------------


async def test_the_mediator_joins_admitted_sees_who_waits_in_the_lobby_and_makes_the_session_live(live, core):
    applicant = await live.person("applicant")
    await applicant.join()
    assert (await session_row(core, live.session_id)).status == "scheduled"
    mediator = await live.person("mediator")
    ack = await mediator.join()
    room = ack["room"]
    assert room["you"]["role"] == "mediator" and room["you"]["state"] == "admitted"
    assert room["you"]["pid"].startswith("i:")
    assert [p["pid"] for p in room["participants"]] == [mediator.pid]
    assert [(p["pid"], p["role"], p["state"]) for p in room["lobby"]] == [(applicant.pid, "applicant", "lobby")]
    assert "lobby_reason" not in room
    assert room["max_publishers"] == 6
    assert ack["resumed"] is False and ack["missed"] is None and ack["resume_token"]
    assert ack["chat"] == {"messages": [], "has_more": False}
    assert ack["ice_servers"] == []
    assert (await session_row(core, live.session_id)).status == "live"


async def test_someone_in_the_lobby_sees_only_themselves_and_learns_when_a_mediator_arrives(live):
    applicant = await live.person("applicant")
    ack = await applicant.join()
    room = ack["room"]
    assert room["you"]["state"] == "lobby" and room["you"]["role"] == "applicant"
    assert room["lobby_reason"] == "waiting_for_mediator"
    assert "participants" not in room and "lobby" not in room
    assert ack["chat"] is None
    mediator = await live.person("mediator")
    await mediator.join()
    status = await applicant.wait_event("lobby.status", reason="waiting_for_admission")
    assert status["seq"] > room["seq"]
    assert not applicant.of_type("participant.joined")


async def test_a_direct_entry_expert_waits_for_a_mediator_and_is_then_admitted_automatically(live):
    expert = await live.person("expert")
    ack = await expert.join()
    assert ack["room"]["you"]["state"] == "lobby"
    assert ack["room"]["lobby_reason"] == "waiting_for_mediator"
    mediator = await live.person("mediator")
    m = await mediator.join()
    assert sorted(p["pid"] for p in m["room"]["participants"]) == sorted([mediator.pid, expert.pid])
    assert m["room"]["lobby"] == []
    joined = await expert.wait_event("participant.joined", where=lambda d: d["participant"]["pid"] == expert.pid)
    assert joined["data"]["participant"]["state"] == "admitted"
    assert (await expert.call("chat.send", {"client_id": "e1", "text": "专家已到"}))["ok"]


async def test_a_signed_in_mediator_joins_from_the_case_page_with_an_account_pid(live):
    staff = await live.staff("demo-mediator")
    ack = await staff.join()
    assert ack["room"]["you"]["role"] == "mediator" and ack["room"]["you"]["state"] == "admitted"
    assert staff.pid.startswith("a:")


async def test_joining_over_a_connection_opened_before_the_session_ended_is_refused(live):
    mediator = await live.person("mediator")
    await mediator.join()
    late = await live.person("applicant")  # connected while the session was live, never joined
    assert (await mediator.call("session.end", {"reason": "结束"}))["ok"]
    error_of(await late.call("room.join", {}), "session_ended")
    assert await live.signaling.store.load(live.session_id) is None


async def test_a_partys_link_that_still_opens_the_documents_does_not_open_the_room_after_the_end(live):
    """A party's link outlives its session for the documents only (grants.link_outlives_session)."""
    mediator = await live.person("mediator")
    applicant = await live.person("applicant")
    await mediator.join()
    await applicant.join()
    assert (await mediator.call("session.end", {"reason": "结束"}))["ok"]
    await applicant.close()
    again = Participant(live.base_url, live.session_id, join=applicant.cookies[JOIN_COOKIE])
    live.people.append(again)
    refused = await refusal(again)
    assert refused == {
        "code": "invalid_token",
        "message": "this mediation session has ended",
        "reason": "session_ended",  # the client offers a party the documents
    }


# ---- room.leave -------------------------------------------------------------------------


async def test_leaving_acks_releases_the_seat_at_once_and_closes_the_socket(live):
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    assert await expert.call("room.leave", {}) == {"ok": True}
    await closed(expert)
    await mediator.wait_event("participant.left", pid=expert.pid)
    room = await live.signaling.store.load(live.session_id)
    assert expert.pid not in room.seats


async def test_when_the_mediator_leaves_the_lobby_is_told_to_wait_for_a_mediator(live):
    mediator = await live.person("mediator")
    await mediator.join()
    applicant = await live.person("applicant")
    assert (await applicant.join())["room"]["lobby_reason"] == "waiting_for_admission"
    assert (await mediator.call("room.leave", {}))["ok"]
    await applicant.wait_event("lobby.status", reason="waiting_for_mediator")


# ---- room.sync --------------------------------------------------------------------------


async def test_sync_returns_exactly_the_events_this_participant_may_see(live):
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    applicant = await live.person("applicant")
    await applicant.join()  # lobby events: for the mediator and the applicant only
    sent = await mediator.call("chat.send", {"client_id": "s1", "text": "同步"})
    await expert.wait_event("chat.message", id=sent["message"]["id"])
    ack = await expert.call("room.sync", {"after_seq": 0})
    assert ack["ok"] and ack["complete"] is True
    assert ack["room"]["you"]["pid"] == expert.pid and ack["room"]["seq"] == ack["seq"]
    assert ack["events"] == expert.events
    assert ack["seq"] == ack["events"][-1]["seq"]
    assert not [e for e in ack["events"] if e["type"].startswith("lobby.")]


async def test_sync_across_events_meant_for_others_is_complete(live):
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    before = max(e["seq"] for e in expert.events)
    applicant = await live.person("applicant")
    await applicant.join()
    sent = await mediator.call("chat.send", {"client_id": "s2", "text": "有人在等候"})
    got = await expert.wait_event("chat.message", id=sent["message"]["id"])
    assert got["seq"] > before + 1  # a gap: the lobby events in between were for others
    ack = await expert.call("room.sync", {"after_seq": before})
    assert ack["events"] == [got]
    assert ack["complete"] is True
    ahead = await expert.call("room.sync", {"after_seq": ack["seq"] + 100})
    assert ahead["ok"] and ahead["events"] == [] and ahead["complete"] is True


async def test_sync_without_a_room_or_without_a_seat_fails_clearly(live):
    applicant = await live.person("applicant")
    error_of(await applicant.call("room.sync", {"after_seq": 0}), "not_found")
    mediator = await live.person("mediator")
    await mediator.join()
    error_of(await applicant.call("room.sync", {"after_seq": 0}), "unknown_participant")
    error_of(await applicant.call("room.sync", {}), "invalid_input")


# ---- lobby.admit ------------------------------------------------------------------------


async def test_admitting_one_person_lets_them_in_and_keeps_the_others_waiting(live):
    mediator = await live.person("mediator")
    await mediator.join()
    applicant, respondent = await live.person("applicant"), await live.person("respondent")
    await applicant.join()
    await respondent.join()
    assert await mediator.call("lobby.admit", {"pids": [applicant.pid]}) == {"ok": True, "admitted": [applicant.pid]}
    joined = await applicant.wait_event("participant.joined", where=lambda d: d["participant"]["pid"] == applicant.pid)
    assert joined["data"]["participant"]["state"] == "admitted"
    update = await mediator.wait_event(
        "lobby.updated", where=lambda d: [p["pid"] for p in d["lobby"]] == [respondent.pid]
    )
    assert update["seq"] > joined["seq"]
    assert not respondent.of_type("participant.joined")
    assert (await respondent.call("room.sync", {"after_seq": 0}))["ok"]
    error_of(await respondent.call("chat.send", {"client_id": "r1", "text": "我还在等"}), "not_admitted")


async def test_admitting_without_names_lets_everyone_waiting_in(live):
    mediator = await live.person("mediator")
    await mediator.join()
    applicant, respondent = await live.person("applicant"), await live.person("respondent")
    await applicant.join()
    await respondent.join()
    ack = await mediator.call("lobby.admit", {})
    assert ack["ok"] and sorted(ack["admitted"]) == sorted([applicant.pid, respondent.pid])
    for p in (applicant, respondent):
        await p.wait_event("participant.joined", where=lambda d, pid=p.pid: d["participant"]["pid"] == pid)
    assert (await mediator.call("lobby.admit", {}))["admitted"] == []


async def test_a_party_cannot_admit_and_someone_in_the_lobby_cannot_admit_anyone(live):
    people = await admitted(live, "applicant")
    applicant = people["applicant"]
    respondent = await live.person("respondent")
    await respondent.join()
    error_of(await applicant.call("lobby.admit", {"pids": [respondent.pid]}), "forbidden")
    error_of(await respondent.call("lobby.admit", {}), "not_admitted")
    error_of(await people["mediator"].call("lobby.admit", {"pids": ["i:nobody"]}), "unknown_participant")
    room = await live.signaling.store.load(live.session_id)
    assert room.seats[respondent.pid].state.value == "lobby"


# ---- lobby.deny -------------------------------------------------------------------------


async def test_a_denied_person_gets_the_reason_and_their_link_no_longer_connects(live, core):
    mediator = await live.person("mediator")
    await mediator.join()
    applicant = await live.person("applicant")
    await applicant.join()
    assert await mediator.call("lobby.deny", {"pid": applicant.pid, "reason": "请先补充证据材料"}) == {"ok": True}
    denied = await applicant.wait_event("lobby.denied")
    assert denied["data"] == {"reason": "请先补充证据材料"}
    await mediator.wait_event("lobby.updated", where=lambda d: d["lobby"] == [])
    async with core.db.read() as s:
        inv = await s.get(Invitation, applicant.pid.removeprefix("i:"))
    assert inv is not None and inv.revoked_at is not None
    # Their socket is closed after the denial has reached them; the same cookie is refused at connect.
    await applicant.wait_for(lambda: not applicant.sio.connected, what="the denied socket to close")
    again = same_person(live, applicant)
    assert (await refusal(again))["code"] == "unauthenticated"


async def test_only_the_mediator_denies_and_only_people_in_the_lobby(live):
    people = await admitted(live, "applicant")
    respondent = await live.person("respondent")
    await respondent.join()
    error_of(await people["applicant"].call("lobby.deny", {"pid": respondent.pid}), "forbidden")
    error_of(await people["mediator"].call("lobby.deny", {"pid": people["applicant"].pid}), "conflict")
    error_of(await people["mediator"].call("lobby.deny", {"pid": "i:nobody"}), "unknown_participant")


# ---- moderation.mute --------------------------------------------------------------------


async def test_a_mute_request_reaches_only_the_participant_asked(live):
    people = await admitted(live, "expert", "applicant")
    mediator, expert, applicant = people["mediator"], people["expert"], people["applicant"]
    assert await mediator.call("moderation.mute", {"pid": expert.pid, "kind": "video"}) == {"ok": True}
    got = await expert.wait_event("mute.requested")
    assert got["data"] == {"by": mediator.pid, "kind": "video"}
    assert (await mediator.call("moderation.mute", {"pid": expert.pid}))["ok"]
    await expert.wait_event("mute.requested", kind="audio")
    marker = await mediator.call("chat.send", {"client_id": "m1", "text": "继续"})
    await applicant.wait_event("chat.message", id=marker["message"]["id"])
    assert not applicant.of_type("mute.requested") and not mediator.of_type("mute.requested")


async def test_mute_requests_are_refused_from_parties_to_the_lobby_and_of_unknown_kinds(live):
    people = await admitted(live, "applicant")
    respondent = await live.person("respondent")
    await respondent.join()
    mediator, applicant = people["mediator"], people["applicant"]
    error_of(await applicant.call("moderation.mute", {"pid": mediator.pid}), "forbidden")
    error_of(await mediator.call("moderation.mute", {"pid": respondent.pid}), "unknown_participant")
    err = error_of(await mediator.call("moderation.mute", {"pid": applicant.pid, "kind": "screen"}), "invalid_input")
    assert "kind" in err["fields"]
    assert not respondent.of_type("mute.requested") and not applicant.of_type("mute.requested")


# ---- moderation.remove ------------------------------------------------------------------


async def test_a_removed_participant_is_told_disconnected_and_cannot_come_back(live):
    people = await admitted(live, "applicant", "expert")
    mediator, applicant, expert = people["mediator"], people["applicant"], people["expert"]
    second_tab = same_person(live, applicant)
    await second_tab.connect()  # open before the removal, never joined
    assert await mediator.call("moderation.remove", {"pid": applicant.pid, "reason": "多次扰乱秩序"}) == {"ok": True}
    for p in (applicant, expert, mediator):
        got = await p.wait_event("participant.removed", pid=applicant.pid)
        assert got["data"]["reason"] == "多次扰乱秩序"
    await closed(applicant)
    assert (await refusal(same_person(live, applicant)))["code"] == "unauthenticated"
    # Acting after removal fails, even over a connection opened before it.
    error_of(await second_tab.call("chat.send", {"client_id": "x1", "text": "我还在"}), "unknown_participant")
    error_of(await second_tab.call("room.join", {}), "refused")
    room = await live.signaling.store.load(live.session_id)
    assert applicant.pid not in room.seats and applicant.pid in room.refused


async def test_the_mediator_cannot_remove_themselves_and_a_party_cannot_remove_anyone(live):
    people = await admitted(live, "applicant")
    mediator, applicant = people["mediator"], people["applicant"]
    error_of(await mediator.call("moderation.remove", {"pid": mediator.pid}), "conflict")
    error_of(await applicant.call("moderation.remove", {"pid": mediator.pid}), "forbidden")
    error_of(await mediator.call("moderation.remove", {"pid": "i:nobody"}), "unknown_participant")
    assert mediator.sio.connected and applicant.sio.connected


# ---- session.end ------------------------------------------------------------------------


async def test_ending_the_session_tells_everyone_closes_every_socket_and_ends_it_in_the_database(live, core):
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    applicant = await live.person("applicant")
    await applicant.join()  # still in the lobby
    assert await mediator.call("session.end", {"reason": "双方达成协议"}) == {"ok": True}
    for p in (mediator, expert, applicant):
        got = await p.wait_event("session.ended")
        assert got["data"] == {"reason": "双方达成协议", "by": mediator.pid}
        await closed(p)
    row = await session_row(core, live.session_id)
    assert row.status == "ended" and row.ended_at is not None
    assert await live.signaling.store.load(live.session_id) is None
    for role in ("mediator", "expert"):
        assert (await refusal(same_person(live, people[role])))["code"] == "invalid_token"


async def test_only_the_mediator_can_end_the_session(live, core):
    people = await admitted(live, "applicant")
    error_of(await people["applicant"].call("session.end", {}), "forbidden")
    assert (await session_row(core, live.session_id)).status == "live"
    assert (await people["applicant"].call("chat.send", {"client_id": "a1", "text": "还在"}))["ok"]


# ---- media.publish / media.unpublish ----------------------------------------------------


async def test_publishing_and_unpublishing_are_announced_to_the_room(live):
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    assert await expert.call("media.publish", {}) == {"ok": True, "publishing": True}
    await mediator.wait_event("publisher.added", pid=expert.pid)
    room = await live.signaling.store.load(live.session_id)
    assert room.seats[expert.pid].public()["publishing"] is True
    assert (await expert.call("media.publish", {}))["ok"]  # again: nothing changes
    assert await expert.call("media.unpublish", {}) == {"ok": True, "publishing": False}
    await mediator.wait_event("publisher.removed", pid=expert.pid)
    assert len(mediator.of_type("publisher.added")) == 1


@pytest.mark.parametrize("settings_overrides", [{"max_publishers": 2}], ids=["max_publishers=2"])
async def test_the_publisher_cap_refuses_one_more_sender_until_a_place_is_free(live):
    people = await admitted(live, "expert", "applicant")
    mediator, expert, applicant = people["mediator"], people["expert"], people["applicant"]
    assert mediator.joined["room"]["max_publishers"] == 2
    assert (await mediator.call("media.publish", {}))["ok"]
    assert (await expert.call("media.publish", {}))["ok"]
    error_of(await applicant.call("media.publish", {}), "publisher_limit")
    assert (await expert.call("media.unpublish", {}))["ok"]
    assert (await applicant.call("media.publish", {}))["publishing"] is True
    await mediator.wait_event("publisher.added", pid=applicant.pid)


async def test_the_default_cap_of_six_publishers_refuses_the_seventh(live, core):
    people = await admitted(live, "expert", "applicant")
    extra = [await invite(live, core, SessionRole.expert, f"专家{i}", direct_entry=True) for i in range(4)]
    for p in extra:
        assert (await p.join())["room"]["you"]["state"] == "admitted"
    senders = [people["mediator"], people["expert"], *extra]
    for p in senders:
        assert (await p.call("media.publish", {}))["ok"]
    err = error_of(await people["applicant"].call("media.publish", {}), "publisher_limit")
    assert "6" in err["message"]
    room = await live.signaling.store.load(live.session_id)
    assert sorted(s.pid for s in room.publishers()) == sorted(p.pid for p in senders)


async def test_observers_and_people_in_the_lobby_cannot_publish(live, core):
    people = await admitted(live)
    observer = await invite(live, core, SessionRole.observer, "村委会主任")
    await observer.join()
    error_of(await observer.call("media.publish", {}), "not_admitted")
    assert (await people["mediator"].call("lobby.admit", {"pids": [observer.pid]}))["admitted"] == [observer.pid]
    err = error_of(await observer.call("media.publish", {}), "forbidden")
    assert "publish" in err["message"]
    assert (await observer.call("media.unpublish", {}))["publishing"] is False


# ---- signal -----------------------------------------------------------------------------


async def test_offers_answers_and_candidates_are_relayed_with_the_sender_set_by_the_server(live):
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"
    assert await mediator.call("signal", {"to": expert.pid, "type": "offer", "sdp": sdp}) == {"ok": True}
    assert await expert.call("signal", {"to": mediator.pid, "type": "answer", "sdp": sdp}) == {"ok": True}
    cand = {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0}
    assert (await mediator.call("signal", {"to": expert.pid, "type": "candidate", "candidate": cand}))["ok"]
    await expert.wait_for(lambda: len(expert.signals) == 2, what="offer and candidate")
    await mediator.wait_for(lambda: mediator.signals, what="answer")
    assert expert.signals == [
        {"from": mediator.pid, "type": "offer", "sdp": sdp},
        {"from": mediator.pid, "type": "candidate", "candidate": cand},
    ]
    assert mediator.signals == [{"from": expert.pid, "type": "answer", "sdp": sdp}]


async def test_signals_do_not_reach_or_leave_the_lobby_or_go_to_oneself(live):
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    applicant = await live.person("applicant")
    await applicant.join()
    offer = {"type": "offer", "sdp": "v=0\r\n"}
    error_of(await mediator.call("signal", {"to": applicant.pid, **offer}), "unknown_participant")
    error_of(await applicant.call("signal", {"to": mediator.pid, **offer}), "not_admitted")
    error_of(await mediator.call("signal", {"to": mediator.pid, **offer}), "bad_request")
    error_of(await mediator.call("signal", {"to": "i:nobody", **offer}), "unknown_participant")
    assert (await expert.call("signal", {"to": mediator.pid, **offer}))["ok"]
    await mediator.wait_for(lambda: mediator.signals, what="the one allowed signal")
    assert [s["from"] for s in mediator.signals] == [expert.pid]
    assert applicant.signals == []


async def test_malformed_spoofed_and_oversized_signals_are_invalid_and_never_relayed(live):
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    to = expert.pid
    bad = [
        {"to": to, "type": "offer"},  # offer without sdp
        {"to": to, "type": "answer", "sdp": "   "},  # blank sdp
        {"to": to, "type": "candidate"},  # candidate without candidate
        {"to": to, "type": "candidate", "candidate": {"candidate": "c"}, "sdp": "v=0"},  # both
        {"to": to, "type": "offer", "sdp": "v=0", "candidate": {"candidate": "c"}},
        {"to": to, "type": "offer", "sdp": "v=0\r\n", "from": "i:someone-else"},  # spoofed sender
        {"to": to, "type": "offer", "sdp": "v" * (64 * 1024 + 1)},  # over 64 KiB
        {"to": to, "type": "candidate", "candidate": {"candidate": "c" * 2049}},  # candidate over 2 KiB
        {"to": to, "type": "hangup", "sdp": "v=0"},
    ]
    for payload in bad:
        error_of(await mediator.call("signal", payload), "invalid_input")
    spoofed = await mediator.call("signal", bad[5])
    assert "from" in spoofed["error"]["fields"]
    oversized = await mediator.call("signal", bad[6])
    assert "sdp" in oversized["error"]["fields"]
    largest = "v" * (64 * 1024)
    assert (await mediator.call("signal", {"to": to, "type": "offer", "sdp": largest}))["ok"]
    await expert.wait_for(lambda: expert.signals, what="the valid offer")
    assert expert.signals == [{"from": mediator.pid, "type": "offer", "sdp": largest}]
    assert len(mediator.errors) == len(bad) + 2


# ---- ice.servers ------------------------------------------------------------------------

TURN = {
    "ice_servers": ("stun:stun.heshi.test:3478",),
    "turn_urls": ("turn:turn.heshi.test:3478?transport=udp", "turns:turn.heshi.test:5349"),
    "turn_secret": "coturn-static-auth-secret",
    "turn_ttl_seconds": 3600,
}


@pytest.mark.parametrize("settings_overrides", [TURN], ids=["turn"])
async def test_ice_servers_carry_coturn_credentials_that_expire(live, core):
    mediator = await live.person("mediator")
    joined = await mediator.join()
    now = int(core.clock.now().timestamp())
    stun, turn = joined["ice_servers"]
    assert stun == {"urls": ["stun:stun.heshi.test:3478"]}
    assert turn["urls"] == list(TURN["turn_urls"])
    assert turn["username"] == f"{now + 3600}:{mediator.pid}"
    expected = base64.b64encode(
        hmac.new(b"coturn-static-auth-secret", turn["username"].encode(), hashlib.sha1).digest()
    ).decode()
    assert turn["credential"] == expected
    core.clock.advance(seconds=600)
    ack = await mediator.call("ice.servers", {})
    assert ack["ok"]
    fresh = ack["ice_servers"][1]
    assert fresh["username"] == f"{now + 600 + 3600}:{mediator.pid}"
    assert (
        fresh["credential"]
        == base64.b64encode(
            hmac.new(b"coturn-static-auth-secret", fresh["username"].encode(), hashlib.sha1).digest()
        ).decode()
    )


async def test_ice_servers_are_empty_without_configuration_and_take_no_arguments(live):
    applicant = await live.person("applicant")
    await applicant.join()  # even from the lobby
    assert await applicant.call("ice.servers", {}) == {"ok": True, "ice_servers": []}
    error_of(await applicant.call("ice.servers", {"ttl": 10}), "invalid_input")


# ---- chat.send --------------------------------------------------------------------------


async def test_a_chat_message_is_in_the_database_and_the_case_log_when_it_is_acknowledged(live, core):
    people = await admitted(live, "applicant")
    applicant = people["applicant"]
    ack = await applicant.call("chat.send", {"client_id": "a-1", "text": "我方要求赔偿医疗费。"})
    assert ack["ok"] and ack["duplicate"] is False
    message = ack["message"]
    async with core.db.read() as s:  # straight after the ack, no waiting
        row = await s.get(ChatMessage, message["id"])
        logged = (await s.execute(select(CaseEvent).where(CaseEvent.kind == "chat.message"))).scalars().all()
    assert row is not None and row.text == "我方要求赔偿医疗费。" and row.sender_pid == applicant.pid
    assert row.client_id == "a-1" and row.recipient_pid is None
    assert [e.data["message_id"] for e in logged] == [message["id"]]
    assert message["from"] == {"pid": applicant.pid, "name": "李秀英", "role": "applicant"}
    got = await people["mediator"].wait_event("chat.message", id=message["id"])
    assert got["data"] == message


async def test_a_retried_message_is_stored_and_delivered_once(live, core):
    people = await admitted(live, "applicant", "expert")
    applicant, expert = people["applicant"], people["expert"]
    first = await applicant.call("chat.send", {"client_id": "retry-1", "text": "第一次"})
    again = await applicant.call("chat.send", {"client_id": "retry-1", "text": "第一次"})
    assert again["ok"] and again["duplicate"] is True and again["message"] == first["message"]
    marker = await applicant.call("chat.send", {"client_id": "retry-2", "text": "之后"})
    await expert.wait_event("chat.message", id=marker["message"]["id"])
    delivered = [e["data"]["id"] for e in expert.of_type("chat.message")]
    assert delivered == [first["message"]["id"], marker["message"]["id"]]
    async with core.db.read() as s:
        rows = (await s.execute(select(ChatMessage).where(ChatMessage.client_id == "retry-1"))).scalars().all()
    assert len(rows) == 1


async def test_a_private_message_to_the_mediator_is_not_seen_by_anyone_else(live):
    people = await admitted(live, "applicant", "expert")
    mediator, applicant, expert = people["mediator"], people["applicant"], people["expert"]
    private = await applicant.call("chat.send", {"client_id": "p1", "text": "只跟调解员说", "to": mediator.pid})
    assert private["ok"] and private["message"]["to"] == mediator.pid
    await mediator.wait_event("chat.message", id=private["message"]["id"])
    await applicant.wait_event("chat.message", id=private["message"]["id"])
    marker = await mediator.call("chat.send", {"client_id": "m1", "text": "大家好"})
    await expert.wait_event("chat.message", id=marker["message"]["id"])
    assert [e["data"]["id"] for e in expert.of_type("chat.message")] == [marker["message"]["id"]]
    history = await expert.call("chat.history", {})
    assert [m["id"] for m in history["messages"]] == [marker["message"]["id"]]
    for p in (mediator, applicant):
        ids = [m["id"] for m in (await p.call("chat.history", {}))["messages"]]
        assert private["message"]["id"] in ids


async def test_parties_cannot_message_each_other_privately(live):
    people = await admitted(live, "applicant", "respondent")
    error_of(
        await people["applicant"].call(
            "chat.send", {"client_id": "pp", "text": "私下谈", "to": people["respondent"].pid}
        ),
        "forbidden",
    )
    error_of(
        await people["mediator"].call("chat.send", {"client_id": "me", "text": "x", "to": people["mediator"].pid}),
        "bad_request",
    )


async def test_chat_text_must_be_present_not_blank_and_at_most_two_thousand_characters(live):
    people = await admitted(live)
    m = people["mediator"]
    err = error_of(await m.call("chat.send", {"client_id": "long", "text": "字" * 2001}), "invalid_input")
    assert "text" in err["fields"]
    error_of(await m.call("chat.send", {"client_id": "blank", "text": "  \n\t "}), "invalid_input")
    error_of(await m.call("chat.send", {"client_id": "empty", "text": ""}), "invalid_input")
    error_of(await m.call("chat.send", {"client_id": "bad id!", "text": "x"}), "invalid_input")
    error_of(await m.call("chat.send", {"client_id": "c" * 65, "text": "x"}), "invalid_input")
    ok = await m.call("chat.send", {"client_id": "max", "text": "字" * 2000})
    assert ok["ok"] and len(ok["message"]["text"]) == 2000


async def test_chat_refuses_nul_characters_like_rest_does(live):
    """PostgreSQL cannot store U+0000: the socket refuses it with REST's code and fields, and the
    message is neither stored nor relayed."""
    people = await admitted(live, "applicant")
    m, a = people["mediator"], people["applicant"]
    err = error_of(await m.call("chat.send", {"client_id": "nul", "text": "调解\x00协议"}), "invalid_input")
    assert err["fields"] == {"text": "must not contain NUL characters"}
    err = error_of(await m.call("chat.send", {"client_id": "nulkey", "text": "x", "a\x00b": 1}), "invalid_input")
    assert list(err["fields"]) == ["a\\u0000b"]
    history = await a.call("chat.history", {})
    assert history["ok"] and all("\x00" not in msg["text"] for msg in history["messages"])
    assert (await m.call("chat.send", {"client_id": "after", "text": "调解协议"}))["ok"]


async def test_observers_read_the_chat_but_cannot_send(live, core):
    people = await admitted(live)
    observer = await invite(live, core, SessionRole.observer, "法院书记员")
    await observer.join()
    error_of(await observer.call("chat.send", {"client_id": "o0", "text": "x"}), "not_admitted")
    await people["mediator"].call("lobby.admit", {"pids": [observer.pid]})
    await observer.wait_event("participant.joined", where=lambda d: d["participant"]["pid"] == observer.pid)
    error_of(await observer.call("chat.send", {"client_id": "o1", "text": "旁听者发言"}), "forbidden")
    sent = await people["mediator"].call("chat.send", {"client_id": "m1", "text": "旁听者可以看到"})
    await observer.wait_event("chat.message", id=sent["message"]["id"])
    assert [m["id"] for m in (await observer.call("chat.history", {}))["messages"]] == [sent["message"]["id"]]


async def test_a_burst_of_chat_is_rate_limited_and_allowed_again_a_moment_later(live, core):
    people = await admitted(live)
    m = people["mediator"]
    acks = [await m.call("chat.send", {"client_id": f"b{i}", "text": f"消息{i}"}) for i in range(12)]
    assert all(a["ok"] for a in acks[:10])
    for a in acks[10:]:
        err = error_of(a, "rate_limited")
        assert err["retry_after"] >= 1
    assert [e["code"] for e in m.errors] == ["rate_limited", "rate_limited"]
    # retry_after: whole seconds, in the ack's error object and in the `error` event alike.
    assert [e["retry_after"] for e in m.errors] == [a["error"]["retry_after"] for a in acks[10:]]
    assert all(type(a["error"]["retry_after"]) is int for a in acks[10:])
    core.clock.advance(seconds=acks[11]["error"]["retry_after"])
    retried = await m.call("chat.send", {"client_id": "b10", "text": "消息10"})
    assert retried["ok"] and retried["duplicate"] is False  # the refused message had not been stored
    error_of(await m.call("chat.send", {"client_id": "b11", "text": "消息11"}), "rate_limited")  # one a second
    core.clock.advance(seconds=1)
    assert (await m.call("chat.send", {"client_id": "b11", "text": "消息11"}))["ok"]


async def test_every_timestamp_in_the_protocol_is_iso_utc_with_microseconds(live, core):
    """One form for room events and chat alike (docs/protocol.md, "Identifiers and times"),
    also when the time falls on a whole second."""
    core.clock.set(core.clock.now().replace(microsecond=0))
    people = await admitted(live, "applicant")
    m, a = people["mediator"], people["applicant"]
    sent = (await m.call("chat.send", {"client_id": "t1", "text": "时间"}))["message"]
    core.clock.advance(microseconds=250)
    private = (await a.call("chat.send", {"client_id": "t2", "text": "私信", "to": m.pid}))["message"]
    assert private["to"] == m.pid and sent["to"] is None
    stamps = [sent["at"], private["at"], *(e["at"] for e in m.events + a.events)]
    stamps += [msg["at"] for msg in (await a.call("chat.history", {}))["messages"]]
    stamps += [e["at"] for e in (await a.call("room.sync", {"after_seq": 0}))["events"]]
    form = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
    assert stamps and all(isinstance(t, str) and form.match(t) for t in stamps), stamps
    assert sent["at"] == core.clock.now().replace(microsecond=0).isoformat(timespec="microseconds")
    assert private["at"].endswith(".000250+00:00")


# ---- chat.history -----------------------------------------------------------------------


async def test_chat_history_pages_backwards_through_the_messages_this_participant_may_see(live, core):
    people = await admitted(live, "applicant", "expert")
    mediator, applicant, expert = people["mediator"], people["applicant"], people["expert"]
    public = []
    for i in range(5):
        core.clock.advance(seconds=1)
        public.append((await mediator.call("chat.send", {"client_id": f"h{i}", "text": f"第{i}条"}))["message"]["id"])
        if i == 2:
            core.clock.advance(seconds=1)
            secret = await applicant.call("chat.send", {"client_id": "sec", "text": "私信", "to": mediator.pid})
    pages, before = [], None
    while True:
        ack = await expert.call("chat.history", {"limit": 2, **({"before": before} if before else {})})
        assert ack["ok"]
        pages.append([m["id"] for m in ack["messages"]])
        if not ack["has_more"]:
            break
        before = ack["messages"][0]["id"]
    assert pages == [public[3:5], public[1:3], public[0:1]]
    mine = await applicant.call("chat.history", {"limit": 100})
    ids = [m["id"] for m in mine["messages"]]
    assert ids == public[:3] + [secret["message"]["id"]] + public[3:] and mine["has_more"] is False
    rejoined = await same_person(live, expert).join()
    assert [m["id"] for m in rejoined["chat"]["messages"]] == public


async def test_chat_history_is_for_admitted_members_and_checks_its_arguments(live):
    people = await admitted(live)
    m = people["mediator"]
    applicant = await live.person("applicant")
    await applicant.join()
    error_of(await applicant.call("chat.history", {}), "not_admitted")
    err = error_of(await m.call("chat.history", {"before": "00000000-0000-0000-0000-000000000000"}), "not_found")
    assert list(err["fields"]) == ["before"]  # the field at fault, as for invalid_input
    error_of(await m.call("chat.history", {"limit": 0}), "invalid_input")
    error_of(await m.call("chat.history", {"limit": 101}), "invalid_input")
    assert (await m.call("chat.history", {"limit": 100}))["messages"] == []


# ---- what the case log records ----------------------------------------------------------


async def test_joins_admissions_denials_removals_leaves_and_the_end_are_in_the_case_log(live, core):
    mediator = await live.person("mediator")
    await mediator.join()
    applicant, respondent, expert = (
        await live.person("applicant"),
        await live.person("respondent"),
        await live.person("expert"),
    )
    await applicant.join()
    await respondent.join()
    await expert.join()
    await mediator.call("lobby.admit", {"pids": [applicant.pid]})
    await mediator.call("lobby.deny", {"pid": respondent.pid, "reason": "身份未核实"})
    await mediator.call("moderation.remove", {"pid": applicant.pid, "reason": "扰乱秩序"})
    assert (await expert.call("room.leave", {}))["ok"]
    await mediator.call("session.end", {"reason": "本次结束"})
    await closed(mediator)
    events = await session_events(core, live.world.demo.case_id)
    seen = [
        (e.kind, e.data.get("pid"))
        for e in events
        if e.kind not in ("session.scheduled", "session.live", "session.ended")
    ]
    assert seen == [
        ("session.join", mediator.pid),
        ("session.join", applicant.pid),
        ("session.join", respondent.pid),
        ("session.join", expert.pid),
        ("session.admit", applicant.pid),
        ("session.deny", respondent.pid),
        ("session.remove", applicant.pid),
        ("session.leave", expert.pid),
        ("session.end", None),
    ]
    by_kind = {e.kind: e for e in events}
    assert by_kind["session.deny"].data["reason"] == "身份未核实"
    assert by_kind["session.remove"].data["reason"] == "扰乱秩序"
    assert by_kind["session.end"].data["reason"] == "本次结束"
    assert by_kind["session.admit"].actor == f"invitation:{mediator.pid.removeprefix('i:')}"
    assert all(e.session_id == live.session_id for e in events)
    assert {"session.live", "session.ended"} <= set(by_kind)
    async with core.db.read() as s:
        check = await eventlog.verify(s, live.world.demo.case_id)
    assert check.ok, check


async def test_each_participant_gets_consecutive_own_sequence_numbers_despite_events_for_others(live):
    """`seq` has gaps where events were meant for others; `pseq` has none, so a real loss shows."""
    people = await admitted(live, "expert")
    mediator, expert = people["mediator"], people["expert"]
    start = expert.joined["room"]["pseq"]
    applicant = await live.person("applicant")
    await applicant.join()  # lobby events for the mediator and the applicant only
    await mediator.call("chat.send", {"client_id": "p1", "text": "一"})
    await mediator.call("chat.send", {"client_id": "p2", "text": "二", "to": expert.pid})
    await mediator.call("chat.send", {"client_id": "p3", "text": "三"})
    await expert.wait_for(lambda: len(expert.of_type("chat.message")) == 3, what="three messages")
    mine = [e for e in expert.events if e["pseq"] > start]
    assert [e["pseq"] for e in mine] == list(range(start + 1, start + 1 + len(mine)))
    seqs = [expert.joined["room"]["seq"], *(e["seq"] for e in mine)]
    assert seqs == sorted(seqs)
    assert any(b - a > 1 for a, b in zip(seqs, seqs[1:]))  # the room's seq skipped the lobby events
    mediator_pseqs = [e["pseq"] for e in mediator.events]
    assert mediator_pseqs == list(range(1, len(mediator_pseqs) + 1))
