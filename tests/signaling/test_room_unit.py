"""The room state machine on its own: no sockets, no store, no database."""

from __future__ import annotations

import json

import pytest

from server.domain.errors import Conflict, DomainError, Forbidden
from server.domain.grants import SessionRole
from signaling.room import (
    NotAdmitted,
    ParticipantGone,
    PublisherLimit,
    Refused,
    Room,
    RoomEnded,
    Seat,
    SeatState,
    event_from_dict,
    event_to_dict,
)

T0 = 1_000.0
GRACE = 60.0


def seat(pid: str, role: SessionRole, *, direct_entry: bool = False, sid: str | None = None) -> Seat:
    return Seat(
        pid=pid,
        name=pid.upper(),
        role=role,
        state=SeatState.lobby,
        invitation_id=pid,
        direct_entry=direct_entry,
        sid=sid or f"sid-{pid}",
    )


def new_room(max_publishers: int = 6) -> Room:
    return Room(room_id="session-1", case_id="case-1", max_publishers=max_publishers)


def drain(room: Room) -> list[tuple[int, str, dict, list[str]]]:
    """Take the outbox the way the store does, as (seq, type, data, audience)."""
    out = [(e.seq, e.type, e.data, e.audience) for e in room.outbox]
    room.outbox = []
    return out


def types(events: list[tuple[int, str, dict, list[str]]]) -> list[str]:
    return [t for _, t, _, _ in events]


def for_pid(events: list[tuple[int, str, dict, list[str]]], pid: str) -> list[tuple[str, dict]]:
    return [(t, d) for _, t, d, audience in events if pid in audience]


def meeting(*extra: tuple[str, SessionRole]) -> Room:
    """A room with mediator `m` and the given others, all admitted, outbox empty."""
    room = new_room()
    room.join(seat("m", SessionRole.mediator), T0)
    for pid, role in extra:
        room.join(seat(pid, role), T0)
    if extra:
        room.admit("m", None, T0)
    drain(room)
    return room


# ---- joining and the lobby --------------------------------------------------------------


def test_the_mediator_is_admitted_at_once_and_sees_an_empty_lobby() -> None:
    room = new_room()
    result = room.join(seat("m", SessionRole.mediator), T0)
    assert result.resumed is False and result.replaced_sid is None
    assert result.seat.state is SeatState.admitted and result.seat.resume_token
    snap = room.snapshot_for("m")
    assert snap["you"]["state"] == "admitted"
    assert [p["pid"] for p in snap["participants"]] == ["m"]
    assert snap["lobby"] == [] and "lobby_reason" not in snap
    assert types(drain(room)) == ["participant.joined", "lobby.updated"]


def test_a_party_without_a_mediator_waits_for_the_mediator_and_sees_nobody() -> None:
    room = new_room()
    room.join(seat("a", SessionRole.applicant), T0)
    snap = room.snapshot_for("a")
    assert snap["you"]["state"] == "lobby"
    assert snap["lobby_reason"] == "waiting_for_mediator"
    assert "participants" not in snap and "lobby" not in snap
    assert for_pid(drain(room), "a") == [("lobby.status", {"reason": "waiting_for_mediator"})]


def test_when_the_mediator_arrives_the_lobby_is_told_to_wait_for_admission() -> None:
    room = new_room()
    room.join(seat("a", SessionRole.applicant), T0)
    drain(room)
    room.join(seat("m", SessionRole.mediator), T0 + 1)
    events = drain(room)
    assert for_pid(events, "a") == [("lobby.status", {"reason": "waiting_for_admission"})]
    lobby_updates = [d for t, d in for_pid(events, "m") if t == "lobby.updated"]
    assert [p["pid"] for p in lobby_updates[-1]["lobby"]] == ["a"]
    assert room.snapshot_for("a")["lobby_reason"] == "waiting_for_admission"


def test_a_direct_entry_expert_waits_for_a_mediator_and_is_then_admitted_automatically() -> None:
    room = new_room()
    room.join(seat("e", SessionRole.expert, direct_entry=True), T0)
    assert room.seats["e"].state is SeatState.lobby
    assert room.snapshot_for("e")["lobby_reason"] == "waiting_for_mediator"
    drain(room)
    room.join(seat("m", SessionRole.mediator), T0 + 1)
    assert room.seats["e"].state is SeatState.admitted
    joined = [d["participant"]["pid"] for t, d in for_pid(drain(room), "e") if t == "participant.joined"]
    assert joined == ["e"]
    assert sorted(p["pid"] for p in room.snapshot_for("m")["participants"]) == ["e", "m"]


