"""Invitations: issue, revoke, list, and resolve a token into a bound invitation."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from server.domain.access import Principal, ensure_manage_case
from server.domain.accounts import StaffRole
from server.domain.actors import Actor
from server.domain.errors import Conflict, Forbidden, InvalidToken, NotFound, ValidationFailed
from server.domain.grants import SessionRole, link_outlives_session
from server.domain.invitations import check_invitation_fields, default_direct_entry, expiry
from server.domain.sessions import SessionStatus
from server.storage import accounts as stored_accounts
from server.storage import cases as stored_cases
from server.storage import invitations as stored
from server.storage import sessions as stored_sessions
from server.storage.base import Tx
from server.storage.invitations import InvitationRecord

from . import eventlog
from .cases import access_in, case_access
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
) -> InvitationRecord:
    check_invitation_fields(role, party_id=party_id, account_id=account_id, display_name=display_name)
    now = core.clock.now()
    ttl = timedelta(hours=core.settings.invitation_ttl_hours) if ttl is None else ttl
    # Whole seconds: the token carries its expiry in seconds and must agree with the row.
    expires_at = expiry(now, ttl).replace(microsecond=0)
    async with core.db.write() as tx:
        session = await stored_sessions.load_session(tx, session_id)
        case = await stored_cases.load_case(tx, session.case_id)
        try:
            ensure_manage_case(p, await stored_cases.scope(tx, case, now))
        except NotFound:
            raise NotFound("session not found") from None
        if session.status == SessionStatus.ended.value and not link_outlives_session(
            role, held=session.started_at is not None, case_status=case.status
        ):
            # A party whose link expired or was lost can still be sent a new one to sign the
            # session's documents; the room itself is over for everyone.
            raise Conflict("the session has ended; schedule a new one", status=session.status)
        name = (display_name or "").strip()
        if party_id is not None:
            party = next((x for x in case.parties if x.id == party_id), None)
            if party is None:
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
            account = await stored_accounts.account_or_none(tx, account_id)
            allowed = ROLE_FOR_ACCOUNT.get(role, set())
            if account is None or not account.active or StaffRole(account.role) not in allowed:
                raise ValidationFailed(
                    f"account_id must name an active account that can take the role '{role.value}'",
                    fields={"account_id": "invalid"},
                )
            name = name or account.display_name
        if len(name) > 100:
            raise ValidationFailed("display_name is at most 100 characters", fields={"display_name": "too_long"})
        inv = await stored.create_invitation(
            tx,
            session_id=session.id,
            case_id=case.id,
            role=role.value,
            party_id=party_id,
            account_id=account_id,
            display_name=name,
            direct_entry=default_direct_entry(role) if direct_entry is None else direct_entry,
            expires_at=expires_at,
            created_by=p.account_id,
            now=now,
        )
        await eventlog.append(
            tx,
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


async def revoke(core: Core, p: Principal, invitation_id: str, reason: str | None = None) -> InvitationRecord:
    """Revoke an invitation, as staff who manage its case; browser sessions opened with it stop
    working at their next request."""
    return await _revoke(core, invitation_id, reason, Actor.of(p), principal=p)


async def withdraw(core: Core, actor: Actor, invitation_id: str, reason: str | None = None) -> InvitationRecord:
    """Revoke an invitation because its holder was denied or removed in the live room: the room
    checked the moderator's grant, and `actor` is that moderator."""
    return await _revoke(core, invitation_id, reason, actor, principal=None)


