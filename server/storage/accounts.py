"""Orgs and staff accounts: named queries and writes.

Callers get `OrgRecord` and `AccountRecord`, never rows. An account's password hash is not
part of its record: only sign-in reads it, through `credentials`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from server.domain.accounts import StaffRole
from server.domain.errors import Conflict
from server.domain.orgs import OrgKind, OrgLevel, child_path

from .base import Tx, load
from .models import Account, Org, new_id


@dataclass(frozen=True, slots=True)
class OrgRecord:
    id: str
    parent_id: str | None
    path: str
    name: str
    code: str
    level: str | None
    kind: str
    created_at: datetime

    @classmethod
    def of(cls, o: Org) -> OrgRecord:
        return cls(o.id, o.parent_id, o.path, o.name, o.code, o.level, o.kind, o.created_at)


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: str
    username: str
    display_name: str
    role: str
    org_id: str
    phone: str | None
    active: bool
    created_at: datetime
    org: OrgRecord

    @classmethod
    def of(cls, a: Account, org: OrgRecord | None = None) -> AccountRecord:
        return cls(
            a.id,
            a.username,
            a.display_name,
            a.role,
            a.org_id,
            a.phone,
            a.active,
            a.created_at,
            org if org is not None else OrgRecord.of(a.org),
        )


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account with its password hash, for checking a sign-in."""

    account: AccountRecord
    password_hash: str


# ---- orgs ---------------------------------------------------------------------------------------


async def load_org(tx: Tx, org_id: str, *, what: str = "org", field: str | None = None) -> OrgRecord:
    """The org, or NotFound("<what> not found") (with `field` naming the input that pointed at it)."""
    return OrgRecord.of(await load(tx, Org, org_id, what, field=field))


async def org_by_code(tx: Tx, code: str) -> OrgRecord | None:
    """The org with exactly this code (codes are stored upper case), if any."""
    row = (await tx.execute(select(Org).where(Org.code == code))).scalar_one_or_none()
    return OrgRecord.of(row) if row is not None else None


async def list_orgs(tx: Tx, *, under: str | None = None) -> list[OrgRecord]:
    """Orgs in tree order (by path); with `under`, only those whose path starts with it."""
    q = select(Org).order_by(Org.path)
    if under is not None:
        q = q.where(Org.path.startswith(under, autoescape=True))
    return [OrgRecord.of(o) for o in (await tx.execute(q)).scalars()]


async def create_org(
    tx: Tx,
    *,
    name: str,
    code: str,
    kind: OrgKind,
    level: OrgLevel | None,
    parent: OrgRecord | None,
    now: datetime,
) -> OrgRecord:
    """Write a new org under `parent` (None: a root); Conflict when its code is in use."""
    org_id = new_id()
    row = Org(
        id=org_id,
        parent_id=parent.id if parent is not None else None,
        path=child_path(parent.path if parent is not None else None, org_id),
        name=name,
        code=code,
        kind=kind.value,
        level=level.value if level is not None else None,
        created_at=now,
    )
    tx.add(row)
    try:
        await tx.flush()
    except IntegrityError:
        raise Conflict(f"org code '{code}' is already in use", fields={"code": "taken"}) from None
    return OrgRecord.of(row)


@dataclass(frozen=True, slots=True)
class CourtRecord:
    """Where an org's judicial-confirmation packages go, and the HMAC secret that signs them."""

    endpoint: str
    secret: str
    name: str | None = None  # as the application addresses it; None: the court with jurisdiction


async def seal_of(tx: Tx, org_id: str) -> bytes | None:
    """The org's seal PNG, or None when none is set; NotFound for an unknown org."""
    await load(tx, Org, org_id, "org")
    return (await tx.execute(select(Org.seal_png).where(Org.id == org_id))).scalar_one()


