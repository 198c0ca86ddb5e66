"""Cases: create, read, list with filters, transition, parties."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.access import (
    CaseScope,
    InvitedAccount,
    Principal,
    PrincipalKind,
    can_manage_case,
    can_see_join_links,
    can_view_recordings,
    ensure_can_create_case_in,
    ensure_manage_case,
    ensure_staff,
    ensure_view_case,
)
from server.domain.accounts import StaffRole
from server.domain.actors import Actor
from server.domain.caselog import reader_for
from server.domain.cases import (
    CaseSource,
    CaseStatus,
    DisputeType,
    PartyInput,
    PartySide,
    check_case_transition,
    format_case_number,
)
from server.domain.clock import LOCAL_TZ
from server.domain.errors import Forbidden, NotFound, ValidationFailed
from server.storage.models import Account, Case, CaseEvent, CaseNumberCounter, Invitation, Org, Party

from . import eventlog
from .core import Core

MAX_TITLE = 200
MAX_SUMMARY = 10_000


async def _next_seq(s: AsyncSession, org_id: str, year: int) -> int:
    """Atomically take the next case sequence of an org and year (upsert … returning)."""
    dialect = s.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(CaseNumberCounter).values(org_id=org_id, year=year, last_seq=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["org_id", "year"], set_={"last_seq": CaseNumberCounter.last_seq + 1}
    )
    return (await s.execute(stmt.returning(CaseNumberCounter.last_seq))).scalar_one()


def _valid_invitations(now: datetime) -> ColumnElement[bool]:
    """Invitations that still give access: neither revoked nor expired."""
    return and_(Invitation.revoked_at.is_(None), Invitation.expires_at > now)


async def scope_of(s: AsyncSession, case: Case, now: datetime) -> CaseScope:
    rows = await s.execute(
        select(Invitation.account_id, Invitation.session_id, Invitation.id).where(
            Invitation.case_id == case.id, Invitation.account_id.is_not(None), _valid_invitations(now)
        )
    )
    return CaseScope(
        case_id=case.id,
        org_path=case.org.path,
        mediator_id=case.mediator_id,
        invitations=tuple(InvitedAccount(a, sid, iid) for a, sid, iid in rows if a is not None),
    )


def scope_clause(p: Principal, now: datetime) -> ColumnElement[bool]:
    """The SQL twin of domain.access.can_view_case, for listing. Tests keep the two in step."""
    if p.kind is not PrincipalKind.staff:
        return false()
    if p.staff_role is StaffRole.admin:
        return true()
    invited = select(Invitation.case_id).where(Invitation.account_id == p.account_id, _valid_invitations(now))
    if p.staff_role is StaffRole.reviewer:
        return Org.path.startswith(p.org_path or "\x00", autoescape=True)
    if p.staff_role is StaffRole.mediator:
        return or_(Org.path == p.org_path, Case.mediator_id == p.account_id, Case.id.in_(invited))
    if p.staff_role is StaffRole.expert:
        return Case.id.in_(invited)
    return false()


async def _check_mediator(s: AsyncSession, mediator_id: str | None) -> None:
    if mediator_id is None:
        return
    m = await s.get(Account, mediator_id)
    if m is None or m.role != StaffRole.mediator.value or not m.active:
        raise ValidationFailed("mediator_id must name an active mediator account", fields={"mediator_id": "invalid"})


async def create_case(
    core: Core,
    p: Principal,
    *,
    title: str,
    dispute_type: DisputeType,
    source: CaseSource,
    parties: list[PartyInput],
    org_id: str | None = None,
    summary: str = "",
    mediator_id: str | None = None,
) -> Case:
    ensure_staff(p)
    title = title.strip()
    if not title:
        raise ValidationFailed("case title is required", fields={"title": "required"})
    if len(title) > MAX_TITLE:
        raise ValidationFailed(f"case title is at most {MAX_TITLE} characters", fields={"title": "too_long"})
    if len(summary) > MAX_SUMMARY:
        raise ValidationFailed(f"summary is at most {MAX_SUMMARY} characters", fields={"summary": "too_long"})
    sides = {party.side for party in parties}
    if PartySide.applicant not in sides or PartySide.respondent not in sides:
        raise ValidationFailed(
            "a case needs at least one applicant and one respondent", fields={"parties": "incomplete"}
        )
    if len(parties) > 50:
        raise ValidationFailed("a case has at most 50 parties", fields={"parties": "too_many"})
    org_id = org_id or p.org_id
    if p.staff_role is StaffRole.mediator and mediator_id is None:
        mediator_id = p.account_id
    now = core.clock.now()
    async with core.db.write() as s:
        org = await s.get(Org, org_id) if org_id else None
        if org is None:
            raise NotFound("org not found", fields={"org_id": "not_found"})
        ensure_can_create_case_in(p, org.path)
        await _check_mediator(s, mediator_id)
        year = now.astimezone(LOCAL_TZ).year  # 1 January 00:30 in Beijing is still 31 December in UTC
        seq = await _next_seq(s, org.id, year)
        case = Case(
            number=format_case_number(org.code, year, seq),
            org_id=org.id,
            year=year,
            seq=seq,
            title=title,
            summary=summary.strip(),
            dispute_type=dispute_type.value,
            source=source.value,
            status=CaseStatus.registered.value,
            mediator_id=mediator_id,
            created_by=p.account_id,
            created_at=now,
            updated_at=now,
        )
        s.add(case)
        await s.flush()
        for i, party in enumerate(parties):
            s.add(
                Party(
                    case_id=case.id,
                    position=i,
                    side=party.side.value,
                    name=party.name,
                    phone=party.phone,
                    id_number=party.id_number,
                    agent_name=party.agent_name,
                    agent_phone=party.agent_phone,
                )
            )
        await s.flush()
        await eventlog.append(
            s,
            case_id=case.id,
            kind="case.created",
            actor=Actor.of(p),
            at=now,
            data={
                "number": case.number,
                "title": title,
                "dispute_type": dispute_type.value,
                "source": source.value,
                "mediator_id": mediator_id,
                "parties": [{"side": x.side.value, "name": x.name} for x in parties],
            },
        )
        case_id = case.id
    return await load_case(core, case_id)


async def load_case(core: Core, case_id: str) -> Case:
    """Load by id without an access check: callers check the case scope or the invitation binding."""
    async with core.db.read() as s:
        case = await s.get(Case, case_id)
        if case is None:
            raise NotFound("case not found")
        return case


async def get_case(core: Core, p: Principal, case_id: str) -> Case:
    """Load a case the caller may see; a case outside the caller's scope is not found."""
    return (await case_access(core, p, case_id)).case


