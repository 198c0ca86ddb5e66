"""The roles-and-grants table of DESIGN.md, role by role."""

from __future__ import annotations

import pytest

from server.domain.errors import Forbidden
from server.domain.grants import LOBBY_BY_DEFAULT, PARTY_ROLES, ROLE_GRANTS, Grant, SessionRole, ensure_grant, has_grant

from .helpers import passes

G = Grant
# DESIGN.md's table, written out again here so that a change to either shows up as a failure.
EXPECTED = {
    SessionRole.mediator: {
        G.enter,
        G.publish,
        G.chat,
        G.read_chat,
        G.moderate,
        G.control_recording,
        G.caucus,
        G.write_minutes,
        G.read_minutes,
    },
    SessionRole.applicant: {G.enter, G.publish, G.chat, G.read_chat, G.consent_recording, G.read_minutes, G.sign},
    SessionRole.respondent: {G.enter, G.publish, G.chat, G.read_chat, G.consent_recording, G.read_minutes, G.sign},
    SessionRole.agent: {G.enter, G.publish, G.chat, G.read_chat, G.consent_recording, G.read_minutes, G.sign},
    SessionRole.expert: {
        G.enter,
        G.publish,
        G.chat,
        G.read_chat,
        G.consent_recording,
        G.read_minutes,
        G.add_expert_opinion,
    },
    SessionRole.observer: {G.enter, G.read_chat, G.read_minutes},
    # 记录人 (issue 11): writes the minutes beside the mediator; seen and heard, so asked to consent.
    SessionRole.clerk: {G.enter, G.publish, G.chat, G.read_chat, G.consent_recording, G.write_minutes, G.read_minutes},
}


@pytest.mark.parametrize("role", list(SessionRole))
def test_each_role_holds_exactly_the_grants_of_the_design_table(role: SessionRole) -> None:
    assert set(ROLE_GRANTS[role]) == EXPECTED[role]


def holders(grant: Grant) -> set[SessionRole]:
    return {r for r in SessionRole if has_grant(r, grant)}


def test_observers_watch_and_read_but_cannot_publish_or_chat() -> None:
    assert not has_grant(SessionRole.observer, Grant.publish)
    assert not has_grant(SessionRole.observer, Grant.chat)
    assert has_grant(SessionRole.observer, Grant.read_chat)


def test_only_mediators_moderate_run_recording_open_caucus_rooms() -> None:
    for grant in (Grant.moderate, Grant.control_recording, Grant.caucus):
        assert holders(grant) == {SessionRole.mediator}, grant


def test_mediators_and_clerks_write_the_minutes() -> None:
    assert holders(Grant.write_minutes) == {SessionRole.mediator, SessionRole.clerk}


def test_only_parties_and_their_agents_sign() -> None:
    assert holders(Grant.sign) == {SessionRole.applicant, SessionRole.respondent, SessionRole.agent}
    assert holders(Grant.sign) == set(PARTY_ROLES)


def test_only_experts_add_an_expert_opinion() -> None:
    assert holders(Grant.add_expert_opinion) == {SessionRole.expert}


def test_everyone_but_the_mediator_and_observer_consents_to_recording() -> None:
    assert holders(Grant.consent_recording) == {
        SessionRole.applicant,
        SessionRole.respondent,
        SessionRole.agent,
        SessionRole.expert,
        SessionRole.clerk,
    }


def test_every_role_may_join_and_read_minutes() -> None:
    assert holders(Grant.enter) == set(SessionRole)
    assert holders(Grant.read_minutes) == set(SessionRole)


def test_parties_and_observers_wait_in_the_lobby_by_default_mediators_experts_and_clerks_enter() -> None:
    """docs/protocol.md: experts and clerks are staff the mediator invited, and enter directly."""
    assert set(SessionRole) - LOBBY_BY_DEFAULT == {SessionRole.mediator, SessionRole.expert, SessionRole.clerk}


@pytest.mark.parametrize(
    ("role", "grant", "message"),
    [
        (SessionRole.observer, Grant.publish, "role 'observer' may not publish"),
        (SessionRole.observer, Grant.chat, "role 'observer' may not chat"),
        (SessionRole.applicant, Grant.moderate, "role 'applicant' may not moderate"),
        (SessionRole.expert, Grant.write_minutes, "role 'expert' may not write minutes"),
        (SessionRole.mediator, Grant.sign, "role 'mediator' may not sign"),
        (SessionRole.agent, Grant.add_expert_opinion, "role 'agent' may not add expert opinion"),
    ],
)
def test_ensure_grant_refuses_with_a_message_naming_role_and_grant(
    role: SessionRole, grant: Grant, message: str
) -> None:
    with pytest.raises(Forbidden) as err:
        ensure_grant(role, grant)
    assert err.value.message == message
    assert err.value.code == "forbidden"
    assert err.value.details == {"grant": grant.value}


def test_ensure_grant_lets_through_exactly_the_holders_of_the_table() -> None:
    let_through = {(r, g) for r in SessionRole for g in Grant if passes(ensure_grant, r, g)}
    assert let_through == {(r, g) for r, grants in EXPECTED.items() for g in grants}


def test_the_rooms_case_panel_shows_agents_to_the_mediator_and_clerk_and_the_summary_to_all_but_observers():
    from server.domain.grants import CasePanel, case_panel_for

    assert {role: case_panel_for(role) for role in SessionRole} == {
        SessionRole.mediator: CasePanel(agents=True, summary=True),
        SessionRole.clerk: CasePanel(agents=True, summary=True),
        SessionRole.applicant: CasePanel(agents=False, summary=True),
        SessionRole.respondent: CasePanel(agents=False, summary=True),
        SessionRole.agent: CasePanel(agents=False, summary=True),
        SessionRole.expert: CasePanel(agents=False, summary=True),
        SessionRole.observer: CasePanel(agents=False, summary=False),
    }
