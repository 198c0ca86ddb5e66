"""Signing in: staff passwords (rate limited), invitation links, and browser sessions."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from server.config import Settings
from server.domain.access import Principal, PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.actors import Actor
from server.domain.errors import InvalidToken, RateLimited, Unauthenticated
from server.domain.grants import SessionRole
from server.storage import accounts as stored_accounts
from server.storage import invitations as stored_invitations
from server.storage import signin as stored
from server.storage.accounts import AccountRecord
from server.storage.base import Tx
from server.storage.invitations import InvitationRecord

from . import eventlog, invitations
from .core import Core

# Sign-in throttling, after OWASP's Authentication Cheat Sheet ("Login Throttling"): three
# counters, none of which can keep the owner of a username out for long from elsewhere.
# - One username from one address: login_max_failures tries in a window, then that address
#   waits the window out for that username. This is where a guesser sits, so it is tight.
# - One address, any username: ADDRESS_FACTOR times as many (a village office shares one address).
# - One username, any address: USER_FACTOR times as many, then each further try waits a delay
#   that doubles from USER_DELAY_FIRST_SECONDS up to USER_DELAY_CAP_SECONDS. Loose, because
#   anyone can fail for any username; it is what slows a guesser with many addresses.
# A counter is forgotten once it has been quiet for a window.
ADDRESS_FACTOR = 4
USER_FACTOR = 2
USER_DELAY_FIRST_SECONDS = 1
USER_DELAY_CAP_SECONDS = 120


@dataclass(frozen=True)
class BrowserSession:
    token: str  # goes into the cookie; never stored
    csrf_token: str
    principal: Principal


@dataclass(frozen=True)
class _Throttle:
    """One counter a sign-in is counted against, and how it slows tries once it is full."""

    key: str
    free: int  # tries counted before any wait
    doubling: bool  # waits double up to the cap; otherwise each is the whole window
    forgive_earlier: bool  # a success wipes the tries counted before it; otherwise only its own

    def wait_after(self, hits: int, window: timedelta) -> timedelta | None:
        """How long the next try waits after the `hits`-th, if at all."""
        if hits < self.free:
            return None
        if not self.doubling:
            return window
        seconds = min(USER_DELAY_FIRST_SECONDS * 2 ** min(hits - self.free, 32), USER_DELAY_CAP_SECONDS)
        return min(timedelta(seconds=seconds), window)


def _throttles(settings: Settings, username: str, address: str) -> tuple[_Throttle, ...]:
    # Always taken in this order (pair, address, username): concurrent sign-ins lock the rows
    # in one order, so on PostgreSQL they queue for each other and never deadlock.
    n = settings.login_max_failures
    return (
        _Throttle(f"pair:{username}|{address}", n, doubling=False, forgive_earlier=True),
        _Throttle(f"addr:{address}", n * ADDRESS_FACTOR, doubling=False, forgive_earlier=False),
        _Throttle(f"user:{username}", n * USER_FACTOR, doubling=True, forgive_earlier=True),
    )


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _take(tx: Tx, t: _Throttle, now: datetime, window: timedelta) -> int:
    """Count one try against `t` and return its count; RateLimited while `t` makes tries wait.
    A refused try changes nothing."""
    hits = await stored.count_try(tx, t.key, now, window)
    if hits is None:
        until = await stored.blocked_until(tx, t.key)
        # None only if another node, its clock ahead, has just pruned the row: try again soon.
        retry = max(1, math.ceil((until - now).total_seconds())) if until is not None else 1
        raise RateLimited(f"too many failed sign-ins; try again in {retry} seconds", retry_after=retry)
    wait = t.wait_after(hits, window)
    if wait is not None:
        await stored.block(tx, t.key, now + wait)
    return hits


async def _forgive(tx: Tx, t: _Throttle, hits: int) -> None:
    """Take back a successful try's count (and, for `forgive_earlier`, every count before it)."""
    await stored.forgive(tx, t.key, hits if t.forgive_earlier else 1, unblock_below=t.free)


async def login(core: Core, username: str, password: str, address: str) -> BrowserSession:
    """A staff browser session for the right password; Unauthenticated, or RateLimited by the throttles."""
    username = (username or "").strip().lower()[:48]
    now = core.clock.now()
    window = timedelta(seconds=core.settings.login_window_seconds)
    throttles = _throttles(core.settings, username, address)
    # Count the try before the slow password check, so that concurrent tries cannot all get
    # through; a refusal from any counter rolls back the others.
    async with core.db.write() as tx:
        taken = [await _take(tx, t, now, window) for t in throttles]
        await stored.prune(tx, now, window)
    async with core.db.read() as tx:
        found = await stored_accounts.credentials(tx, username)
    ok = await core.passwords.verify(found.password_hash if found else None, password or "")
    if not ok or found is None or not found.account.active:
        raise Unauthenticated("wrong username or password")  # the try stays counted
    account = found.account
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = core.clock.now()
    async with core.db.write() as tx:
        for t, hits in zip(throttles, taken):
            await _forgive(tx, t, hits)
        await stored.add_web_session(
            tx,
            token_hash=_hash(token),
            kind=PrincipalKind.staff.value,
            account_id=account.id,
            csrf_token=csrf,
            now=now,
            expires_at=now + timedelta(hours=core.settings.staff_session_hours),
        )
    return BrowserSession(token, csrf, staff_principal(account))