def test_a_direct_entry_expert_arriving_after_the_mediator_enters_directly() -> None:
    room = meeting()
    room.join(seat("e", SessionRole.expert, direct_entry=True), T0)
    assert room.seats["e"].state is SeatState.admitted
    assert for_pid(drain(room), "m")[0][0] == "participant.joined"


def test_an_expert_without_direct_entry_waits_in_the_lobby_like_a_party() -> None:
    room = meeting()
    room.join(seat("e", SessionRole.expert), T0)
    assert room.seats["e"].state is SeatState.lobby


def test_nobody_is_admitted_while_the_mediator_is_disconnected() -> None:
    room = meeting()
    room.disconnected("m", "sid-m", T0 + 1)
    room.join(seat("e", SessionRole.expert, direct_entry=True), T0 + 2)
    assert room.seats["e"].state is SeatState.lobby
    assert room.snapshot_for("e")["lobby_reason"] == "waiting_for_mediator"
    room.join(seat("m", SessionRole.mediator, sid="sid-m2"), T0 + 3)
    assert room.seats["e"].state is SeatState.admitted


# ---- admit, deny, remove, mute ----------------------------------------------------------


def test_admitting_one_person_leaves_the_others_waiting() -> None:
    room = meeting()
    room.join(seat("a", SessionRole.applicant), T0)
    room.join(seat("r", SessionRole.respondent), T0)
    drain(room)
    assert room.admit("m", ["a"], T0) == ["a"]
    assert room.seats["a"].state is SeatState.admitted and room.seats["r"].state is SeatState.lobby
    events = drain(room)
    assert ("participant.joined", {"participant": room.seats["a"].public()}) in for_pid(events, "a")
    assert not [t for t, _ in for_pid(events, "r") if t == "participant.joined"]


def test_admitting_without_names_admits_everyone_waiting_and_skips_the_admitted() -> None:
    room = meeting()
    room.join(seat("a", SessionRole.applicant), T0)
    room.join(seat("r", SessionRole.respondent), T0)
    assert room.admit("m", None, T0) == ["a", "r"]
    assert room.admit("m", ["a"], T0) == []
    assert room.lobby() == []


def test_a_party_may_not_admit_and_someone_in_the_lobby_is_not_admitted_to_act() -> None:
    room = meeting(("a", SessionRole.applicant))
    room.join(seat("r", SessionRole.respondent), T0)
    with pytest.raises(Forbidden) as exc:
        room.admit("a", ["r"], T0)
    assert exc.value.code == "forbidden"
    with pytest.raises(NotAdmitted) as exc2:
        room.admit("r", None, T0)
    assert exc2.value.code == "not_admitted"
    assert room.seats["r"].state is SeatState.lobby


def test_admitting_an_unknown_pid_fails_with_unknown_participant() -> None:
    room = meeting()
    with pytest.raises(ParticipantGone) as exc:
        room.admit("m", ["nobody"], T0)
    assert exc.value.code == "unknown_participant"


def test_a_denied_person_hears_the_reason_loses_the_seat_and_is_refused_on_rejoin() -> None:
    room = meeting()
    room.join(seat("a", SessionRole.applicant), T0)
    drain(room)
    denied = room.deny("m", "a", "请改天再来", T0)
    assert denied.pid == "a" and "a" not in room.seats
    events = drain(room)
    assert for_pid(events, "a") == [("lobby.denied", {"reason": "请改天再来"})]
    with pytest.raises(Refused) as exc:
        room.join(seat("a", SessionRole.applicant, sid="sid-a2"), T0 + 1)
    assert exc.value.code == "refused"


def test_only_people_in_the_lobby_can_be_denied() -> None:
    room = meeting(("a", SessionRole.applicant))
    with pytest.raises(Conflict):
        room.deny("m", "a", "", T0)
    assert room.seats["a"].state is SeatState.admitted


