"""`heshi demo`: a small, realistic demo — an org tree, staff, a case, a session, invitations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from server.auth.passwords import generate_password
from server.domain.access import Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.actors import SystemReason
from server.domain.cases import CaseSource, CaseStatus, DisputeType, PartyInput, PartySide
from server.domain.grants import SessionRole
from server.domain.orgs import OrgKind, OrgLevel
from server.storage import accounts as stored
from server.storage.accounts import AccountRecord, OrgRecord

from . import accounts, cases, invitations, orgs, sessions
from .core import Core

ORGS = [  # code, name, level, kind, parent code
    ("DEMO", "示范区司法局", OrgLevel.district, OrgKind.justice_bureau, None),
    ("DEMO-QS", "示范区清水镇人民调解委员会", OrgLevel.town, OrgKind.people, "DEMO"),
    ("DEMO-QS-TH", "清水镇桃花村人民调解委员会", OrgLevel.village, OrgKind.people, "DEMO-QS"),
    ("DEMO-YT", "示范区医疗纠纷人民调解委员会", OrgLevel.district, OrgKind.professional, "DEMO"),
]
ACCOUNTS = [  # username, display name, role, org code
    ("demo-admin", "系统管理员", StaffRole.admin, "DEMO"),
    ("demo-mediator", "王建国", StaffRole.mediator, "DEMO-QS"),
    ("demo-expert", "陈敏医生", StaffRole.expert, "DEMO-YT"),
    ("demo-reviewer", "刘芳", StaffRole.reviewer, "DEMO"),
]


@dataclass
class DemoResult:
    case_id: str
    case_number: str
    session_id: str
    links: dict[str, str]
    accounts: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "case_number": self.case_number,
            "session_id": self.session_id,
            "links": self.links,
            "accounts": self.accounts,
        }


async def _ensure_org(
    core: Core, code: str, name: str, level: OrgLevel, kind: OrgKind, parent: OrgRecord | None
) -> OrgRecord:
    async with core.db.read() as tx:
        existing = await stored.org_by_code(tx, code)
    if existing is not None:
        return existing
    return await orgs.create_org(
        core, None, name=name, code=code, kind=kind, level=level, parent_id=parent.id if parent else None
    )


async def _ensure_account(
    core: Core, username: str, name: str, role: StaffRole, org: OrgRecord, password: str
) -> AccountRecord:
    """Create the account, or give an existing demo account this run's password."""
    async with core.db.read() as tx:
        existing = await stored.account_by_username(tx, username)
    if existing is None:
        return await accounts.create_account(
            core, None, username=username, display_name=name, role=role, org_id=org.id, password=password
        )
    password_hash = await core.passwords.hash(password)
    async with core.db.write() as tx:
        await stored.set_password(tx, existing.id, password_hash)
        return await stored.set_active(tx, existing.id, True)


async def create_demo(core: Core) -> DemoResult:
    by_code: dict[str, OrgRecord] = {}
    for code, name, level, kind, parent in ORGS:
        by_code[code] = await _ensure_org(core, code, name, level, kind, by_code.get(parent) if parent else None)
    made: dict[StaffRole, AccountRecord] = {}
    account_rows = []
    for username, name, role, org_code in ACCOUNTS:
        password = generate_password()
        made[role] = await _ensure_account(core, username, name, role, by_code[org_code], password)
        account_rows.append(
            {
                "username": username,
                "password": password,
                "role": role.value,
                "display_name": name,
                "org": by_code[org_code].name,
            }
        )
    mediator = made[StaffRole.mediator]
    acting = Principal(
        kind=PrincipalKind.staff,
        display_name=mediator.display_name,
        account_id=mediator.id,
        staff_role=StaffRole.mediator,
        org_id=mediator.org_id,
        org_path=by_code["DEMO-QS"].path,
        system_reason=SystemReason.cli.value,
    )  # only `heshi demo` makes the demo
    case = await cases.create_case(
        core,
        acting,
        title="李秀英与清水镇卫生院医疗纠纷",
        dispute_type=DisputeType.medical,
        source=CaseSource.self_applied,
        summary="申请人之母于2026年10月在被申请人处住院期间摔伤，申请人认为护理存在过错，要求赔偿医疗费及护理费。"
        "被申请人认为已尽到护理义务。双方同意通过视频调解，并请医疗纠纷调委会专家提供意见。",
        parties=[
            PartyInput(side=PartySide.applicant, name="李秀英", phone="13800138000", id_number="50010119900101123X"),
            PartyInput(side=PartySide.respondent, name="清水镇卫生院", phone="023-65550000", agent_name="赵院长"),
        ],
    )
    await cases.transition(core, acting, case.id, CaseStatus.accepted, "双方同意调解")
    session = await sessions.schedule_session(
        core, acting, case.id, scheduled_at=core.clock.now() + timedelta(hours=1), title="第一次视频调解"
    )
    applicant = next(p for p in case.parties if p.side == PartySide.applicant.value)
    respondent = next(p for p in case.parties if p.side == PartySide.respondent.value)
    invites = {
        "mediator": await invitations.issue(
            core, acting, session.id, role=SessionRole.mediator, account_id=mediator.id
        ),
        "applicant": await invitations.issue(
            core, acting, session.id, role=SessionRole.applicant, party_id=applicant.id
        ),
        "respondent": await invitations.issue(
            core, acting, session.id, role=SessionRole.respondent, party_id=respondent.id
        ),
        "expert": await invitations.issue(
            core, acting, session.id, role=SessionRole.expert, account_id=made[StaffRole.expert].id, direct_entry=True
        ),
    }
    return DemoResult(
        case_id=case.id,
        case_number=case.number,
        session_id=session.id,
        links={role: invitations.link_for(core, inv) for role, inv in invites.items()},
        accounts=account_rows,
    )
