"""The SQL scope of list_cases agrees with domain.access.can_view_case, principal by case.

The world: a district with a town, a village below the town, a sibling town and a medical
committee; a second district with its own town; staff of every role at several levels; one
case per org plus cross-org assignments; expert and observer invitations, some revoked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from server.domain.access import Principal, can_view_case
from server.domain.accounts import StaffRole
from server.domain.errors import Forbidden, NotFound
from server.domain.grants import SessionRole
from server.domain.orgs import OrgKind, OrgLevel
from server.services import cases, invitations
from server.services.cases import CaseFilters
from server.services.core import Core
from server.services.signin import invitation_principal
from server.storage import cases as stored_cases
from server.storage.models import Case

from .builders import make_case, make_org, make_session, make_staff, use_quick_hashing

R = StaffRole


@dataclass
class ScopeWorld:
    staff: dict[str, Principal]
    holders: dict[str, Principal]
    cases: dict[str, Case]


@pytest.fixture
async def scope_world(core: Core) -> ScopeWorld:
    use_quick_hashing(core)
    d1 = await make_org(core, "D1", kind=OrgKind.justice_bureau, level=OrgLevel.district)
    t1 = await make_org(core, "D1-T1", level=OrgLevel.town, parent=d1)
    v1 = await make_org(core, "D1-T1-V1", level=OrgLevel.village, parent=t1)
    t2 = await make_org(core, "D1-T2", level=OrgLevel.town, parent=d1)
    p1 = await make_org(core, "D1-MED", kind=OrgKind.professional, level=OrgLevel.district, parent=d1)
    d2 = await make_org(core, "D2", kind=OrgKind.justice_bureau, level=OrgLevel.district)
    t3 = await make_org(core, "D2-T3", level=OrgLevel.town, parent=d2)
    staff = {}
    for username, role, org in [
        ("admin", R.admin, d1),
        ("rev-d1", R.reviewer, d1),
        ("rev-t1", R.reviewer, t1),
        ("rev-v1", R.reviewer, v1),
        ("rev-med", R.reviewer, p1),
        ("rev-d2", R.reviewer, d2),
        ("med-t1", R.mediator, t1),
        ("med-t1b", R.mediator, t1),
        ("med-v1", R.mediator, v1),
        ("med-t2", R.mediator, t2),
        ("med-med", R.mediator, p1),
        ("med-t3", R.mediator, t3),
        ("med-d1", R.mediator, d1),
        ("exp-med", R.expert, p1),
        ("exp-med-idle", R.expert, p1),
        ("exp-d2", R.expert, d2),
        ("exp-expired", R.expert, p1),
        ("med-expired", R.mediator, t3),
    ]:
        staff[username] = await make_staff(core, username, role, org)
    admin = staff["admin"]
    cs = {
        "d1": await make_case(core, admin, org=d1),  # no mediator assigned
        "t1": await make_case(core, staff["med-t1"]),
        "t1-b": await make_case(core, admin, org=t1, mediator_id=staff["med-t1b"].account_id),
        "v1": await make_case(core, staff["med-v1"]),
        "t2": await make_case(core, staff["med-t2"]),
        "med": await make_case(core, staff["med-med"]),
        "t3": await make_case(core, staff["med-t3"]),
        # A town mediator assigned to a case of the other district.
        "d2-assigned": await make_case(core, admin, org=d2, mediator_id=staff["med-t1"].account_id),
    }
    sess = {name: await make_session(core, admin, c) for name, c in cs.items()}
    holders: dict[str, Principal] = {}

    async def invite(
        name: str,
        case: str,
        role: SessionRole,
        account: str | None = None,
        display_name: str | None = None,
        revoke: bool = False,
        ttl: timedelta | None = None,
    ) -> None:
        inv = await invitations.issue(
            core,
            admin,
            sess[case].id,
            role=role,
            account_id=staff[account].account_id if account else None,
            display_name=display_name,
            ttl=ttl,
        )
        if revoke:
            inv = await invitations.revoke(core, admin, inv.id, "换了专家")
        holders[name] = invitation_principal(inv)

    await invite("exp-med@t1", "t1", SessionRole.expert, "exp-med")
    await invite("exp-med@t3", "t3", SessionRole.expert, "exp-med")
    await invite("exp-d2@med (revoked)", "med", SessionRole.expert, "exp-d2", revoke=True)
    await invite("med-t2@v1 observer", "v1", SessionRole.observer, "med-t2")
    await invite("med-v1@t3 mediator", "t3", SessionRole.mediator, "med-v1")
    await invite("med-t3@t2 (revoked)", "t2", SessionRole.observer, "med-t3", revoke=True)
    await invite("rev-d2@t1 observer", "t1", SessionRole.observer, "rev-d2")
    await invite("external expert by name", "d1", SessionRole.expert, display_name="外聘专家")
    # Expiry ends access as revocation does: these two lapse when the clock moves on below.
    await invite("exp-expired@med (expired)", "med", SessionRole.expert, "exp-expired", ttl=timedelta(hours=1))
    await invite("med-expired@t1 (expired)", "t1", SessionRole.observer, "med-expired", ttl=timedelta(hours=1))
    parties = cs["t1"].parties
    inv = await invitations.issue(core, admin, sess["t1"].id, role=SessionRole.applicant, party_id=parties[0].id)
    holders["applicant@t1"] = invitation_principal(inv)
    core.clock.advance(hours=2)  # type: ignore[attr-defined]
    del holders["exp-expired@med (expired)"], holders["med-expired@t1 (expired)"]
    return ScopeWorld(staff, holders, cs)


async def visible_ids(core: Core, p: Principal) -> set[str]:
    rows, total = await cases.list_cases(core, p, CaseFilters(limit=200))
    assert total == len(rows)
    return {c.id for c in rows}


async def domain_says(core: Core, p: Principal, case: Case) -> bool:
    """The domain's rule (can_view_case) on the scope that storage reads, beside the SQL twin."""
    async with core.db.read() as tx:
        record = await stored_cases.load_case(tx, case.id)
        return can_view_case(p, await stored_cases.scope(tx, record, core.clock.now()))


