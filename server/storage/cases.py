"""Cases with their parties: named queries and writes.

A case comes back as a `CaseRecord` with its org, its mediator and its parties, loaded in the
one statement that reads it. Access is the domain's rule (`server.domain.access`); the
`scope` query gathers what that rule needs, and `visible_to` is its SQL twin for listing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased, contains_eager

from server.domain.access import CaseScope, InvitedAccount, Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.cases import PartyInput

from . import accounts
from .base import Tx, found, load
from .models import Account, Case, CaseNumberCounter, Invitation, Org, Party


@dataclass(frozen=True, slots=True)
class CaseOrg:
    id: str
    name: str
    code: str
    path: str


@dataclass(frozen=True, slots=True)
class CaseMediator:
    id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class PartyRecord:
    id: str
    case_id: str
    position: int
    side: str
    name: str
    phone: str | None
    id_number: str | None
    agent_name: str | None
    agent_phone: str | None

    @classmethod
    def of(cls, p: Party) -> PartyRecord:
        return cls(p.id, p.case_id, p.position, p.side, p.name, p.phone, p.id_number, p.agent_name, p.agent_phone)


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: str
    number: str
    org_id: str
    year: int
    seq: int
    title: str
    summary: str
    dispute_type: str
    source: str
    status: str
    mediator_id: str | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    org: CaseOrg
    mediator: CaseMediator | None
    parties: tuple[PartyRecord, ...]

    @classmethod
    def of(cls, c: Case, parties: Sequence[Party] | None = None) -> CaseRecord:
        m = c.mediator
        return cls(
            c.id,
            c.number,
            c.org_id,
            c.year,
            c.seq,
            c.title,
            c.summary,
            c.dispute_type,
            c.source,
            c.status,
            c.mediator_id,
            c.created_by,
            c.created_at,
            c.updated_at,
            CaseOrg(c.org.id, c.org.name, c.org.code, c.org.path),
            CaseMediator(m.id, m.display_name) if m is not None else None,
            tuple(PartyRecord.of(p) for p in (c.parties if parties is None else parties)),
        )


def _with_everything() -> Select[Case]:
    """A case with its org, mediator and parties in one statement (parties by position)."""
    mediator = aliased(Account)
    return (
        select(Case)
        .join(Case.org)
        .outerjoin(mediator, Case.mediator_id == mediator.id)
        .outerjoin(Case.parties)
        .options(
            contains_eager(Case.org),
            contains_eager(Case.mediator.of_type(mediator)),
            contains_eager(Case.parties),
        )
        .order_by(Party.position)
    )


async def load_case(tx: Tx, case_id: str, *, for_update: bool = False) -> CaseRecord:
    """The case, or NotFound("case not found"). `for_update` locks its row for a transition."""
    if for_update:
        await load(tx, Case, case_id, "case", for_update=True)
    row = (await tx.execute(_with_everything().where(Case.id == case_id))).unique().scalar_one_or_none()
    return CaseRecord.of(found(row, "case"))


def valid_invitations(now: datetime) -> ColumnElement[bool]:
    """Invitations that still give access: neither revoked nor expired."""
    return and_(Invitation.revoked_at.is_(None), Invitation.expires_at > now)


async def scope(tx: Tx, case: CaseRecord, now: datetime) -> CaseScope:
    """What the domain's access rules need to know of a case: its org, its mediator, and the
    accounts holding a valid invitation to one of its sessions."""
    rows = await tx.execute(
        select(Invitation.account_id, Invitation.session_id, Invitation.id).where(
            Invitation.case_id == case.id, Invitation.account_id.is_not(None), valid_invitations(now)
        )
    )
    return scope_from(case, ((a, sid, iid) for a, sid, iid in rows if a is not None))


def scope_from(case: CaseRecord, invited: Any) -> CaseScope:
    """The scope from (account_id, session_id, invitation_id) of valid invitations already read."""
    return CaseScope(
        case_id=case.id,
        org_path=case.org.path,
        mediator_id=case.mediator_id,
        invitations=tuple(InvitedAccount(a, sid, iid) for a, sid, iid in invited),
    )


def visible_to(p: Principal, now: datetime) -> ColumnElement[bool]:
    """The SQL twin of domain.access.can_view_case, for listing. Tests keep the two in step."""
    if p.kind is not PrincipalKind.staff:
        return false()
    if p.staff_role is StaffRole.admin:
        return true()
    invited = select(Invitation.case_id).where(Invitation.account_id == p.account_id, valid_invitations(now))
    if p.staff_role is StaffRole.reviewer:
        return Org.path.startswith(p.org_path or "\x00", autoescape=True)
    if p.staff_role is StaffRole.mediator:
        return or_(Org.path == p.org_path, Case.mediator_id == p.account_id, Case.id.in_(invited))
    if p.staff_role is StaffRole.expert:
        return Case.id.in_(invited)
    return false()


@dataclass(frozen=True)
class CaseQuery:
    """What a case list is filtered by (values as stored)."""

    status: str | None = None
    dispute_type: str | None = None
    source: str | None = None
    org_id: str | None = None
    mediator_id: str | None = None
    year: int | None = None
    text: str | None = None
    limit: int = 50
    offset: int = 0


async def list_cases(tx: Tx, visible: ColumnElement[bool], q: CaseQuery) -> tuple[list[CaseRecord], int]:
    """One page of the cases `visible` admits, newest first, and how many there are in all."""
    conds: list[Any] = [visible]
    for column, value in (
        (Case.status, q.status),
        (Case.dispute_type, q.dispute_type),
        (Case.source, q.source),
        (Case.org_id, q.org_id),
        (Case.mediator_id, q.mediator_id),
        (Case.year, q.year),
    ):
        if value:
            conds.append(column == value)
    if q.text:
        party_match = select(Party.case_id).where(Party.name.contains(q.text, autoescape=True))
        conds.append(
            or_(
                Case.number.contains(q.text, autoescape=True),
                Case.title.contains(q.text, autoescape=True),
                Case.id.in_(party_match),
            )
        )
    base = select(Case.id).join(Org, Case.org_id == Org.id).where(*conds)
    total = (await tx.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    # Case.id last: (created_at, seq) ties across orgs, and paging needs one total order.
    page = base.order_by(Case.created_at.desc(), Case.seq.desc(), Case.id).limit(q.limit).offset(q.offset)
    ids = list((await tx.execute(page)).scalars())
    if not ids:
        return [], total
    rows = (await tx.execute(_with_everything().where(Case.id.in_(ids)))).unique().scalars()
    by_id = {c.id: CaseRecord.of(c) for c in rows}
    return [by_id[i] for i in ids], total


async def next_seq(tx: Tx, org_id: str, year: int) -> int:
    """Atomically take the next case sequence of an org and year (upsert … returning)."""
    dialect = tx.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(CaseNumberCounter).values(org_id=org_id, year=year, last_seq=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["org_id", "year"], set_={"last_seq": CaseNumberCounter.last_seq + 1}
    )
    return (await tx.execute(stmt.returning(CaseNumberCounter.last_seq))).scalar_one()


async def status_of(tx: Tx, case_id: str) -> str | None:
    """A case's status alone (None: no such case), for checks that need nothing else of it."""
    return (await tx.execute(select(Case.status).where(Case.id == case_id))).scalar_one_or_none()