async def _revoke(
    core: Core, invitation_id: str, reason: str | None, actor: Actor, *, principal: Principal | None
) -> InvitationRecord:
    now = core.clock.now()
    async with core.db.write() as tx:
        inv = await stored.load_invitation(tx, invitation_id, for_update=True)
        if principal is not None:
            case = await stored_cases.load_case(tx, inv.case_id)
            try:
                ensure_manage_case(principal, await stored_cases.scope(tx, case, now))
            except NotFound:
                raise NotFound("invitation not found") from None
        if inv.revoked_at is not None:
            raise Conflict("the invitation is already revoked")
        inv = await stored.revoke(tx, inv.id, at=now, reason=(reason or "").strip()[:200] or None)
        await eventlog.append(
            tx,
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

    invitation: InvitationRecord
    link: str | None


def listed(core: Core, inv: InvitationRecord, may_see_links: bool) -> Listed:
    """The invitation as a viewer gets it who may, or may not, see join links."""
    usable = inv.revoked_at is None and core.clock.now() < inv.expires_at
    return Listed(inv, link_for(core, inv) if may_see_links and usable else None)


async def list_for_case(core: Core, p: Principal, case_id: str) -> list[Listed]:
    async with core.db.read() as tx:
        access = await access_in(tx, core, p, case_id)
        rows = await stored.invitations_of_case(tx, case_id)
    return [listed(core, inv, access.can_see_join_links) for inv in rows]


async def get(core: Core, p: Principal, invitation_id: str) -> Listed:
    async with core.db.read() as tx:
        inv = await stored.load_invitation(tx, invitation_id)
        try:
            access = await access_in(tx, core, p, inv.case_id)
        except NotFound:
            raise NotFound("invitation not found") from None
    return listed(core, inv, access.can_see_join_links)


def listed_for_issuer(core: Core, inv: InvitationRecord) -> Listed:
    """What `issue` and `revoke` return to whoever did it: they manage the case."""
    return listed(core, inv, True)


async def link_of(core: Core, p: Principal, invitation_id: str) -> str:
    """The join link of one invitation (for its QR code): only for those who may see join links,
    and only while it can be used."""
    found = await get(core, p, invitation_id)
    access = await case_access(core, p, found.invitation.case_id)
    if not access.can_see_join_links:
        raise Forbidden("only those who manage the case may see its join links")
    try:
        check_usable(core, found.invitation)
    except InvalidToken as exc:
        # The caller is signed in: a withdrawn or expired invitation is a state conflict, not a 401.
        raise Conflict(exc.message, reason=exc.reason) from None
    return link_for(core, found.invitation)


def token_for(core: Core, inv: InvitationRecord) -> str:
    return core.tokens.sign(inv.id, inv.expires_at)


def link_for(core: Core, inv: InvitationRecord) -> str:
    return core.join_url(token_for(core, inv))


def check_usable(core: Core, inv: InvitationRecord | None) -> InvitationRecord:
    """The database is the authority: a row that is gone, revoked or expired refuses entry."""
    if inv is None:
        raise InvalidToken("unknown", "this invitation does not exist")
    if inv.revoked_at is not None:
        raise InvalidToken("revoked", "this invitation has been withdrawn by the mediator")
    if core.clock.now() >= inv.expires_at:
        raise InvalidToken("expired", "this invitation link has expired; ask the mediator for a new one")
    return inv


async def session_over(tx: Tx, inv: InvitationRecord) -> bool:
    """Whether the session an invitation is for has ended: its link and its browser sessions end with it."""
    try:
        session = await stored_sessions.load_session(tx, inv.session_id)
    except NotFound:
        return True
    return session.status == SessionStatus.ended.value


class LinkState(enum.Enum):
    """What a usable link still opens, as its session stands."""

    room = "room"  # the session has not ended: the room, and its documents
    documents = "documents"  # it has ended, and this link still reaches its documents
    over = "over"  # it has ended for this link


async def link_state(tx: Tx, inv: InvitationRecord) -> LinkState:
    """Whether the link's session is still on, over for it, or over but for its documents
    (grants.link_outlives_session: a party's link, a session that was held, a case with
    documents still to sign)."""
    try:
        session = await stored_sessions.load_session(tx, inv.session_id)
    except NotFound:
        return LinkState.over
    if session.status != SessionStatus.ended.value:
        return LinkState.room
    held = session.started_at is not None
    if link_outlives_session(
        SessionRole(inv.role), held=held, case_status=await stored_cases.status_of(tx, inv.case_id) or ""
    ):
        return LinkState.documents
    return LinkState.over


async def ended_for(tx: Tx, inv: InvitationRecord, *, documents: bool = False) -> bool:
    """Whether a link is finished because its session is: for the room, once the session ends;
    for the session's documents (documents=True), unless it still reaches them (LinkState)."""
    state = await link_state(tx, inv)
    return state is LinkState.over or (state is LinkState.documents and not documents)


async def resolve(core: Core, token: str, *, documents: bool = False) -> InvitationRecord:
    """Turn a token from a link into its invitation, or raise InvalidToken saying why not.

    documents=True: the caller wants the session's documents, not the room, which a signer's
    link still reaches after the session has ended."""
    claims = core.tokens.verify(token, core.clock.now())
    async with core.db.read() as tx:
        inv = check_usable(core, await stored.invitation_or_none(tx, claims.invitation_id))
        if int(inv.expires_at.timestamp()) != int(claims.expires_at.timestamp()):
            raise InvalidToken("bad_signature", "this invitation link does not match its invitation")
        if await ended_for(tx, inv, documents=documents):
            raise InvalidToken("session_ended", "this mediation session has ended")
    return inv


async def session_has_ended(core: Core, inv: InvitationRecord) -> bool:
    async with core.db.read() as tx:
        return await session_over(tx, inv)