def test_a_removed_participant_is_told_and_cannot_come_back() -> None:
    room = meeting(("a", SessionRole.applicant), ("r", SessionRole.respondent))
    room.remove("m", "a", "扰乱秩序", T0)
    events = drain(room)
    assert events[0][1] == "participant.removed"
    assert sorted(events[0][3]) == ["a", "m", "r"]
    assert events[0][2] == {"pid": "a", "reason": "扰乱秩序"}
    assert room.refused == {"a": "扰乱秩序"}
    with pytest.raises(Refused):
        room.join(seat("a", SessionRole.applicant, sid="sid-a2"), T0 + 1)


def test_the_mediator_cannot_remove_themselves_and_parties_cannot_remove_anyone() -> None:
    room = meeting(("a", SessionRole.applicant))
    with pytest.raises(Conflict):
        room.remove("m", "m", "", T0)
    with pytest.raises(Forbidden):
        room.remove("a", "m", "", T0)
    assert set(room.seats) == {"m", "a"}


def test_a_mute_request_reaches_only_the_person_asked() -> None:
    room = meeting(("a", SessionRole.applicant), ("r", SessionRole.respondent))
    room.request_mute("m", "a", "video", T0)
    assert drain(room) == [(room.seq, "mute.requested", {"by": "m", "kind": "video"}, ["a"])]


def test_muting_someone_in_the_lobby_names_them_unknown_rather_than_blaming_the_mediator() -> None:
    room = meeting()
    room.join(seat("a", SessionRole.applicant), T0)
    with pytest.raises(ParticipantGone):
        room.request_mute("m", "a", "audio", T0)
    with pytest.raises(ParticipantGone):
        room.request_mute("m", "ghost", "audio", T0)


def test_a_party_cannot_ask_anyone_to_mute() -> None:
    room = meeting(("a", SessionRole.applicant))
    with pytest.raises(Forbidden):
        room.request_mute("a", "m", "audio", T0)


# ---- publishing -------------------------------------------------------------------------


def test_publishers_are_capped_and_a_freed_place_can_be_taken() -> None:
    room = new_room(max_publishers=2)
    room.join(seat("m", SessionRole.mediator), T0)
    for pid in ("a", "r"):
        room.join(seat(pid, SessionRole.applicant), T0)
    room.admit("m", None, T0)
    drain(room)
    room.start_publishing("m", T0)
    room.start_publishing("a", T0)
    room.start_publishing("a", T0)  # again: no change, no event
    with pytest.raises(PublisherLimit) as exc:
        room.start_publishing("r", T0)
    assert exc.value.code == "publisher_limit"
    room.stop_publishing("a", T0)
    room.start_publishing("r", T0)
    assert types(drain(room)) == ["publisher.added", "publisher.added", "publisher.removed", "publisher.added"]
    assert sorted(s.pid for s in room.publishers()) == ["m", "r"]


def test_observers_cannot_publish_and_the_lobby_cannot_publish() -> None:
    room = meeting(("o", SessionRole.observer))
    room.join(seat("a", SessionRole.applicant), T0)
    with pytest.raises(Forbidden):
        room.start_publishing("o", T0)
    with pytest.raises(NotAdmitted):
        room.start_publishing("a", T0)
    assert room.publishers() == []


# ---- chat and relay ---------------------------------------------------------------------


def test_chat_goes_to_every_admitted_member_and_never_to_the_lobby() -> None:
    room = meeting(("a", SessionRole.applicant), ("e", SessionRole.expert))
    room.join(seat("r", SessionRole.respondent), T0)
    assert sorted(room.chat_audience("a", None)) == ["a", "e", "m"]


def test_private_messages_run_between_the_mediator_and_one_participant_only() -> None:
    room = meeting(("a", SessionRole.applicant), ("r", SessionRole.respondent), ("e", SessionRole.expert))
    assert room.chat_audience("a", "m") == ["a", "m"]
    assert room.chat_audience("m", "r") == ["m", "r"]
    with pytest.raises(Forbidden):
        room.chat_audience("a", "r")
    with pytest.raises(Forbidden):
        room.chat_audience("e", "a")
    with pytest.raises(DomainError) as exc:
        room.chat_audience("m", "m")
    assert exc.value.code == "bad_request"