# Independent of both implementations: what the world above should show each principal.
EXPECTED = {
    "admin": {"d1", "t1", "t1-b", "v1", "t2", "med", "t3", "d2-assigned"},
    "rev-d1": {"d1", "t1", "t1-b", "v1", "t2", "med"},
    "rev-t1": {"t1", "t1-b", "v1"},
    "rev-v1": {"v1"},
    "rev-med": {"med"},
    "rev-d2": {"t3", "d2-assigned"},  # an observer invitation does not widen a reviewer's scope
    "med-t1": {"t1", "t1-b", "d2-assigned"},
    "med-t1b": {"t1", "t1-b"},
    "med-v1": {"v1", "t3"},
    "med-t2": {"t2", "v1"},
    "med-med": {"med"},
    "med-t3": {"t3"},  # the revoked observer invitation to t2 no longer counts
    "med-d1": {"d1"},
    "exp-med": {"t1", "t3"},
    "exp-med-idle": set(),
    "exp-d2": set(),  # revoked
    "exp-expired": set(),  # expired
    "med-expired": {"t3"},  # their own org's case only: the expired observer invitation to t1 no longer counts
}


async def test_list_cases_returns_exactly_the_cases_can_view_case_allows(core: Core, scope_world: ScopeWorld) -> None:
    labels = {case.id: label for label, case in scope_world.cases.items()}
    disagreements, seen = [], {}
    for name, p in scope_world.staff.items():
        listed = await visible_ids(core, p)
        seen[name] = {labels[i] for i in listed}
        for label, case in scope_world.cases.items():
            if (case.id in listed) != await domain_says(core, p, case):
                disagreements.append(f"{name} / {label}: SQL {case.id in listed}")
    assert disagreements == []
    # Both could be wrong the same way: check them against the rules as written, too.
    assert seen == EXPECTED


async def test_get_case_agrees_with_can_view_case_and_invitation_holders_see_no_case_file(
    core: Core, scope_world: ScopeWorld
) -> None:
    for name, p in scope_world.staff.items():
        for label, case in scope_world.cases.items():
            try:
                await cases.get_case(core, p, case.id)
                found = True
            except NotFound:
                found = False
            assert found == await domain_says(core, p, case), f"{name} / {label}"
    for name, p in scope_world.holders.items():
        with pytest.raises(Forbidden):
            await cases.list_cases(core, p, CaseFilters())
        for label, case in scope_world.cases.items():
            assert not await domain_says(core, p, case), f"{name} / {label}"
            with pytest.raises(NotFound):
                await cases.get_case(core, p, case.id)
