"""Staff accounts."""

from __future__ import annotations

from server.domain.access import Principal, ensure_staff, ensure_staff_role
from server.domain.accounts import StaffRole, validate_password, validate_username
from server.domain.cases import normalise_phone
from server.domain.errors import ValidationFailed
from server.domain.orgs import in_subtree
from server.storage import accounts as stored
from server.storage.accounts import AccountRecord
from server.storage.base import Tx

from .core import Core


async def create_account(
    core: Core,
    p: Principal | None,
    *,
    username: str,
    display_name: str,
    role: StaffRole,
    org_id: str,
    password: str,
    phone: str | None = None,
) -> AccountRecord:
    """Create a staff account. `p` is None only for the CLI (operator authority)."""
    if p is not None:
        ensure_staff_role(p, StaffRole.admin)
    username = validate_username(username)
    validate_password(password)
    display_name = display_name.strip()
    if not display_name:
        raise ValidationFailed("display name is required", fields={"display_name": "required"})
    phone = normalise_phone(phone)
    password_hash = await core.passwords.hash(password)
    async with core.db.write() as tx:
        org = await stored.load_org(tx, org_id, field="org_id")
        return await stored.create_account(
            tx,
            username=username,
            display_name=display_name,
            role=role,
            org=org,
            password_hash=password_hash,
            phone=phone,
            now=core.clock.now(),
        )


async def list_accounts(
    core: Core, p: Principal, *, role: StaffRole | None = None, org_id: str | None = None
) -> list[AccountRecord]:
    """Admins see every account; other staff see their own org subtree, plus the experts of
    their whole org tree (the expert pool serves every committee under the same root)."""
    ensure_staff(p)
    async with core.db.read() as tx:
        rows = await stored.list_accounts(tx, roles=(role,) if role is not None else (), org_id=org_id)
    return _visible(p, rows)


async def invitable_in(tx: Tx, p: Principal, roles: tuple[StaffRole, ...]) -> list[AccountRecord]:
    """The accounts of `roles` the caller may see, as `list_accounts` would list them role by
    role in the order given, read in one statement inside the caller's transaction."""
    ensure_staff(p)
    rank = {r.value: i for i, r in enumerate(roles)}
    rows = _visible(p, await stored.list_accounts(tx, roles=roles))
    return sorted(rows, key=lambda a: rank[a.role])  # stable: each role keeps the listing's order


def _visible(p: Principal, rows: list[AccountRecord]) -> list[AccountRecord]:
    if p.is_admin:
        return rows
    if not p.org_path:
        return []
    root = "/" + p.org_path.strip("/").split("/")[0] + "/"
    return [
        a
        for a in rows
        if in_subtree(a.org.path, p.org_path) or (a.role == StaffRole.expert.value and in_subtree(a.org.path, root))
    ]


async def get_account(core: Core, account_id: str) -> AccountRecord:
    async with core.db.read() as tx:
        return await stored.load_account(tx, account_id)


async def find_account(core: Core, username: str) -> AccountRecord | None:
    async with core.db.read() as tx:
        return await stored.account_by_username(tx, username.strip().lower())
