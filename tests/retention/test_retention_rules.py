"""The retention rule and who may hold a case (server/domain/retention.py): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.domain.access import CaseScope, Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.errors import Forbidden, NotFound, ValidationFailed
from server.domain.orgs import child_path
from server.domain.retention import (
    MAX_DAYS,
    MAX_REASON,
    can_hold,
    check_days,
    check_reason,
    ensure_hold,
    ensure_set_retention,
    expires_at,
    is_expired,
)

ENDED = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
DISTRICT = child_path(None, "d1")
TOWN = child_path(DISTRICT, "t1")
OTHER = child_path(None, "d2")
SCOPE = CaseScope(case_id="c1", org_path=TOWN, mediator_id="m1")


def staff(role: StaffRole, org_path: str, account_id: str = "x") -> Principal:
    return Principal(PrincipalKind.staff, "someone", account_id=account_id, staff_role=role, org_path=org_path)


def expired(days: int | None, after: timedelta, *, hold: bool = False, ended: datetime | None = ENDED) -> bool:
    return is_expired(ended_at=ended, days=days, legal_hold=hold, now=ENDED + after)


def test_a_recording_expires_once_more_than_the_orgs_days_have_passed_since_its_session_ended() -> None:
    assert expires_at(ENDED, 30) == ENDED + timedelta(days=30)
    assert not expired(30, timedelta(days=29, hours=23))
    assert not expired(30, timedelta(days=30)), "exactly 30 days is not more than 30"
    assert expired(30, timedelta(days=30, microseconds=1))
    assert expired(1, timedelta(days=400))


def test_an_org_without_a_period_keeps_recordings_and_a_session_not_ended_is_kept() -> None:
    assert expires_at(ENDED, None) is None and expires_at(None, 30) is None
    assert not expired(None, timedelta(days=365 * 100))
    assert not expired(30, timedelta(days=365), ended=None)


def test_nothing_expires_while_the_case_is_on_legal_hold() -> None:
    assert not expired(1, timedelta(days=365 * 10), hold=True)
    assert expired(1, timedelta(days=365 * 10), hold=False)


@pytest.mark.parametrize("days", [0, -1, MAX_DAYS + 1, 10**12, True, False, 3.0, "30"])
def test_a_period_is_whole_days_from_one_to_a_hundred_years(days: object) -> None:
    with pytest.raises(ValidationFailed) as err:
        check_days(days)  # type: ignore[arg-type]
    assert err.value.fields is not None and "days" in err.value.fields


def test_a_valid_period_or_none_is_kept_as_it_is() -> None:
    assert [check_days(d) for d in (1, 30, MAX_DAYS, None)] == [1, 30, MAX_DAYS, None]


def test_a_hold_is_set_and_released_with_a_reason_in_words() -> None:
    assert check_reason("  法院  调取\n证据 ") == "法院 调取 证据"
    for bad in ("", "   \n\t"):
        with pytest.raises(ValidationFailed, match="reason"):
            check_reason(bad)
    assert check_reason("长" * MAX_REASON) == "长" * MAX_REASON
    with pytest.raises(ValidationFailed, match="at most"):
        check_reason("长" * (MAX_REASON + 1))


def test_admins_and_reviewers_over_the_case_hold_it_and_nobody_else() -> None:
    assert can_hold(staff(StaffRole.admin, OTHER), SCOPE)
    assert can_hold(staff(StaffRole.reviewer, DISTRICT), SCOPE), "the district reviews its towns"
    assert can_hold(staff(StaffRole.reviewer, TOWN), SCOPE)
    assert not can_hold(staff(StaffRole.reviewer, OTHER), SCOPE)
    assert not can_hold(staff(StaffRole.mediator, TOWN, "m1"), SCOPE), "the mediator whose work it is"
    assert not can_hold(staff(StaffRole.expert, TOWN), SCOPE)
    party = Principal(PrincipalKind.invitation, "李秀英", invitation_id="i1", case_id="c1")
    assert not can_hold(party, SCOPE)


def test_who_may_not_hold_is_told_so_or_not_shown_the_case() -> None:
    with pytest.raises(Forbidden):
        ensure_hold(staff(StaffRole.mediator, TOWN, "m1"), SCOPE)  # sees the case
    with pytest.raises(NotFound):
        ensure_hold(staff(StaffRole.reviewer, OTHER), SCOPE)  # does not
    ensure_hold(staff(StaffRole.reviewer, DISTRICT), SCOPE)


def test_only_admins_set_an_orgs_period() -> None:
    ensure_set_retention(staff(StaffRole.admin, DISTRICT))
    for role in (StaffRole.reviewer, StaffRole.mediator, StaffRole.expert):
        with pytest.raises(Forbidden):
            ensure_set_retention(staff(role, DISTRICT))
