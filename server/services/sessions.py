"""Mediation sessions of a case: schedule, list, and the status state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.domain.access import (
    CaseScope,
    Principal,
    ensure_control_recording,
    ensure_manage_case,
    ensure_view_recordings,
)
from server.domain.actors import Actor
from server.domain.cases import CaseStatus, is_open
from server.domain.errors import Conflict, NotFound, ValidationFailed
from server.domain.sessions import SessionStatus, check_session_transition
from server.storage import cases as stored_cases
from server.storage import sessions as stored
from server.storage.sessions import SessionRecord

from . import eventlog
from .cases import case_access, get_case
from .core import Core


async def schedule_session(
    core: Core, p: Principal, case_id: str, *, scheduled_at: datetime, title: str | None = None
) -> SessionRecord:
    if scheduled_at.tzinfo is None:
        raise ValidationFailed(
            "scheduled_at needs a time zone, e.g. 2026-12-01T09:30:00+08:00", fields={"scheduled_at": "no_timezone"}
        )
    try:
        # UTC, as storage keeps it, so that this call returns what a later read does. Year 9999 at -14:00 overflows.
        scheduled_at = scheduled_at.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed("scheduled_at is out of range", fields={"scheduled_at": "out_of_range"}) from None
    now = core.clock.now()
    if scheduled_at < now - timedelta(days=1):
        raise ValidationFailed("scheduled_at is in the past", fields={"scheduled_at": "in_past"})
    async with core.db.write() as tx:
        case = await stored_cases.load_case(tx, case_id)
        ensure_manage_case(p, await stored_cases.scope(tx, case, now))
        if not is_open(CaseStatus(case.status)):
            raise Conflict(f"a case in status '{case.status}' cannot have new sessions", status=case.status)
        count = await stored.count_for_case(tx, case_id)
        session = await stored.insert_session(
            tx,
            case_id=case_id,
            title=(title or "").strip()[:200] or f"第{count + 1}次调解",
            scheduled_at=scheduled_at,
            status=SessionStatus.scheduled.value,
            created_by=p.account_id,
            now=now,
        )
        await eventlog.append(
            tx,
            case_id=case_id,
            kind="session.scheduled",
            actor=Actor.of(p),
            at=now,
            session_id=session.id,
            data={"title": session.title, "scheduled_at": scheduled_at.isoformat()},
        )
    return session


async def list_sessions(core: Core, p: Principal, case_id: str) -> list[SessionRecord]:
    await get_case(core, p, case_id)
    async with core.db.read() as tx:
        return await stored.for_the_case(tx, case_id)


async def load_session(core: Core, session_id: str) -> SessionRecord:
    """Load by id without an access check: callers check the case or the invitation binding."""
    async with core.db.read() as tx:
        return await stored.load_session(tx, session_id)


async def get_session(core: Core, p: Principal, session_id: str) -> SessionRecord:
    session = await load_session(core, session_id)
    if p.session_id == session_id:
        return session
    try:
        await get_case(core, p, session.case_id)
    except NotFound:
        raise NotFound("session not found") from None
    return session


async def _scoped(core: Core, p: Principal, session_id: str) -> tuple[SessionRecord, CaseScope]:
    session = await load_session(core, session_id)
    try:
        access = await case_access(core, p, session.case_id)
    except NotFound:
        raise NotFound("session not found") from None
    return session, access.scope


async def for_recording_review(core: Core, p: Principal, session_id: str) -> SessionRecord:
    """A session whose recordings the caller may see (domain.access.can_view_recordings)."""
    session, scope = await _scoped(core, p, session_id)
    ensure_view_recordings(p, scope)
    return session


async def for_recording_control(core: Core, p: Principal, session_id: str) -> SessionRecord:
    """A session whose recording the caller may start and stop, as the case's mediator."""
    session, scope = await _scoped(core, p, session_id)
    ensure_control_recording(p, scope)
    return session


async def set_session_status(
    core: Core, p: Principal, session_id: str, target: SessionStatus, reason: str | None = None
) -> SessionRecord:
    """Move a session along its state machine, as staff who manage its case."""
    return await _move(core, session_id, target, reason, Actor.of(p), principal=p)


async def mark_session_status(
    core: Core, actor: Actor, session_id: str, target: SessionStatus, reason: str | None = None
) -> SessionRecord:
    """The live room moved the session (its mediator joined or ended it, or it idled out): the
    room has checked the grant, and `actor` names who for the case log."""
    return await _move(core, session_id, target, reason, actor, principal=None)


async def _move(
    core: Core, session_id: str, target: SessionStatus, reason: str | None, actor: Actor, *, principal: Principal | None
) -> SessionRecord:
    now = core.clock.now()
    async with core.db.write() as tx:
        session = await stored.load_session(tx, session_id, for_update=True)
        if principal is not None:
            case = await stored_cases.load_case(tx, session.case_id)
            try:
                ensure_manage_case(principal, await stored_cases.scope(tx, case, now))
            except NotFound:
                raise NotFound("session not found") from None
        current = SessionStatus(session.status)
        check_session_transition(current, target)
        session = await stored.set_status(
            tx,
            session,
            target.value,
            started_at=now if target is SessionStatus.live else None,
            ended_at=now if target is SessionStatus.ended else None,
        )
        await eventlog.append(
            tx,
            case_id=session.case_id,
            kind=f"session.{target.value}",
            actor=actor,
            at=now,
            session_id=session.id,
            data={"from": current.value, "reason": (reason or "").strip()},
        )
    return session
