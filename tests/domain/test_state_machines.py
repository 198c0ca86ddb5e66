"""The case and session state machines: every allowed move, forbidden moves with exact messages."""

from __future__ import annotations

import itertools

import pytest

from server.domain.cases import CaseStatus as C
from server.domain.cases import check_case_transition, format_case_number, is_open
from server.domain.errors import InvalidTransition, ValidationFailed
from server.domain.sessions import SessionStatus as S
from server.domain.sessions import check_session_transition

from .helpers import passes

# Written out by hand from DESIGN.md, not read back from the code under test.
CASE_MOVES = {
    (C.registered, C.accepted),
    (C.registered, C.declined),
    (C.accepted, C.mediating),
    (C.accepted, C.withdrawn),
    (C.mediating, C.settled),
    (C.mediating, C.unsettled),
    (C.mediating, C.withdrawn),
    (C.settled, C.closed),
    (C.unsettled, C.closed),
    (C.unsettled, C.mediating),
    (C.withdrawn, C.closed),
}
NEEDS_NOTE = {C.declined, C.unsettled, C.withdrawn}
SESSION_MOVES = {(S.scheduled, S.live), (S.scheduled, S.ended), (S.live, S.ended)}


def test_the_case_state_machine_allows_exactly_the_designed_moves() -> None:
    accepted = {(c, t) for c, t in itertools.product(C, C) if passes(check_case_transition, c, t, "双方同意")}
    assert accepted == CASE_MOVES


@pytest.mark.parametrize(("current", "target"), sorted(m for m in itertools.product(C, C) if m not in CASE_MOVES))
def test_every_other_case_move_raises_invalid_transition(current: C, target: C) -> None:
    with pytest.raises(InvalidTransition) as err:
        check_case_transition(current, target, "a note does not make a forbidden move allowed")
    assert err.value.code == "invalid_transition"
    assert err.value.http_status == 409
    assert err.value.details["current"] == current.value
    assert err.value.details["target"] == target.value


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (
            C.registered,
            C.settled,
            "case cannot go from 'registered' to 'settled'; allowed from 'registered': accepted, declined",
        ),
        (
            C.accepted,
            C.closed,
            "case cannot go from 'accepted' to 'closed'; allowed from 'accepted': mediating, withdrawn",
        ),
        (
            C.mediating,
            C.mediating,
            "case cannot go from 'mediating' to 'mediating'; allowed from 'mediating': settled, unsettled, withdrawn",
        ),
        (C.settled, C.mediating, "case cannot go from 'settled' to 'mediating'; allowed from 'settled': closed"),
        (
            C.unsettled,
            C.settled,
            "case cannot go from 'unsettled' to 'settled'; allowed from 'unsettled': closed, mediating",
        ),
        (C.withdrawn, C.accepted, "case cannot go from 'withdrawn' to 'accepted'; allowed from 'withdrawn': closed"),
        (
            C.declined,
            C.accepted,
            "case cannot go from 'declined' to 'accepted'; allowed from 'declined': none (final state)",
        ),
        (
            C.closed,
            C.mediating,
            "case cannot go from 'closed' to 'mediating'; allowed from 'closed': none (final state)",
        ),
    ],
)
def test_a_forbidden_case_move_names_the_moves_that_are_allowed(current: C, target: C, message: str) -> None:
    with pytest.raises(InvalidTransition) as err:
        check_case_transition(current, target, None)
    assert str(err.value) == message
    assert err.value.message == message


def test_the_allowed_moves_travel_with_the_error_for_clients() -> None:
    with pytest.raises(InvalidTransition) as err:
        check_case_transition(C.mediating, C.closed, None)
    assert err.value.details["allowed"] == ["settled", "unsettled", "withdrawn"]


@pytest.mark.parametrize("target", sorted(NEEDS_NOTE))
@pytest.mark.parametrize("note", [None, "", "   \n\t"])
def test_moves_that_end_mediation_need_a_note(target: C, note: str | None) -> None:
    current = next(c for c, t in CASE_MOVES if t is target)
    with pytest.raises(ValidationFailed) as err:
        check_case_transition(current, target, note)
    assert err.value.message == f"a note is required to move a case to '{target.value}'"
    assert err.value.fields == {"note": "required"}


def test_other_moves_need_no_note() -> None:
    accepted = {(c, t) for c, t in itertools.product(C, C) if passes(check_case_transition, c, t, None)}
    assert accepted == {(c, t) for c, t in CASE_MOVES if t not in NEEDS_NOTE}


def test_a_forbidden_move_is_reported_as_such_even_without_a_note() -> None:
    with pytest.raises(InvalidTransition):
        check_case_transition(C.closed, C.withdrawn, None)


def test_cases_are_open_for_new_sessions_until_an_outcome_is_final() -> None:
    assert {s for s in C if is_open(s)} == {C.registered, C.accepted, C.mediating, C.unsettled}


def test_case_numbers_carry_org_code_year_and_a_four_digit_sequence() -> None:
    assert format_case_number("HX-DJ", 2026, 7) == "HX-DJ-2026-0007"
    assert format_case_number("HX-DJ", 2027, 12345) == "HX-DJ-2027-12345"


def test_the_session_state_machine_allows_exactly_the_designed_moves() -> None:
    accepted = {(c, t) for c, t in itertools.product(S, S) if passes(check_session_transition, c, t)}
    assert accepted == SESSION_MOVES


SESSION_FORBIDDEN = [
    (
        S.scheduled,
        S.scheduled,
        "session cannot go from 'scheduled' to 'scheduled'; allowed from 'scheduled': live, ended",
    ),
    (S.live, S.scheduled, "session cannot go from 'live' to 'scheduled'; allowed from 'live': ended"),
    (S.live, S.live, "session cannot go from 'live' to 'live'; allowed from 'live': ended"),
    (S.ended, S.live, "session cannot go from 'ended' to 'live'; allowed from 'ended': none (final state)"),
    (S.ended, S.scheduled, "session cannot go from 'ended' to 'scheduled'; allowed from 'ended': none (final state)"),
    (S.ended, S.ended, "session cannot go from 'ended' to 'ended'; allowed from 'ended': none (final state)"),
]


@pytest.mark.parametrize(("current", "target", "message"), SESSION_FORBIDDEN)
def test_every_forbidden_session_move_raises_with_an_exact_message(current: S, target: S, message: str) -> None:
    with pytest.raises(InvalidTransition) as err:
        check_session_transition(current, target)
    assert str(err.value) == message


def test_the_session_moves_listed_here_are_every_pair_of_states() -> None:
    listed = SESSION_MOVES | {(c, t) for c, t, _ in SESSION_FORBIDDEN}
    assert listed == set(itertools.product(S, S))
