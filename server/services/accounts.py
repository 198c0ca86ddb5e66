"""Staff accounts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.domain.access import Principal, ensure_staff, ensure_staff_role
from server.domain.accounts import StaffRole, validate_password, validate_username
from server.domain.cases import normalise_phone
from server.domain.errors import Conflict, NotFound, ValidationFailed
from server.domain.orgs import in_subtree
from server.storage.models import Account, Org

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
) -> Account:
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
    async with core.db.write() as s:
        if await s.get(Org, org_id) is None:
            raise NotFound("org not found", fields={"org_id": "not_found"})
        account = Account(
            username=username,
            display_name=display_name,
            role=role.value,
            org_id=org_id,
            password_hash=password_hash,
            phone=phone,
            active=True,
            created_at=core.clock.now(),
        )
        s.add(account)
        try:
            await s.flush()
        except IntegrityError:
            raise Conflict(f"username '{username}' is taken", fields={"username": "taken"}) from None
        await s.refresh(account, ["org"])
    return account


async def list_accounts(
    core: Core, p: Principal, *, role: StaffRole | None = None, org_id: str | None = None
) -> list[Account]:
    """Admins see every account; other staff see their own org subtree, plus the experts of
    their whole org tree (the expert pool serves every committee under the same root)."""
    ensure_staff(p)
    async with core.db.read() as s:
        q = select(Account).join(Org, Account.org_id == Org.id).order_by(Org.path, Account.username)
        if role is not None:
            q = q.where(Account.role == role.value)
        if org_id is not None:
            q = q.where(Account.org_id == org_id)
        rows = list((await s.execute(q)).scalars())
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


async def get_account(core: Core, account_id: str) -> Account:
    async with core.db.read() as s:
        account = await s.get(Account, account_id)
    if account is None:
        raise NotFound("account not found")
    return account


async def find_account(core: Core, username: str) -> Account | None:
    async with core.db.read() as s:
        return (
            await s.execute(select(Account).where(Account.username == username.strip().lower()))
        ).scalar_one_or_none()
