"""Signing in: staff passwords (rate limited), invitation links, and browser sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from server.domain.access import Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.errors import InvalidToken, RateLimited, Unauthenticated
from server.domain.grants import SessionRole
from server.domain.sessions import SessionStatus
from server.storage.models import Account, Invitation, LoginFailure, MediationSession, WebSession

from . import eventlog, invitations
from .core import Core

# One address may try more often than one username: a village office shares one address.
ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class BrowserSession:
    token: str  # goes into the cookie; never stored
    csrf_token: str
    principal: Principal


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _check_rate(core: Core, username: str, address: str) -> None:
    now = core.clock.now()
    window = timedelta(seconds=core.settings.login_window_seconds)
    limit = core.settings.login_max_failures
    async with core.db.read() as s:
        for key, cap in ((f"user:{username}", limit), (f"addr:{address}", limit * ADDRESS_FACTOR)):
            count, oldest = (await s.execute(select(func.count(), func.min(LoginFailure.at))
                                             .where(LoginFailure.key == key, LoginFailure.at > now - window))).one()
            if count >= cap:
                retry = max(1, int((oldest + window - now).total_seconds()))
                raise RateLimited(f"too many failed sign-ins; try again in {retry} seconds", retry_after=retry)


async def login(core: Core, username: str, password: str, address: str) -> BrowserSession:
    username = (username or "").strip().lower()[:48]
    await _check_rate(core, username, address)
    async with core.db.read() as s:
        account = (await s.execute(select(Account).where(Account.username == username))).scalar_one_or_none()
    ok = await core.passwords.verify(account.password_hash if account else None, password or "")
    now = core.clock.now()
    if not ok or account is None or not account.active:
        async with core.db.write() as s:
            s.add_all([LoginFailure(key=f"user:{username}", at=now), LoginFailure(key=f"addr:{address}", at=now)])
            # Keep the table small: old failures no longer count for anything.
            await s.execute(delete(LoginFailure).where(
                LoginFailure.at < now - timedelta(seconds=core.settings.login_window_seconds)))
        raise Unauthenticated("wrong username or password")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    async with core.db.write() as s:
        await s.execute(delete(LoginFailure).where(LoginFailure.key == f"user:{username}"))
        s.add(WebSession(token_hash=_hash(token), kind=PrincipalKind.staff.value, account_id=account.id,
                         csrf_token=csrf, created_at=now,
                         expires_at=now + timedelta(hours=core.settings.staff_session_hours)))
    return BrowserSession(token, csrf, staff_principal(account))


async def open_invitation(core: Core, token: str) -> tuple[BrowserSession, Invitation]:
    """Exchange a join-link token for a browser session bound to that invitation only."""
    inv = await invitations.resolve(core, token)
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = core.clock.now()
    async with core.db.write() as s:
        s.add(WebSession(token_hash=_hash(cookie), kind=PrincipalKind.invitation.value, invitation_id=inv.id,
                         csrf_token=csrf, created_at=now, expires_at=inv.expires_at))
        await eventlog.append(s, case_id=inv.case_id, kind="invitation.opened", actor=f"invitation:{inv.id}",
                              at=now, session_id=inv.session_id, data={"invitation_id": inv.id})
    return BrowserSession(cookie, csrf, invitation_principal(inv)), inv


def staff_principal(account: Account) -> Principal:
    return Principal(kind=PrincipalKind.staff, display_name=account.display_name, account_id=account.id,
                     staff_role=StaffRole(account.role), org_id=account.org_id, org_path=account.org.path)


def invitation_principal(inv: Invitation) -> Principal:
    return Principal(kind=PrincipalKind.invitation, display_name=inv.display_name, account_id=inv.account_id,
                     invitation_id=inv.id, case_id=inv.case_id, session_id=inv.session_id,
                     session_role=SessionRole(inv.role), direct_entry=bool(inv.direct_entry))


async def authenticate(core: Core, cookie_token: str | None, kind: PrincipalKind) -> tuple[Principal, str] | None:
    """The principal and CSRF token behind a cookie, or None when it is missing, expired or revoked."""
    # Our tokens are short ASCII; anything else (e.g. undecodable bytes) names no session.
    if not cookie_token or len(cookie_token) > 100 or not cookie_token.isascii():
        return None
    now = core.clock.now()
    async with core.db.read() as s:
        ws = await s.get(WebSession, _hash(cookie_token))
        if ws is None or ws.kind != kind.value or now >= ws.expires_at:
            return None
        if ws.kind == PrincipalKind.staff.value:
            account = await s.get(Account, ws.account_id)
            if account is None or not account.active:
                return None
            return staff_principal(account), ws.csrf_token
        inv = await s.get(Invitation, ws.invitation_id)
        try:
            invitations.check_usable(core, inv)
        except InvalidToken:
            return None
        assert inv is not None
        # A link is for one session: once it has ended, the browser session ends with it.
        session = await s.get(MediationSession, inv.session_id)
        if session is None or session.status == SessionStatus.ended.value:
            return None
        return invitation_principal(inv), ws.csrf_token


async def why_refused(core: Core, cookie_token: str | None) -> str:
    """Why a join cookie no longer signs anyone in, in INVALID_TOKEN_REASONS terms."""
    if not cookie_token or len(cookie_token) > 100 or not cookie_token.isascii():
        return "unknown"
    async with core.db.read() as s:
        ws = await s.get(WebSession, _hash(cookie_token))
        inv = await s.get(Invitation, ws.invitation_id) if ws is not None and ws.invitation_id else None
        if inv is None:
            return "unknown"
        if inv.revoked_at is not None:
            return "revoked"
        if core.clock.now() >= inv.expires_at:
            return "expired"
        session = await s.get(MediationSession, inv.session_id)
        if session is None or session.status == SessionStatus.ended.value:
            return "session_ended"
    return "unknown"


async def logout(core: Core, cookie_token: str | None) -> None:
    if not cookie_token:
        return
    async with core.db.write() as s:
        await s.execute(delete(WebSession).where(WebSession.token_hash == _hash(cookie_token)))
