"""Cases: create, read, list with filters, transition, parties."""

from __future__ import annotations

from dataclasses import dataclass

from server.domain.access import (
    CaseScope,
    Principal,
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
from server.domain.errors import Forbidden, ValidationFailed
from server.storage import cases as stored
from server.storage.base import Tx
from server.storage.caselog import LogEntry
from server.storage.cases import CaseRecord, PartyRecord

from . import eventlog, names
from .core import Core

MAX_TITLE = 200
MAX_SUMMARY = 10_000


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
) -> CaseRecord:
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
    async with core.db.write() as tx:
        org = await stored.org_for_new_case(tx, org_id or "")
        ensure_can_create_case_in(p, org.path)
        if mediator_id is not None and not await stored.active_mediator(tx, mediator_id):
            raise ValidationFailed(
                "mediator_id must name an active mediator account", fields={"mediator_id": "invalid"}
            )
        year = now.astimezone(LOCAL_TZ).year  # 1 January 00:30 in Beijing is still 31 December in UTC
        seq = await stored.next_seq(tx, org.id, year)
        case = await stored.insert_case(
            tx,
            org=org,
            number=format_case_number(org.code, year, seq),
            year=year,
            seq=seq,
            title=title,
            summary=summary.strip(),
            dispute_type=dispute_type.value,
            source=source.value,
            status=CaseStatus.registered.value,
            mediator_id=mediator_id,
            created_by=p.account_id,
            now=now,
            parties=parties,
        )
        await eventlog.append(
            tx,
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
    return case


async def load_case(core: Core, case_id: str) -> CaseRecord:
    """Load by id without an access check: callers check the case scope or the invitation binding."""
    async with core.db.read() as tx:
        return await stored.load_case(tx, case_id)


async def get_case(core: Core, p: Principal, case_id: str) -> CaseRecord:
    """Load a case the caller may see; a case outside the caller's scope is not found."""
    return (await case_access(core, p, case_id)).case


@dataclass(frozen=True)
class CaseAccess:
    """A case the caller may see, and what the domain's rules let them do with it. Routes and
    pages ask this; they never decide access themselves."""

    case: CaseRecord
    scope: CaseScope
    can_manage: bool
    can_view_recordings: bool
    can_see_join_links: bool


async def case_access(core: Core, p: Principal, case_id: str) -> CaseAccess:
    async with core.db.read() as tx:
        return await access_in(tx, core, p, case_id)


async def access_in(tx: Tx, core: Core, p: Principal, case_id: str) -> CaseAccess:
    """`case_access` inside a transaction the caller holds."""
    case = await stored.load_case(tx, case_id)
    return access_to(p, case, await stored.scope(tx, case, core.clock.now()))


def access_to(p: Principal, case: CaseRecord, scope: CaseScope) -> CaseAccess:
    """The caller's access to a case whose scope is known; a case they may not see is not found."""
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


async def list_cases(core: Core, p: Principal, f: CaseFilters) -> tuple[list[CaseRecord], int]:
    """Cases the caller may see, newest first, with the total count for paging."""
    ensure_staff(p)
    query = stored.CaseQuery(
        status=f.status.value if f.status else None,
        dispute_type=f.dispute_type.value if f.dispute_type else None,
        source=f.source.value if f.source else None,
        org_id=f.org_id,
        mediator_id=f.mediator_id,
        year=f.year,
        text=f.q.strip() if f.q and f.q.strip() else None,
        limit=f.limit,
        offset=f.offset,
    )
    async with core.db.read() as tx:
        return await stored.list_cases(tx, stored.visible_to(p, core.clock.now()), query)


async def transition(core: Core, p: Principal, case_id: str, target: CaseStatus, note: str | None) -> CaseRecord:
    """Move a case along its state machine; returns the case as written."""
    now = core.clock.now()
    async with core.db.write() as tx:
        case = await stored.load_case(tx, case_id, for_update=True)
        ensure_manage_case(p, await stored.scope(tx, case, now))
        current = CaseStatus(case.status)
        check_case_transition(current, target, note)
        case = await stored.set_status(tx, case, target.value, now)
        await eventlog.append(
            tx,
            case_id=case.id,
            kind="case.transitioned",
            actor=Actor.of(p),
            at=now,
            data={"from": current.value, "to": target.value, "note": (note or "").strip()},
        )
    return case


async def add_party(core: Core, p: Principal, case_id: str, party: PartyInput) -> PartyRecord:
    now = core.clock.now()
    async with core.db.write() as tx:
        case = await stored.load_case(tx, case_id, for_update=True)
        ensure_manage_case(p, await stored.scope(tx, case, now))
        if len(case.parties) >= 50:
            raise ValidationFailed("a case has at most 50 parties", fields={"parties": "too_many"})
        row = await stored.add_party(tx, case, party)
        await eventlog.append(
            tx,
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
    async with core.db.read() as tx:
        rows = await eventlog.entries(tx, case_id)
        entries = [(e, reader.may_read(e.kind, e.session_id, e.actor, e.data)) for e in rows]
        # Names of the people in what this viewer reads (who acted, and whom a session entry is
        # about), so that people read names, not ids; nothing of a redacted entry.
        people = await names.actor_names(tx, {a for e, readable in entries if readable for a in _people_of(e)})
    return CaseLog(entries, eventlog.check_chain(rows), people)


def _people_of(e: LogEntry) -> set[str]:
    """The actors an entry names: who caused it, and the participant (`pid`) it is about."""
    found = {e.actor}
    pid = e.data.get("pid")
    about = Actor.of_pid(pid) if isinstance(pid, str) else None
    if about is not None:
        found.add(str(about))
    return found


@dataclass(frozen=True)
class CaseLog:
    """A case's log as one viewer gets it: (entry, readable) in order, and the whole chain's check."""

    entries: list[tuple[LogEntry, bool]]
    chain: eventlog.ChainCheck
    names: dict[str, str]  # actor -> the person's name, for the entries this viewer reads