async def open_invitation(
    core: Core, token: str, *, documents: bool = False
) -> tuple[BrowserSession, InvitationRecord]:
    """Exchange a join-link token for a browser session bound to that invitation only.
    documents=True: for the session's documents, which a signer's link reaches after the end too."""
    inv = await invitations.resolve(core, token, documents=documents)
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = core.clock.now()
    async with core.db.write() as tx:
        await stored.add_web_session(
            tx,
            token_hash=_hash(cookie),
            kind=PrincipalKind.invitation.value,
            invitation_id=inv.id,
            csrf_token=csrf,
            now=now,
            expires_at=inv.expires_at,
        )
        await eventlog.append(
            tx,
            case_id=inv.case_id,
            kind="invitation.opened",
            actor=Actor.invitation(inv.id),
            at=now,
            session_id=inv.session_id,
            data={"invitation_id": inv.id},
        )
    return BrowserSession(cookie, csrf, invitation_principal(inv)), inv


def staff_principal(account: AccountRecord) -> Principal:
    return Principal(
        kind=PrincipalKind.staff,
        display_name=account.display_name,
        account_id=account.id,
        staff_role=StaffRole(account.role),
        org_id=account.org_id,
        org_path=account.org.path,
    )


def invitation_principal(inv: InvitationRecord) -> Principal:
    return Principal(
        kind=PrincipalKind.invitation,
        display_name=inv.display_name,
        account_id=inv.account_id,
        invitation_id=inv.id,
        case_id=inv.case_id,
        session_id=inv.session_id,
        session_role=SessionRole(inv.role),
        direct_entry=bool(inv.direct_entry),
    )


async def authenticate(
    core: Core, cookie_token: str | None, kind: PrincipalKind, *, documents: bool = False
) -> tuple[Principal, str] | None:
    """The principal and CSRF token behind a cookie, or None when it is missing, expired or revoked.

    A join cookie ends with its session (the room, the socket); documents=True asks for the
    session's documents instead, which a signer's link still reaches after the end
    (grants.link_outlives_session)."""
    # Our tokens are short ASCII; anything else (e.g. undecodable bytes) names no session.
    if not cookie_token or len(cookie_token) > 100 or not cookie_token.isascii():
        return None
    now = core.clock.now()
    async with core.db.read() as tx:
        ws = await stored.web_session(tx, _hash(cookie_token))
        if ws is None or ws.kind != kind.value or now >= ws.expires_at:
            return None
        if ws.kind == PrincipalKind.staff.value:
            account = await stored_accounts.account_or_none(tx, ws.account_id)
            if account is None or not account.active:
                return None
            return staff_principal(account), ws.csrf_token
        inv = await stored_invitations.invitation_or_none(tx, ws.invitation_id)
        try:
            invitations.check_usable(core, inv)
        except InvalidToken:
            return None
        assert inv is not None
        # A link is for one session: once it has ended, the browser session ends with it, but
        # for the documents of those who sign them.
        state = await invitations.link_state(tx, inv)
        if state is invitations.LinkState.over or (state is invitations.LinkState.documents and not documents):
            return None
        return replace(invitation_principal(inv), after_session=state is invitations.LinkState.documents), ws.csrf_token


async def why_refused(core: Core, cookie_token: str | None) -> str:
    """Why a join cookie no longer signs anyone in, in INVALID_TOKEN_REASONS terms."""
    return (await refusal_of(core, cookie_token))[0]


async def refusal_of(core: Core, cookie_token: str | None) -> tuple[str, str | None]:
    """Why a join cookie no longer signs anyone in, and the session its link was for (None when
    the cookie names no invitation)."""
    if not cookie_token or len(cookie_token) > 100 or not cookie_token.isascii():
        return "unknown", None
    async with core.db.read() as tx:
        ws = await stored.web_session(tx, _hash(cookie_token))
        inv = await stored_invitations.invitation_or_none(tx, ws.invitation_id) if ws is not None else None
        if inv is None:
            return "unknown", None
        if inv.revoked_at is not None:
            return "revoked", inv.session_id
        if core.clock.now() >= inv.expires_at:
            return "expired", inv.session_id
        if await invitations.session_over(tx, inv):
            return "session_ended", inv.session_id
    return "unknown", inv.session_id


async def logout(core: Core, cookie_token: str | None) -> None:
    if not cookie_token:
        return
    async with core.db.write() as tx:
        await stored.end_web_session(tx, _hash(cookie_token))
