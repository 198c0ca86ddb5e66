"""Recording in the room state machine: consent gating, late joiners, refusals, the recorder's
relay rules. Pure: no sockets, no store, no database."""

from __future__ import annotations

import pytest

from server.domain.errors import Conflict, Forbidden
from server.domain.grants import SessionRole
from signaling.room import RECORDER_PID, Consent, NotAdmitted, ParticipantGone, RecordingState, Room, event_from_dict
from tests.signaling.test_room_unit import T0, drain, for_pid, meeting, seat


def updates_for(events: list, pid: str) -> list[dict]:
    return [d for t, d in for_pid(events, pid) if t == "recording.updated"]


def test_recording_waits_until_everyone_present_has_answered() -> None:
    room = meeting(("a", SessionRole.applicant), ("r", SessionRole.respondent), ("o", SessionRole.observer))
    room.start_recording("m", "run-1", T0)
    ev = drain(room)
    asked = sorted(aud[0] for _, t, _, aud in ev if t == "recording.consent_requested")
    assert asked == ["a", "r"], "parties are asked; the mediator who asked and the observer (no media) are not"
    assert room.recording.state is RecordingState.waiting_for_consent
    assert room.pending_consent() == ["a", "r"]
    assert room.recorded_pids() == [], "nobody is recorded while consent is pending"

    room.answer_consent("a", Consent.granted, T0 + 1)
    assert room.recording.state is RecordingState.waiting_for_consent, "r has not answered"
    room.answer_consent("r", Consent.refused, T0 + 2)
    assert room.recording.state is RecordingState.on
    assert sorted(room.recorded_pids()) == ["a", "m"], "who refused is not recorded"
    ev = drain(room)
    # Everyone sees the state; only the moderators see each answer.
    assert updates_for(ev, "o")[-1]["state"] == "on"
    assert updates_for(ev, "r")[-1]["your_consent"] == "refused"
    consents = [d for t, d in for_pid(ev, "m") if t == "recording.consents"][-1]
    assert consents == {"consents": {"m": "granted", "a": "granted", "r": "refused"}, "pending": []}
    assert not [t for t, _ in for_pid(ev, "a") if t == "recording.consents"]


def test_a_late_joiner_is_asked_on_arrival_and_not_recorded_until_they_consent() -> None:
    room = meeting(("a", SessionRole.applicant))
    room.start_recording("m", "run-1", T0)
    room.answer_consent("a", Consent.granted, T0)
    assert room.recording.state is RecordingState.on
    drain(room)
    room.join(seat("r", SessionRole.respondent), T0 + 5)
    room.admit("m", ["r"], T0 + 5)
    ev = drain(room)
    assert [t for t, _ in for_pid(ev, "r")].count("recording.consent_requested") == 1
    assert room.recording.state is RecordingState.on, "recording goes on for the others"
    assert "r" not in room.recorded_pids()
    with pytest.raises(Forbidden):
        room.relay_check("r", RECORDER_PID)
    room.answer_consent("r", Consent.granted, T0 + 6)
    assert "r" in room.recorded_pids()


def test_the_recorder_relays_only_with_recorded_participants_once_it_is_up() -> None:
    room = meeting(("a", SessionRole.applicant), ("r", SessionRole.respondent))
    with pytest.raises(Forbidden):
        room.relay_check("a", RECORDER_PID)  # recording off
    room.start_recording("m", "run-1", T0)
    room.answer_consent("a", Consent.granted, T0)
    room.answer_consent("r", Consent.refused, T0)
    with pytest.raises(ParticipantGone):
        room.relay_check("a", RECORDER_PID)  # the worker has not connected yet
    room.recorder_connected("sid-rec", T0)
    assert room.relay_check("a", RECORDER_PID) is None
    with pytest.raises(Forbidden):
        room.relay_check("r", RECORDER_PID)
    assert room.relay_check(RECORDER_PID, "a").pid == "a"
    with pytest.raises(ParticipantGone):
        room.relay_check(RECORDER_PID, "r")  # not towards someone who refused


def test_only_the_mediator_controls_recording_and_only_those_asked_answer() -> None:
    room = meeting(("a", SessionRole.applicant), ("o", SessionRole.observer))
    with pytest.raises(Forbidden):
        room.start_recording("a", "run-1", T0)
    with pytest.raises(Conflict):
        room.answer_consent("a", Consent.granted, T0)  # nothing was asked
    room.start_recording("m", "run-1", T0)
    with pytest.raises(Conflict):
        room.start_recording("m", "run-2", T0)
    with pytest.raises(Forbidden):
        room.answer_consent("o", Consent.granted, T0)  # observers send no media
    with pytest.raises(Forbidden):
        room.stop_recording("a", "", T0)
    room.join(seat("x", SessionRole.applicant), T0)  # still in the lobby
    with pytest.raises(NotAdmitted):
        room.answer_consent("x", Consent.granted, T0)


def test_someone_who_drops_or_leaves_no_longer_holds_the_start_back() -> None:
    room = meeting(("a", SessionRole.applicant), ("r", SessionRole.respondent))
    room.start_recording("m", "run-1", T0)
    room.answer_consent("a", Consent.granted, T0)
    room.disconnected("r", "sid-r", T0 + 1)
    assert room.recording.state is RecordingState.on
    assert "r" not in room.recorded_pids()


def test_a_withdrawn_yes_stops_that_persons_recording() -> None:
    room = meeting(("a", SessionRole.applicant))
    room.start_recording("m", "run-1", T0)
    room.answer_consent("a", Consent.granted, T0)
    assert "a" in room.recorded_pids()
    room.answer_consent("a", Consent.refused, T0 + 9)
    assert "a" not in room.recorded_pids() and "m" in room.recorded_pids()


def test_stop_and_end_turn_recording_off_for_everyone() -> None:
    room = meeting(("a", SessionRole.applicant))
    room.start_recording("m", "run-1", T0)
    room.answer_consent("a", Consent.granted, T0)
    drain(room)
    assert room.stop_recording("m", "enough", T0 + 1) == "run-1"
    ev = drain(room)
    assert updates_for(ev, "a")[-1] == {
        "state": "off",
        "recording_id": None,
        "recorder_ready": False,
        "interrupted": False,
        "recorded": [],
        "your_consent": None,
        "stop_reason": "enough",
    }
    assert room.stop_recording("m", "again", T0 + 2) is None
    room.start_recording("m", "run-2", T0 + 3)
    assert room.pending_consent() == ["a"], "a new run asks again"
    room.end("m", "done", T0 + 4)
    assert room.recording.state is RecordingState.off


def test_recording_state_survives_serialisation_and_a_resumed_run_keeps_answers() -> None:
    room = meeting(("a", SessionRole.applicant))
    room.start_recording("m", "run-1", T0)
    room.answer_consent("a", Consent.granted, T0)
    room.recorder_connected("sid-rec", T0)
    again = Room.from_dict(room.to_dict())
    assert again.recording == room.recording
    # After a restart the room is made anew and the run resumes with the stored answers.
    fresh = meeting(("a", SessionRole.applicant))
    fresh.resume_recording("run-1", {"m": Consent.granted, "a": Consent.granted}, T0 + 60)
    assert fresh.recording.state is RecordingState.on and fresh.recording.interrupted
    assert sorted(fresh.recorded_pids()) == ["a", "m"]
    ev = drain(fresh)
    assert not [t for _, t, _, _ in ev if t == "recording.consent_requested"], "nobody is asked twice"
    assert event_from_dict({"seq": 1, "type": "recording.updated", "data": {}, "audience": ["a"], "at": T0})