async def active_mediator(tx: Tx, account_id: str) -> bool:
    m = await accounts.account_or_none(tx, account_id)
    return m is not None and m.role == StaffRole.mediator.value and m.active


async def org_for_new_case(tx: Tx, org_id: str) -> CaseOrg:
    org = await accounts.load_org(tx, org_id, field="org_id")
    return CaseOrg(org.id, org.name, org.code, org.path)


def _party_row(case_id: str, position: int, party: PartyInput) -> Party:
    return Party(
        case_id=case_id,
        position=position,
        side=party.side.value,
        name=party.name,
        phone=party.phone,
        id_number=party.id_number,
        agent_name=party.agent_name,
        agent_phone=party.agent_phone,
    )


async def insert_case(
    tx: Tx,
    *,
    org: CaseOrg,
    number: str,
    year: int,
    seq: int,
    title: str,
    summary: str,
    dispute_type: str,
    source: str,
    status: str,
    mediator_id: str | None,
    created_by: str | None,
    now: datetime,
    parties: Sequence[PartyInput],
) -> CaseRecord:
    """Write a new case with its parties; returns it as written."""
    case = Case(
        number=number,
        org_id=org.id,
        year=year,
        seq=seq,
        title=title,
        summary=summary,
        dispute_type=dispute_type,
        source=source,
        status=status,
        mediator_id=mediator_id,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    tx.add(case)
    await tx.flush()
    rows = [_party_row(case.id, i, party) for i, party in enumerate(parties)]
    tx.add_all(rows)
    await tx.flush()
    mediator = await tx.get(Account, mediator_id) if mediator_id else None
    return CaseRecord(
        case.id,
        number,
        org.id,
        year,
        seq,
        title,
        summary,
        dispute_type,
        source,
        status,
        mediator_id,
        created_by,
        now,
        now,
        org,
        CaseMediator(mediator.id, mediator.display_name) if mediator is not None else None,
        tuple(PartyRecord.of(r) for r in rows),
    )


async def set_status(tx: Tx, case: CaseRecord, status: str, now: datetime) -> CaseRecord:
    """Write a case's new status; returns the case as written (no re-read)."""
    row = await load(tx, Case, case.id, "case")
    row.status = status
    row.updated_at = now
    await tx.flush()
    return replace(case, status=status, updated_at=now)


async def add_party(tx: Tx, case: CaseRecord, party: PartyInput) -> PartyRecord:
    row = _party_row(case.id, len(case.parties), party)
    tx.add(row)
    await tx.flush()
    return PartyRecord.of(row)
