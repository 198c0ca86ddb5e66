"""Who can see and change which case, for each staff role and for invitation holders."""

from __future__ import annotations

import pytest

from server.domain.access import (
    CaseScope,
    InvitedAccount,
    Principal,
    PrincipalKind,
    can_manage_case,
    can_see_join_links,
    can_see_org,
    can_view_case,
    can_view_recordings,
    ensure_can_create_case_in,
    ensure_control_recording,
    ensure_manage_case,
    ensure_see_org,
    ensure_staff,
    ensure_staff_role,
    ensure_view_case,
    ensure_view_recordings,
)
from server.domain.accounts import StaffRole
from server.domain.errors import Forbidden, NotFound
from server.domain.grants import SessionRole
from server.domain.orgs import child_path, in_subtree

from .helpers import passes

DISTRICT = child_path(None, "d1")  # /d1/
TOWN = child_path(DISTRICT, "t1")  # /d1/t1/
VILLAGE = child_path(TOWN, "v1")  # /d1/t1/v1/
OTHER_TOWN = child_path(DISTRICT, "t2")  # /d1/t2/
T1_LOOKALIKE = child_path(DISTRICT, "t1x")  # /d1/t1x/: shares a string prefix with /d1/t1
OTHER_DISTRICT = child_path(None, "d2")


def staff(role: StaffRole, org_path: str, account_id: str = "me") -> Principal:
    return Principal(
        kind=PrincipalKind.staff,
        display_name=role.value,
        account_id=account_id,
        staff_role=role,
        org_id=org_path.strip("/").split("/")[-1],
        org_path=org_path,
    )


def holder(
    role: SessionRole = SessionRole.applicant, account_id: str | None = None, staff_role: StaffRole | None = None
) -> Principal:
    return Principal(
        kind=PrincipalKind.invitation,
        display_name="李秀英",
        account_id=account_id,
        staff_role=staff_role,
        invitation_id="inv",
        case_id="c",
        session_id="s",
        session_role=role,
    )


def case(org_path: str, mediator_id: str | None = "someone", invited: frozenset[str] = frozenset()) -> CaseScope:
    return CaseScope(
        case_id="c",
        org_path=org_path,
        mediator_id=mediator_id,
        invitations=tuple(InvitedAccount(a, "s", f"inv-{a}") for a in sorted(invited)),
    )


def test_org_paths_nest_and_a_subtree_includes_its_root() -> None:
    assert (DISTRICT, TOWN, VILLAGE) == ("/d1/", "/d1/t1/", "/d1/t1/v1/")
    assert in_subtree(VILLAGE, DISTRICT) and in_subtree(TOWN, TOWN)
    assert not in_subtree(DISTRICT, TOWN)
    assert not in_subtree(T1_LOOKALIKE, TOWN)


@pytest.mark.parametrize("org_path", [DISTRICT, TOWN, VILLAGE, OTHER_DISTRICT])
def test_an_admin_sees_and_manages_every_case(org_path: str) -> None:
    admin = staff(StaffRole.admin, DISTRICT)
    assert can_view_case(admin, case(org_path))
    assert can_manage_case(admin, case(org_path))


@pytest.mark.parametrize(
    ("case_path", "visible"),
    [
        (TOWN, True),
        (VILLAGE, True),
        (DISTRICT, False),
        (OTHER_TOWN, False),
        (T1_LOOKALIKE, False),
        (OTHER_DISTRICT, False),
    ],
)
def test_a_reviewer_sees_the_cases_of_their_org_subtree_only(case_path: str, visible: bool) -> None:
    reviewer = staff(StaffRole.reviewer, TOWN)
    assert can_view_case(reviewer, case(case_path)) is visible


def test_a_reviewer_never_manages_a_case() -> None:
    reviewer = staff(StaffRole.reviewer, DISTRICT)
    assert can_view_case(reviewer, case(VILLAGE, mediator_id="me", invited=frozenset({"me"})))
    assert not can_manage_case(reviewer, case(VILLAGE, mediator_id="me", invited=frozenset({"me"})))


def test_a_reviewer_without_an_org_sees_nothing() -> None:
    reviewer = Principal(
        kind=PrincipalKind.staff, display_name="r", account_id="me", staff_role=StaffRole.reviewer, org_path=None
    )
    assert not can_view_case(reviewer, case(DISTRICT))


