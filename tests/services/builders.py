"""Small builders for service tests: orgs, staff, cases, sessions, through the real services."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from argon2 import PasswordHasher

from server.auth.passwords import Passwords
from server.domain.access import Principal
from server.domain.accounts import StaffRole
from server.domain.cases import CaseSource, DisputeType, PartyInput, PartySide
from server.domain.orgs import OrgKind, OrgLevel
from server.services import accounts, cases, orgs, sessions
from server.services.core import Core
from server.services.signin import staff_principal
from server.storage.models import Case, MediationSession, Org

PASSWORD = "correct-horse-battery"


class SlowVerify(Passwords):
    """Argon2id at its lowest cost, but every check takes 50 ms, so that concurrent sign-ins overlap."""

    def __init__(self) -> None:
        super().__init__(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        await asyncio.sleep(0.05)
        return await super().verify(stored_hash, password)


def use_quick_hashing(core: Core) -> None:
    """Real Argon2id at its cheapest cost, for tests that create many accounts or fail many logins."""
    core.passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


async def make_org(
    core: Core, code: str, *, kind: OrgKind = OrgKind.people, level: OrgLevel | None = None, parent: Org | None = None
) -> Org:
    return await orgs.create_org(
        core, None, name=f"{code} 调委会", code=code, kind=kind, level=level, parent_id=parent.id if parent else None
    )


async def make_staff(core: Core, username: str, role: StaffRole, org: Org) -> Principal:
    account = await accounts.create_account(
        core, None, username=username, display_name=username, role=role, org_id=org.id, password=PASSWORD
    )
    return staff_principal(account)


def two_parties() -> list[PartyInput]:
    return [
        PartyInput(side=PartySide.applicant, name="张三", phone="13800138000"),
        PartyInput(side=PartySide.respondent, name="李四"),
    ]


async def make_case(
    core: Core, p: Principal, *, title: str = "邻里漏水纠纷", org: Org | None = None, mediator_id: str | None = None
) -> Case:
    return await cases.create_case(
        core,
        p,
        title=title,
        dispute_type=DisputeType.neighbour,
        source=CaseSource.self_applied,
        parties=two_parties(),
        org_id=org.id if org else None,
        mediator_id=mediator_id,
    )


async def make_session(core: Core, p: Principal, case: Case) -> MediationSession:
    return await sessions.schedule_session(core, p, case.id, scheduled_at=core.clock.now() + timedelta(hours=1))
