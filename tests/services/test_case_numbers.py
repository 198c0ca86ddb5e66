"""Case numbers: unique per org and year, restarting each year, safe under concurrent creation."""

from __future__ import annotations

import asyncio
from datetime import UTC

import pytest
from sqlalchemy import select

from server.domain.accounts import StaffRole
from server.domain.clock import FrozenClock
from server.domain.orgs import OrgLevel
from server.services.core import Core
from server.storage.models import Case, CaseNumberCounter

from .builders import make_case, make_org, make_staff, use_quick_hashing


@pytest.fixture(autouse=True)
def quick(core: Core) -> None:
    use_quick_hashing(core)


async def test_cases_of_one_org_are_numbered_in_sequence(core: Core) -> None:
    org = await make_org(core, "QS", level=OrgLevel.town)
    mediator = await make_staff(core, "qs-mediator", StaffRole.mediator, org)
    made = [await make_case(core, mediator) for _ in range(3)]
    assert [c.number for c in made] == ["QS-2026-0001", "QS-2026-0002", "QS-2026-0003"]
    assert [(c.year, c.seq) for c in made] == [(2026, 1), (2026, 2), (2026, 3)]


async def test_each_org_has_its_own_sequence(core: Core) -> None:
    qs = await make_org(core, "QS", level=OrgLevel.town)
    th = await make_org(core, "QS-TH", level=OrgLevel.village, parent=qs)
    admin = await make_staff(core, "admin", StaffRole.admin, qs)
    numbers = [(await make_case(core, admin, org=org)).number for org in (qs, th, qs, th, th)]
    assert numbers == ["QS-2026-0001", "QS-TH-2026-0001", "QS-2026-0002", "QS-TH-2026-0002", "QS-TH-2026-0003"]


async def test_the_sequence_restarts_in_a_new_year(core: Core, clock: FrozenClock) -> None:
    org = await make_org(core, "QS", level=OrgLevel.town)
    mediator = await make_staff(core, "qs-mediator", StaffRole.mediator, org)
    first = [(await make_case(core, mediator)).number for _ in range(2)]
    clock.advance(days=40)  # 2026-11-29 → 2027-01-08
    assert clock.now().year == 2027
    second = [(await make_case(core, mediator)).number for _ in range(2)]
    assert first == ["QS-2026-0001", "QS-2026-0002"]
    assert second == ["QS-2027-0001", "QS-2027-0002"]
    async with core.db.read() as s:
        counters = {(c.year, c.last_seq) for c in (await s.execute(select(CaseNumberCounter))).scalars()}
    assert counters == {(2026, 2), (2027, 2)}


async def test_twenty_concurrent_creations_get_twenty_consecutive_numbers(core: Core) -> None:
    org = await make_org(core, "QS", level=OrgLevel.town)
    other = await make_org(core, "QX", level=OrgLevel.town)
    mediator = await make_staff(core, "qs-mediator", StaffRole.mediator, org)
    admin = await make_staff(core, "admin", StaffRole.admin, other)
    made = await asyncio.gather(
        *(make_case(core, mediator, title=f"案件{i}") for i in range(20)),
        *(make_case(core, admin, org=other, title=f"另一案件{i}") for i in range(5)),
    )
    ours = sorted(c.number for c in made if c.org_id == org.id)
    assert ours == [f"QS-2026-{n:04d}" for n in range(1, 21)]
    assert sorted(c.number for c in made if c.org_id == other.id) == [f"QX-2026-{n:04d}" for n in range(1, 6)]
    async with core.db.read() as s:
        stored = (await s.execute(select(Case.number, Case.seq).where(Case.org_id == org.id))).all()
    assert sorted(seq for _, seq in stored) == list(range(1, 21))


async def test_the_case_number_year_follows_beijing_time_not_utc(core, clock):
    """At 00:30 on 1 January in Beijing it is still 31 December in UTC: the number says the new year."""
    from datetime import datetime

    from server.domain.cases import CaseSource, DisputeType, PartyInput, PartySide
    from server.services import cases
    from server.services.demo import create_demo
    from tests.conftest import principal_for

    await create_demo(core)
    clock.set(datetime(2026, 12, 31, 16, 30, tzinfo=UTC))  # 2027-01-01 00:30 in Beijing
    p = await principal_for(core, "demo-mediator")
    case = await cases.create_case(
        core,
        p,
        title="元旦纠纷",
        dispute_type=DisputeType.other,
        source=CaseSource.on_site,
        parties=[PartyInput(side=PartySide.applicant, name="甲"), PartyInput(side=PartySide.respondent, name="乙")],
    )
    assert case.year == 2027
    assert case.number == "DEMO-QS-2027-0001"