def test_a_mediator_sees_and_manages_the_cases_of_their_own_org() -> None:
    mediator = staff(StaffRole.mediator, TOWN)
    assert can_view_case(mediator, case(TOWN))
    assert can_manage_case(mediator, case(TOWN))


@pytest.mark.parametrize("case_path", [VILLAGE, DISTRICT, OTHER_TOWN, OTHER_DISTRICT])
def test_a_mediator_does_not_see_other_orgs_cases_even_below_their_own(case_path: str) -> None:
    mediator = staff(StaffRole.mediator, TOWN)
    assert not can_view_case(mediator, case(case_path))
    assert not can_manage_case(mediator, case(case_path))


def test_a_mediator_assigned_to_a_case_elsewhere_sees_and_manages_it() -> None:
    mediator = staff(StaffRole.mediator, TOWN)
    assert can_view_case(mediator, case(OTHER_DISTRICT, mediator_id="me"))
    assert can_manage_case(mediator, case(OTHER_DISTRICT, mediator_id="me"))


def test_a_mediator_invited_to_a_case_elsewhere_may_read_it_but_not_change_it() -> None:
    mediator = staff(StaffRole.mediator, TOWN)
    scope = case(OTHER_DISTRICT, invited=frozenset({"me"}))
    assert can_view_case(mediator, scope)
    assert not can_manage_case(mediator, scope)


def test_an_expert_sees_only_the_cases_they_are_invited_to_and_manages_none() -> None:
    expert = staff(StaffRole.expert, TOWN)
    assert not can_view_case(expert, case(TOWN))
    assert not can_view_case(expert, case(TOWN, mediator_id="me"))
    assert can_view_case(expert, case(OTHER_DISTRICT, invited=frozenset({"me", "another"})))
    assert not can_manage_case(expert, case(OTHER_DISTRICT, invited=frozenset({"me"})))


def test_an_invitation_for_another_account_does_not_open_the_case() -> None:
    expert = staff(StaffRole.expert, TOWN)
    assert not can_view_case(expert, case(TOWN, invited=frozenset({"another"})))


@pytest.mark.parametrize("role", list(SessionRole))
def test_invitation_holders_reach_their_session_never_the_case_file(role: SessionRole) -> None:
    p = holder(role, account_id="me")
    scope = case(TOWN, mediator_id="me", invited=frozenset({"me"}))
    assert not can_view_case(p, scope)
    assert not can_manage_case(p, scope)


def test_a_role_field_on_an_invitation_principal_grants_nothing() -> None:
    p = holder(SessionRole.mediator, account_id="me", staff_role=StaffRole.admin)
    assert not can_view_case(p, case(TOWN))
    assert not can_manage_case(p, case(TOWN))


def test_a_case_outside_the_callers_scope_is_not_found_rather_than_forbidden() -> None:
    with pytest.raises(NotFound) as err:
        ensure_view_case(staff(StaffRole.mediator, TOWN), case(OTHER_DISTRICT))
    assert err.value.message == "case not found"
    with pytest.raises(NotFound):
        ensure_manage_case(staff(StaffRole.mediator, TOWN), case(OTHER_DISTRICT))


def test_a_caller_who_may_read_but_not_change_a_case_is_forbidden_to_change_it() -> None:
    with pytest.raises(Forbidden) as err:
        ensure_manage_case(staff(StaffRole.reviewer, DISTRICT), case(TOWN))
    assert err.value.message == "your role may read this case but not change it"


def test_the_ensure_functions_let_an_allowed_caller_through() -> None:
    assert passes(ensure_view_case, staff(StaffRole.reviewer, DISTRICT), case(TOWN))
    assert passes(ensure_manage_case, staff(StaffRole.mediator, TOWN), case(TOWN))


def test_invitation_holders_are_refused_staff_operations() -> None:
    with pytest.raises(Forbidden) as err:
        ensure_staff(holder())
    assert err.value.message == "an invitation link gives access to its session only"
    with pytest.raises(Forbidden):
        ensure_staff_role(holder(), StaffRole.admin)


def test_a_staff_role_check_names_the_roles_that_may() -> None:
    with pytest.raises(Forbidden) as err:
        ensure_staff_role(staff(StaffRole.reviewer, TOWN), StaffRole.admin, StaffRole.mediator)
    assert err.value.message == "only admin, mediator accounts may do this"
    assert passes(ensure_staff_role, staff(StaffRole.mediator, TOWN), StaffRole.admin, StaffRole.mediator)


