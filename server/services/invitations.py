"""Invitations: issue, revoke, list, and resolve a token into a bound invitation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from server.domain.access import Principal, ensure_manage_case
from server.domain.accounts import StaffRole
from server.domain.actors import Actor
from server.domain.errors import Conflict, Forbidden, InvalidToken, NotFound, ValidationFailed
from server.domain.grants import SessionRole
from server.domain.invitations import check_invitation_fields, default_direct_entry, expiry
from server.domain.sessions import SessionStatus
from server.storage.models import Account, Case, Invitation, MediationSession, Party

from . import eventlog
from .cases import case_access, scope_of
from .core import Core

SIDE_ROLES = {SessionRole.applicant: "applicant", SessionRole.respondent: "respondent"}
ROLE_FOR_ACCOUNT = {
    SessionRole.mediator: {StaffRole.mediator},
    SessionRole.expert: {StaffRole.expert},
    SessionRole.observer: {StaffRole.mediator, StaffRole.reviewer, StaffRole.expert, StaffRole.admin},
}


async def issue(
    core: Core,
    p: Principal,
    session_id: str,
    *,
    role: SessionRole,
    party_id: str | None = None,
    account_id: str | None = None,
    display_name: str | None = None,
    direct_entry: bool | None = None,
    ttl: timedelta | None = None,
) -> Invitation:
    check_invitation_fields(role, party_id=party_id, account_id=account_id, display_name=display_name)
    now = core.clock.now()
    ttl = timedelta(hours=core.settings.invitation_ttl_hours) if ttl is None else ttl
    # Whole seconds: the token carries its expiry in seconds and must agree with the row.
    expires_at = expiry(now, ttl).replace(microsecond=0)
    async with core.db.write() as s:
        session = await s.get(MediationSession, session_id)
        if session is None:
            raise NotFound("session not found")
        case = await s.get(Case, session.case_id)
        assert case is not None
        try:
            ensure_manage_case(p, await scope_of(s, case, now))
        except NotFound:
            raise NotFound("session not found") from None
        if session.status == SessionStatus.ended.value:
            raise Conflict("the session has ended; schedule a new one", status=session.status)
        name = (display_name or "").strip()
        if party_id is not None:
            party = await s.get(Party, party_id)
            if party is None or party.case_id != case.id:
                raise ValidationFailed("party_id is not a party of this case", fields={"party_id": "not_in_case"})
            if role in SIDE_ROLES and party.side != SIDE_ROLES[role]:
                raise ValidationFailed(
                    f"party '{party.name}' is the {party.side}, not the {role.value}", fields={"role": "side_mismatch"}
                )
            if role is SessionRole.agent:
                if not party.agent_name and not name:
                    raise ValidationFailed(
                        "this party has no agent on file; give the agent's display_name",
                        fields={"display_name": "required"},
                    )
                name = name or party.agent_name or ""
            else:
                name = name or party.name
        if account_id is not None:
            account = await s.get(Account, account_id)
            allowed = ROLE_FOR_ACCOUNT.get(role, set())
            if account is None or not account.active or StaffRole(account.role) not in allowed:
                raise ValidationFailed(
                    f"account_id must name an active account that can take the role '{role.value}'",
                    fields={"account_id": "invalid"},
                )
            name = name or account.display_name
        if len(name) > 100:
            raise ValidationFailed("display_name is at most 100 characters", fields={"display_name": "too_long"})
        inv = Invitation(
            session_id=session.id,
            case_id=case.id,
            role=role.value,
            party_id=party_id,
            account_id=account_id,
            display_name=name,
            direct_entry=default_direct_entry(role) if direct_entry is None else direct_entry,
            expires_at=expires_at,
            created_by=p.account_id,
            created_at=now,
        )
        s.add(inv)
        await s.flush()
        await eventlog.append(
            s,
            case_id=case.id,
            kind="invitation.issued",
            actor=Actor.of(p),
            at=now,
            session_id=session.id,
            data={
                "invitation_id": inv.id,
                "role": role.value,
                "display_name": name,
                "party_id": party_id,
                "account_id": account_id,
                "expires_at": expires_at.isoformat(),
            },
        )
    return inv


async def revoke(core: Core, p: Principal, invitation_id: str, reason: str | None = None) -> Invitation:
    """Revoke an invitation, as staff who manage its case; browser sessions opened with it stop
    working at their next request."""
    return await _revoke(core, invitation_id, reason, Actor.of(p), principal=p)


async def withdraw(core: Core, actor: Actor, invitation_id: str, reason: str | None = None) -> Invitation:
    """Revoke an invitation because its holder was denied or removed in the live room: the room
    checked the moderator's grant, and `actor` is that moderator."""
    return await _revoke(core, invitation_id, reason, actor, principal=None)