async def set_seal(tx: Tx, org_id: str, png: bytes | None) -> None:
    """Set (or with None, clear) the org's seal PNG."""
    await load(tx, Org, org_id, "org")
    await tx.execute(update(Org).where(Org.id == org_id).values(seal_png=png))


async def court_of(tx: Tx, org_id: str) -> CourtRecord | None:
    """The org's court endpoint and secret, or None when not configured."""
    row = await load(tx, Org, org_id, "org")
    if not row.court_endpoint or not row.court_secret:
        return None
    return CourtRecord(row.court_endpoint, row.court_secret, row.court_name)


async def set_court(tx: Tx, org_id: str, endpoint: str | None, secret: str | None, name: str | None = None) -> None:
    """Set (or with None, clear) the org's court endpoint, secret and name."""
    row = await load(tx, Org, org_id, "org")
    row.court_endpoint = endpoint
    row.court_secret = secret
    row.court_name = name
    await tx.flush()


# ---- accounts -----------------------------------------------------------------------------------


async def load_account(tx: Tx, account_id: str, *, for_update: bool = False) -> AccountRecord:
    """The account, or NotFound("account not found")."""
    return AccountRecord.of(await load(tx, Account, account_id, "account", for_update=for_update))


async def account_or_none(tx: Tx, account_id: str | None) -> AccountRecord | None:
    """The account, or None: for callers to whom a missing account is not a 404."""
    row = await tx.get(Account, account_id) if account_id else None
    return AccountRecord.of(row) if row is not None else None


async def account_by_username(tx: Tx, username: str) -> AccountRecord | None:
    """The account with exactly this username (usernames are stored normalised), if any."""
    found = await credentials(tx, username)
    return found.account if found is not None else None


async def credentials(tx: Tx, username: str) -> Credentials | None:
    """The account with exactly this username and its password hash, if there is one."""
    row = (await tx.execute(select(Account).where(Account.username == username))).scalar_one_or_none()
    return Credentials(AccountRecord.of(row), row.password_hash) if row is not None else None


async def list_accounts(tx: Tx, *, roles: tuple[StaffRole, ...] = (), org_id: str | None = None) -> list[AccountRecord]:
    """Accounts ordered by their org's place in the tree, then username; with `roles`, only
    accounts of those roles, and with `org_id`, only that org's."""
    q = select(Account).join(Org, Account.org_id == Org.id).order_by(Org.path, Account.username)
    if roles:
        q = q.where(Account.role.in_([r.value for r in roles]))
    if org_id is not None:
        q = q.where(Account.org_id == org_id)
    return [AccountRecord.of(a) for a in (await tx.execute(q)).scalars()]


async def create_account(
    tx: Tx,
    *,
    username: str,
    display_name: str,
    role: StaffRole,
    org: OrgRecord,
    password_hash: str,
    phone: str | None,
    now: datetime,
) -> AccountRecord:
    """Write a new, active account in `org`; Conflict when the username is taken."""
    row = Account(
        username=username,
        display_name=display_name,
        role=role.value,
        org_id=org.id,
        password_hash=password_hash,
        phone=phone,
        active=True,
        created_at=now,
    )
    tx.add(row)
    try:
        await tx.flush()
    except IntegrityError:
        raise Conflict(f"username '{username}' is taken", fields={"username": "taken"}) from None
    return AccountRecord.of(row, org)


async def set_password(tx: Tx, account_id: str, password_hash: str) -> AccountRecord:
    """Give an account a new password hash; NotFound for an unknown account."""
    row = await load(tx, Account, account_id, "account", for_update=True)
    row.password_hash = password_hash
    await tx.flush()
    return AccountRecord.of(row)


async def set_active(tx: Tx, account_id: str, active: bool) -> AccountRecord:
    """Let an account sign in, or stop it; NotFound for an unknown account."""
    row = await load(tx, Account, account_id, "account", for_update=True)
    row.active = active
    await tx.flush()
    return AccountRecord.of(row)