def test_observers_read_but_do_not_chat_and_the_lobby_cannot_chat() -> None:
    room = meeting(("o", SessionRole.observer))
    room.join(seat("a", SessionRole.applicant), T0)
    with pytest.raises(Forbidden):
        room.chat_audience("o", None)
    with pytest.raises(NotAdmitted):
        room.chat_audience("a", None)


def test_a_private_message_to_someone_in_the_lobby_names_them_unknown() -> None:
    room = meeting()
    room.join(seat("a", SessionRole.applicant), T0)
    with pytest.raises(ParticipantGone):
        room.chat_audience("m", "a")


def test_signals_flow_only_between_admitted_members_and_never_to_oneself() -> None:
    room = meeting(("e", SessionRole.expert))
    room.join(seat("a", SessionRole.applicant), T0)
    assert room.relay_check("m", "e").pid == "e"
    with pytest.raises(ParticipantGone):
        room.relay_check("m", "a")
    with pytest.raises(NotAdmitted):
        room.relay_check("a", "m")
    with pytest.raises(ParticipantGone):
        room.relay_check("m", "ghost")
    with pytest.raises(DomainError) as exc:
        room.relay_check("m", "m")
    assert exc.value.code == "bad_request"


# ---- connections, reconnects and the grace period ---------------------------------------


def test_a_drop_keeps_the_seat_and_tells_the_others_it_is_reconnecting() -> None:
    room = meeting(("a", SessionRole.applicant))
    assert room.disconnected("a", "sid-a", T0 + 1) is True
    assert room.seats["a"].connected is False and room.seats["a"].state is SeatState.admitted
    assert drain(room) == [(room.seq, "participant.reconnecting", {"pid": "a"}, ["m"])]


def test_a_stale_disconnect_of_a_replaced_connection_changes_nothing() -> None:
    room = meeting(("a", SessionRole.applicant))
    result = room.join(seat("a", SessionRole.applicant, sid="sid-a2"), T0 + 1)
    assert result.resumed is True and result.replaced_sid == "sid-a"
    drain(room)
    assert room.disconnected("a", "sid-a", T0 + 2) is False
    assert room.seats["a"].connected is True and drain(room) == []


def test_coming_back_takes_the_same_seat_with_a_new_token_and_others_renegotiate() -> None:
    room = meeting(("a", SessionRole.applicant))
    old_token = room.seats["a"].resume_token
    room.start_publishing("a", T0)
    room.disconnected("a", "sid-a", T0 + 1)
    drain(room)
    result = room.join(seat("a", SessionRole.applicant, sid="sid-a2"), T0 + 5)
    assert result.resumed is True and result.replaced_sid is None
    assert result.seat.state is SeatState.admitted and result.seat.publishing is True
    assert result.seat.resume_token != old_token
    assert len(room.seats) == 2
    events = drain(room)
    assert [(t, d["renegotiate"], a) for _, t, d, a in events] == [("participant.reconnected", True, ["m"])]


def test_someone_in_the_lobby_comes_back_to_the_lobby_not_the_meeting() -> None:
    room = meeting()
    room.join(seat("a", SessionRole.applicant), T0)
    room.disconnected("a", "sid-a", T0 + 1)
    result = room.join(seat("a", SessionRole.applicant, sid="sid-a2"), T0 + 2)
    assert result.resumed is True and result.seat.state is SeatState.lobby


def test_the_seat_is_released_only_when_the_grace_period_has_run_out() -> None:
    room = meeting(("a", SessionRole.applicant))
    room.disconnected("a", "sid-a", T0)
    drain(room)
    assert room.expire(T0 + GRACE - 1, GRACE) == []
    gone = room.expire(T0 + GRACE, GRACE)
    assert [s.pid for s in gone] == ["a"] and "a" not in room.seats
    assert drain(room) == [(room.seq, "participant.left", {"pid": "a"}, ["m"])]