def test_a_mediator_creates_cases_in_their_own_org_only() -> None:
    mediator = staff(StaffRole.mediator, TOWN)
    assert passes(ensure_can_create_case_in, mediator, TOWN)
    with pytest.raises(Forbidden) as err:
        ensure_can_create_case_in(mediator, VILLAGE)
    assert err.value.message == "a mediator creates cases in their own org only"


def test_an_admin_creates_cases_anywhere_and_other_roles_nowhere() -> None:
    assert passes(ensure_can_create_case_in, staff(StaffRole.admin, DISTRICT), OTHER_DISTRICT)
    for role in (StaffRole.reviewer, StaffRole.expert):
        with pytest.raises(Forbidden):
            ensure_can_create_case_in(staff(role, TOWN), TOWN)
    with pytest.raises(Forbidden):
        ensure_can_create_case_in(holder(), TOWN)


# ---- recordings, join links and orgs: one guard each (issue 9, item 5) ---------------------


def test_recordings_are_for_the_cases_mediators_its_reviewers_and_admins_never_invited_experts() -> None:
    scope = case(TOWN, mediator_id="med", invited=frozenset({"exp"}))
    readers = {
        "admin": staff(StaffRole.admin, OTHER_DISTRICT),
        "mediator of the org": staff(StaffRole.mediator, TOWN),
        "assigned mediator": staff(StaffRole.mediator, OTHER_TOWN, "med"),
        "reviewer above": staff(StaffRole.reviewer, DISTRICT),
    }
    others = {
        "invited expert": staff(StaffRole.expert, OTHER_DISTRICT, "exp"),
        "reviewer elsewhere": staff(StaffRole.reviewer, OTHER_DISTRICT),
        "reviewer of a look-alike path": staff(StaffRole.reviewer, T1_LOOKALIKE),
        "mediator next door": staff(StaffRole.mediator, OTHER_TOWN),
        "party": holder(),
    }
    for name, p in readers.items():
        assert can_view_recordings(p, scope), name
        assert passes(ensure_view_recordings, p, scope), name
    for name, p in others.items():
        assert not can_view_recordings(p, scope), name
    with pytest.raises(Forbidden):  # reads the case, so it learns the recordings exist but may not see them
        ensure_view_recordings(others["invited expert"], scope)
    with pytest.raises(NotFound):  # cannot see the case at all
        ensure_view_recordings(others["reviewer elsewhere"], scope)


def test_only_who_manages_the_case_controls_its_recording_or_sees_its_join_links() -> None:
    scope = case(TOWN, mediator_id="med", invited=frozenset({"exp"}))
    for p in (
        staff(StaffRole.admin, OTHER_DISTRICT),
        staff(StaffRole.mediator, TOWN),
        staff(StaffRole.mediator, OTHER_TOWN, "med"),
    ):
        assert can_see_join_links(p, scope)
        assert passes(ensure_control_recording, p, scope)
    for p in (staff(StaffRole.reviewer, DISTRICT), staff(StaffRole.expert, OTHER_DISTRICT, "exp")):
        assert not can_see_join_links(p, scope)
        with pytest.raises(Forbidden):
            ensure_control_recording(p, scope)
    with pytest.raises(NotFound):
        ensure_control_recording(staff(StaffRole.mediator, OTHER_TOWN), scope)
    assert not can_see_join_links(holder(SessionRole.mediator), scope)


def test_orgs_are_seen_like_cases_own_subtree_and_everything_for_admins() -> None:
    assert can_see_org(staff(StaffRole.admin, OTHER_DISTRICT), VILLAGE)
    reviewer = staff(StaffRole.reviewer, DISTRICT)
    assert can_see_org(reviewer, DISTRICT) and can_see_org(reviewer, VILLAGE) and can_see_org(reviewer, OTHER_TOWN)
    assert not can_see_org(reviewer, OTHER_DISTRICT)
    mediator = staff(StaffRole.mediator, TOWN)
    assert can_see_org(mediator, TOWN) and can_see_org(mediator, VILLAGE)
    assert not can_see_org(mediator, DISTRICT) and not can_see_org(mediator, T1_LOOKALIKE)
    assert not can_see_org(holder(), TOWN)
    with pytest.raises(NotFound):
        ensure_see_org(mediator, OTHER_TOWN)
    assert passes(ensure_see_org, mediator, VILLAGE)
