"""Invitation field rules, default lobby behaviour and lifetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.domain.errors import ValidationFailed
from server.domain.grants import SessionRole
from server.domain.invitations import check_invitation_fields, default_direct_entry, expiry

from .helpers import passes

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
PARTY_ROLES = [SessionRole.applicant, SessionRole.respondent, SessionRole.agent]


@pytest.mark.parametrize("role", PARTY_ROLES)
def test_a_party_role_is_invited_as_a_party_of_the_case(role: SessionRole) -> None:
    assert passes(check_invitation_fields, role, party_id="p1", account_id=None, display_name=None)


@pytest.mark.parametrize("role", PARTY_ROLES)
def test_a_party_role_without_a_party_is_refused(role: SessionRole) -> None:
    with pytest.raises(ValidationFailed) as err:
        check_invitation_fields(role, party_id=None, account_id=None, display_name="张三")
    assert err.value.fields == {"party_id": "required"}
    assert err.value.message == f"an invitation for role '{role.value}' must name a party of the case"


@pytest.mark.parametrize("role", [SessionRole.mediator, SessionRole.expert, SessionRole.observer])
def test_a_non_party_role_may_not_name_a_party(role: SessionRole) -> None:
    with pytest.raises(ValidationFailed) as err:
        check_invitation_fields(role, party_id="p1", account_id="a1", display_name=None)
    assert err.value.fields == {"party_id": "not_allowed"}


def test_a_mediator_is_invited_by_account_only() -> None:
    assert passes(check_invitation_fields, SessionRole.mediator, party_id=None, account_id="a1", display_name=None)
    with pytest.raises(ValidationFailed) as err:
        check_invitation_fields(SessionRole.mediator, party_id=None, account_id=None, display_name="王调解员")
    assert err.value.fields == {"account_id": "required"}


@pytest.mark.parametrize("role", [SessionRole.expert, SessionRole.observer])
def test_experts_and_observers_come_by_account_or_by_name(role: SessionRole) -> None:
    assert passes(check_invitation_fields, role, party_id=None, account_id="a1", display_name=None)
    assert passes(check_invitation_fields, role, party_id=None, account_id=None, display_name="村委会主任")


@pytest.mark.parametrize("name", [None, "", "   "])
def test_an_invitation_without_party_account_or_name_is_refused(name: str | None) -> None:
    with pytest.raises(ValidationFailed) as err:
        check_invitation_fields(SessionRole.observer, party_id=None, account_id=None, display_name=name)
    assert err.value.fields == {"display_name": "required"}


def test_only_staff_roles_skip_the_lobby_by_default() -> None:
    staff = {SessionRole.mediator, SessionRole.expert, SessionRole.clerk}
    assert {r for r in SessionRole if default_direct_entry(r)} == staff


def test_an_invitation_lives_seven_days_unless_told_otherwise() -> None:
    assert expiry(NOW, None) == NOW + timedelta(days=7)


@pytest.mark.parametrize("ttl", [timedelta(minutes=1), timedelta(hours=2), timedelta(days=90)])
def test_a_lifetime_between_one_minute_and_ninety_days_is_accepted(ttl: timedelta) -> None:
    assert expiry(NOW, ttl) == NOW + ttl


@pytest.mark.parametrize(
    "ttl",
    [timedelta(0), timedelta(seconds=30), timedelta(minutes=-5), timedelta(days=90, seconds=1), timedelta(days=365)],
)
def test_a_lifetime_outside_one_minute_to_ninety_days_is_refused(ttl: timedelta) -> None:
    with pytest.raises(ValidationFailed) as err:
        expiry(NOW, ttl)
    assert err.value.fields == {"ttl_hours": "out_of_range"}
    assert err.value.message == "invitation lifetime must be between 1 minute and 90 days"