def test_when_the_mediator_drops_or_leaves_the_lobby_is_told_to_wait_for_a_mediator() -> None:
    room = meeting()
    room.join(seat("a", SessionRole.applicant), T0)
    drain(room)
    room.disconnected("m", "sid-m", T0 + 1)
    assert for_pid(drain(room), "a") == [("lobby.status", {"reason": "waiting_for_mediator"})]
    room.join(seat("m", SessionRole.mediator, sid="sid-m2"), T0 + 2)
    assert ("lobby.status", {"reason": "waiting_for_admission"}) in for_pid(drain(room), "a")
    room.leave("m", T0 + 3)
    assert for_pid(drain(room), "a") == [("lobby.status", {"reason": "waiting_for_mediator"})]


def test_the_room_notes_when_it_became_empty_and_forgets_it_when_someone_returns() -> None:
    room = meeting(("a", SessionRole.applicant))
    room.disconnected("a", "sid-a", T0 + 1)
    assert room.empty_since is None
    room.disconnected("m", "sid-m", T0 + 2)
    assert room.empty_since == T0 + 2
    room.join(seat("a", SessionRole.applicant, sid="sid-a2"), T0 + 3)
    assert room.empty_since is None
    room.leave("a", T0 + 4)
    assert room.empty_since == T0 + 4


def test_leaving_twice_is_harmless() -> None:
    room = meeting(("a", SessionRole.applicant))
    assert room.leave("a", T0) is not None
    assert room.leave("a", T0) is None


# ---- ending -----------------------------------------------------------------------------


def test_ending_tells_everyone_including_the_lobby_and_closes_the_room() -> None:
    room = meeting(("e", SessionRole.expert))
    room.join(seat("a", SessionRole.applicant), T0)
    drain(room)
    room.end("m", "达成协议", T0 + 1)
    events = drain(room)
    assert [(t, d, sorted(a)) for _, t, d, a in events] == [
        ("session.ended", {"reason": "达成协议", "by": "m"}, ["a", "e", "m"])
    ]
    assert room.ended
    for attempt in (
        lambda: room.join(seat("x", SessionRole.observer), T0),
        lambda: room.admit("m", None, T0),
        lambda: room.chat_audience("m", None),
        lambda: room.start_publishing("m", T0),
        lambda: room.relay_check("m", "e"),
        lambda: room.end("m", "", T0),
    ):
        with pytest.raises(RoomEnded):
            attempt()


def test_only_the_mediator_or_the_server_ends_a_session() -> None:
    room = meeting(("a", SessionRole.applicant))
    with pytest.raises(Forbidden):
        room.end("a", "", T0)
    assert not room.ended
    room.end(None, "idle timeout", T0)
    assert room.ended and drain(room)[0][2] == {"reason": "idle timeout", "by": None}


# ---- sequencing and serialisation -------------------------------------------------------


def test_every_event_gets_the_next_sequence_number_and_events_for_nobody_take_none() -> None:
    room = new_room()
    room.join(seat("a", SessionRole.applicant), T0)  # lobby.updated has no moderator: not emitted
    events = drain(room)
    assert types(events) == ["lobby.status"] and events[0][0] == 1 == room.seq
    room.join(seat("m", SessionRole.mediator), T0)
    seqs = [s for s, _, _, _ in drain(room)]
    assert seqs == list(range(2, 2 + len(seqs)))
    assert room.seq == seqs[-1]


def test_a_room_survives_a_round_trip_through_its_stored_form() -> None:
    room = meeting(("a", SessionRole.applicant), ("e", SessionRole.expert))
    room.join(seat("r", SessionRole.respondent), T0)
    room.start_publishing("a", T0)
    room.deny("m", "r", "no", T0)
    room.disconnected("e", "sid-e", T0 + 3)
    room.join(seat("o", SessionRole.observer), T0)
    event = room.outbox[-1]
    copy = Room.from_dict(room.to_dict())
    assert copy.to_dict() == room.to_dict()
    assert copy.seats["a"].role is SessionRole.applicant and copy.seats["o"].state is SeatState.lobby
    assert copy.outbox == []
    assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event


def test_what_others_see_of_a_seat_has_no_sid_token_or_account() -> None:
    room = meeting(("a", SessionRole.applicant))
    public = room.seats["a"].public()
    assert set(public) == {"pid", "name", "role", "state", "connected", "publishing"}
    seen = str(room.snapshot_for("m"))
    assert "sid-a" not in seen and room.seats["a"].resume_token not in seen