@dataclass(frozen=True)
class CaseAccess:
    """A case the caller may see, and what the domain's rules let them do with it. Routes and
    pages ask this; they never decide access themselves."""

    case: Case
    scope: CaseScope
    can_manage: bool
    can_view_recordings: bool
    can_see_join_links: bool


async def case_access(core: Core, p: Principal, case_id: str) -> CaseAccess:
    async with core.db.read() as s:
        case = await s.get(Case, case_id)
        if case is None:
            raise NotFound("case not found")
        scope = await scope_of(s, case, core.clock.now())
        ensure_view_case(p, scope)
        return CaseAccess(
            case=case,
            scope=scope,
            can_manage=can_manage_case(p, scope),
            can_view_recordings=can_view_recordings(p, scope),
            can_see_join_links=can_see_join_links(p, scope),
        )


@dataclass(frozen=True)
class CaseFilters:
    status: CaseStatus | None = None
    dispute_type: DisputeType | None = None
    source: CaseSource | None = None
    org_id: str | None = None
    mediator_id: str | None = None
    year: int | None = None
    q: str | None = None
    limit: int = 50
    offset: int = 0


async def list_cases(core: Core, p: Principal, f: CaseFilters) -> tuple[list[Case], int]:
    """Cases the caller may see, newest first, with the total count for paging."""
    ensure_staff(p)
    conds: list[Any] = [scope_clause(p, core.clock.now())]
    if f.status:
        conds.append(Case.status == f.status.value)
    if f.dispute_type:
        conds.append(Case.dispute_type == f.dispute_type.value)
    if f.source:
        conds.append(Case.source == f.source.value)
    if f.org_id:
        conds.append(Case.org_id == f.org_id)
    if f.mediator_id:
        conds.append(Case.mediator_id == f.mediator_id)
    if f.year:
        conds.append(Case.year == f.year)
    if f.q and f.q.strip():
        text = f.q.strip()
        party_match = select(Party.case_id).where(Party.name.contains(text, autoescape=True))
        conds.append(
            or_(
                Case.number.contains(text, autoescape=True),
                Case.title.contains(text, autoescape=True),
                Case.id.in_(party_match),
            )
        )
    base = select(Case).join(Org, Case.org_id == Org.id).where(*conds)
    async with core.db.read() as s:
        total = (await s.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
        # Case.id last: (created_at, seq) ties across orgs, and paging needs one total order.
        rows = (
            (
                await s.execute(
                    base.order_by(Case.created_at.desc(), Case.seq.desc(), Case.id).limit(f.limit).offset(f.offset)
                )
            )
            .scalars()
            .all()
        )
    return list(rows), total


async def transition(core: Core, p: Principal, case_id: str, target: CaseStatus, note: str | None) -> Case:
    now = core.clock.now()
    async with core.db.write() as s:
        case = await s.get(Case, case_id, with_for_update={"of": Case})
        if case is None:
            raise NotFound("case not found")
        ensure_manage_case(p, await scope_of(s, case, now))
        current = CaseStatus(case.status)
        check_case_transition(current, target, note)
        case.status = target.value
        case.updated_at = now
        await eventlog.append(
            s,
            case_id=case.id,
            kind="case.transitioned",
            actor=Actor.of(p),
            at=now,
            data={"from": current.value, "to": target.value, "note": (note or "").strip()},
        )
    return await load_case(core, case_id)


async def add_party(core: Core, p: Principal, case_id: str, party: PartyInput) -> Party:
    now = core.clock.now()
    async with core.db.write() as s:
        case = await s.get(Case, case_id)
        if case is None:
            raise NotFound("case not found")
        ensure_manage_case(p, await scope_of(s, case, now))
        if len(case.parties) >= 50:
            raise ValidationFailed("a case has at most 50 parties", fields={"parties": "too_many"})
        row = Party(
            case_id=case.id,
            position=len(case.parties),
            side=party.side.value,
            name=party.name,
            phone=party.phone,
            id_number=party.id_number,
            agent_name=party.agent_name,
            agent_phone=party.agent_phone,
        )
        s.add(row)
        await s.flush()
        await eventlog.append(
            s,
            case_id=case.id,
            kind="party.added",
            actor=Actor.of(p),
            at=now,
            data={"party_id": row.id, "side": party.side.value, "name": party.name},
        )
    return row


async def case_events(core: Core, p: Principal, case_id: str) -> CaseLog:
    """The case's whole log in order, each entry with whether this caller may read it. Entries
    they may not read are still returned (the edge serves them redacted), so the chain verifies."""
    access = await case_access(core, p, case_id)
    reader = reader_for(p, access.scope)
    if reader is None:
        raise Forbidden("your role may not read this case's log")
    async with core.db.read() as s:
        rows = list(
            (await s.execute(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.seq))).scalars()
        )
    return CaseLog(
        [(e, reader.may_read(e.kind, e.session_id, e.actor, e.data)) for e in rows], eventlog.check_chain(rows)
    )


@dataclass(frozen=True)
class CaseLog:
    """A case's log as one viewer gets it: (entry, readable) in order, and the whole chain's check."""

    entries: list[tuple[CaseEvent, bool]]
    chain: eventlog.ChainCheck