async def _revoke(
    core: Core, invitation_id: str, reason: str | None, actor: Actor, *, principal: Principal | None
) -> Invitation:
    now = core.clock.now()
    p = principal
    async with core.db.write() as s:
        inv = await s.get(Invitation, invitation_id, with_for_update=True)
        if inv is None:
            raise NotFound("invitation not found")
        if p is not None:
            case = await s.get(Case, inv.case_id)
            assert case is not None
            try:
                ensure_manage_case(p, await scope_of(s, case, now))
            except NotFound:
                raise NotFound("invitation not found") from None
        if inv.revoked_at is not None:
            raise Conflict("the invitation is already revoked")
        inv.revoked_at = now
        inv.revoked_reason = (reason or "").strip()[:200] or None
        await eventlog.append(
            s,
            case_id=inv.case_id,
            kind="invitation.revoked",
            actor=actor,
            at=now,
            session_id=inv.session_id,
            data={"invitation_id": inv.id, "reason": inv.revoked_reason or ""},
        )
    return inv


@dataclass(frozen=True)
class Listed:
    """An invitation as one viewer may see it: its join link only for those who may see links,
    and only while the link can still be used."""

    invitation: Invitation
    link: str | None


def _listed(core: Core, inv: Invitation, may_see_links: bool) -> Listed:
    usable = inv.revoked_at is None and core.clock.now() < inv.expires_at
    return Listed(inv, link_for(core, inv) if may_see_links and usable else None)


async def list_for_case(core: Core, p: Principal, case_id: str) -> list[Listed]:
    access = await case_access(core, p, case_id)
    async with core.db.read() as s:
        rows = list(
            (
                await s.execute(select(Invitation).where(Invitation.case_id == case_id).order_by(Invitation.created_at))
            ).scalars()
        )
    return [_listed(core, inv, access.can_see_join_links) for inv in rows]


async def get(core: Core, p: Principal, invitation_id: str) -> Listed:
    async with core.db.read() as s:
        inv = await s.get(Invitation, invitation_id)
    if inv is None:
        raise NotFound("invitation not found")
    try:
        access = await case_access(core, p, inv.case_id)
    except NotFound:
        raise NotFound("invitation not found") from None
    return _listed(core, inv, access.can_see_join_links)


def listed_for_issuer(core: Core, inv: Invitation) -> Listed:
    """What `issue` and `revoke` return to whoever did it: they manage the case."""
    return _listed(core, inv, True)


async def link_of(core: Core, p: Principal, invitation_id: str) -> str:
    """The join link of one invitation (for its QR code): only for those who may see join links,
    and only while it can be used."""
    listed = await get(core, p, invitation_id)
    access = await case_access(core, p, listed.invitation.case_id)
    if not access.can_see_join_links:
        raise Forbidden("only those who manage the case may see its join links")
    try:
        check_usable(core, listed.invitation)
    except InvalidToken as exc:
        # The caller is signed in: a withdrawn or expired invitation is a state conflict, not a 401.
        raise Conflict(exc.message, reason=exc.reason) from None
    return link_for(core, listed.invitation)


def token_for(core: Core, inv: Invitation) -> str:
    return core.tokens.sign(inv.id, inv.expires_at)


def link_for(core: Core, inv: Invitation) -> str:
    return core.join_url(token_for(core, inv))


def check_usable(core: Core, inv: Invitation | None) -> Invitation:
    """The database is the authority: a row that is gone, revoked or expired refuses entry."""
    if inv is None:
        raise InvalidToken("unknown", "this invitation does not exist")
    if inv.revoked_at is not None:
        raise InvalidToken("revoked", "this invitation has been withdrawn by the mediator")
    if core.clock.now() >= inv.expires_at:
        raise InvalidToken("expired", "this invitation link has expired; ask the mediator for a new one")
    return inv


async def resolve(core: Core, token: str) -> Invitation:
    """Turn a token from a link into its invitation, or raise InvalidToken saying why not."""
    claims = core.tokens.verify(token, core.clock.now())
    async with core.db.read() as s:
        inv = check_usable(core, await s.get(Invitation, claims.invitation_id))
        if int(inv.expires_at.timestamp()) != int(claims.expires_at.timestamp()):
            raise InvalidToken("bad_signature", "this invitation link does not match its invitation")
        session = await s.get(MediationSession, inv.session_id)
        if session is None or session.status == SessionStatus.ended.value:
            raise InvalidToken("session_ended", "this mediation session has ended")
    return inv
