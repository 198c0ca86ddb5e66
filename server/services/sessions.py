"""Mediation sessions of a case: schedule, list, and the status state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

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
from server.storage.models import Case, MediationSession

from . import eventlog
from .cases import case_access, get_case, scope_of
from .core import Core


async def schedule_session(
    core: Core, p: Principal, case_id: str, *, scheduled_at: datetime, title: str | None = None
) -> MediationSession:
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
    async with core.db.write() as s:
        case = await s.get(Case, case_id)
        if case is None:
            raise NotFound("case not found")
        ensure_manage_case(p, await scope_of(s, case, now))
        if not is_open(CaseStatus(case.status)):
            raise Conflict(f"a case in status '{case.status}' cannot have new sessions", status=case.status)
        count = len((await s.execute(select(MediationSession.id).where(MediationSession.case_id == case_id))).all())
        session = MediationSession(
            case_id=case_id,
            title=(title or "").strip()[:200] or f"第{count + 1}次调解",
            scheduled_at=scheduled_at,
            status=SessionStatus.scheduled.value,
            created_by=p.account_id,
            created_at=now,
        )
        s.add(session)
        await s.flush()
        await eventlog.append(
            s,
            case_id=case_id,
            kind="session.scheduled",
            actor=Actor.of(p),
            at=now,
            session_id=session.id,
            data={"title": session.title, "scheduled_at": scheduled_at.isoformat()},
        )
    return session


async def list_sessions(core: Core, p: Principal, case_id: str) -> list[MediationSession]:
    await get_case(core, p, case_id)
    async with core.db.read() as s:
        return list(
            (
                await s.execute(
                    select(MediationSession)
                    .where(MediationSession.case_id == case_id)
                    .order_by(MediationSession.scheduled_at)
                )
            ).scalars()
        )


async def load_session(core: Core, session_id: str) -> MediationSession:
    """Load by id without an access check: callers check the case or the invitation binding."""
    async with core.db.read() as s:
        session = await s.get(MediationSession, session_id)
    if session is None:
        raise NotFound("session not found")
    return session


async def get_session(core: Core, p: Principal, session_id: str) -> MediationSession:
    session = await load_session(core, session_id)
    if p.session_id == session_id:
        return session
    try:
        await get_case(core, p, session.case_id)
    except NotFound:
        raise NotFound("session not found") from None
    return session


async def _scoped(core: Core, p: Principal, session_id: str) -> tuple[MediationSession, CaseScope]:
    session = await load_session(core, session_id)
    try:
        access = await case_access(core, p, session.case_id)
    except NotFound:
        raise NotFound("session not found") from None
    return session, access.scope


async def for_recording_review(core: Core, p: Principal, session_id: str) -> MediationSession:
    """A session whose recordings the caller may see (domain.access.can_view_recordings)."""
    session, scope = await _scoped(core, p, session_id)
    ensure_view_recordings(p, scope)
    return session


async def for_recording_control(core: Core, p: Principal, session_id: str) -> MediationSession:
    """A session whose recording the caller may start and stop, as the case's mediator."""
    session, scope = await _scoped(core, p, session_id)
    ensure_control_recording(p, scope)
    return session


async def set_session_status(
    core: Core, p: Principal, session_id: str, target: SessionStatus, reason: str | None = None
) -> MediationSession:
    """Move a session along its state machine, as staff who manage its case."""
    return await _move(core, session_id, target, reason, Actor.of(p), principal=p)


async def mark_session_status(
    core: Core, actor: Actor, session_id: str, target: SessionStatus, reason: str | None = None
) -> MediationSession:
    """The live room moved the session (its mediator joined or ended it, or it idled out): the
    room has checked the grant, and `actor` names who for the case log."""
    return await _move(core, session_id, target, reason, actor, principal=None)


async def _move(
    core: Core, session_id: str, target: SessionStatus, reason: str | None, actor: Actor, *, principal: Principal | None
) -> MediationSession:
    now = core.clock.now()
    async with core.db.write() as s:
        session = await s.get(MediationSession, session_id, with_for_update=True)
        if session is None:
            raise NotFound("session not found")
        case = await s.get(Case, session.case_id)
        assert case is not None
        if principal is not None:
            try:
                ensure_manage_case(principal, await scope_of(s, case, now))
            except NotFound:
                raise NotFound("session not found") from None
        current = SessionStatus(session.status)
        check_session_transition(current, target)
        session.status = target.value
        if target is SessionStatus.live:
            session.started_at = now
        if target is SessionStatus.ended:
            session.ended_at = now
        await eventlog.append(
            s,
            case_id=case.id,
            kind=f"session.{target.value}",
            actor=actor,
            at=now,
            session_id=session.id,
            data={"from": current.value, "reason": (reason or "").strip()},
        )
    return session
