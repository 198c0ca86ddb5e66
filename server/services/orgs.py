"""Orgs: the tree of mediation organisations."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.domain.access import Principal, can_see_org, ensure_see_org, ensure_staff, ensure_staff_role
from server.domain.accounts import StaffRole
from server.domain.errors import Conflict, NotFound, ValidationFailed
from server.domain.orgs import OrgKind, OrgLevel, child_path
from server.storage.models import Org, new_id

from .core import Core

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")


async def create_org(
    core: Core,
    p: Principal | None,
    *,
    name: str,
    code: str,
    kind: OrgKind,
    level: OrgLevel | None = None,
    parent_id: str | None = None,
) -> Org:
    """Create an org. `p` is None only for the CLI, which runs with the operator's authority."""
    if p is not None:
        ensure_staff_role(p, StaffRole.admin)
    name = name.strip()
    code = code.strip().upper()
    if not name:
        raise ValidationFailed("org name is required", fields={"name": "required"})
    if not CODE_RE.match(code):
        raise ValidationFailed(
            "org code must be 1-32 characters of A-Z, 0-9 and '-'; it prefixes case numbers", fields={"code": "invalid"}
        )
    async with core.db.write() as s:
        parent_path = None
        if parent_id is not None:
            parent = await s.get(Org, parent_id)
            if parent is None:
                raise NotFound("parent org not found", fields={"parent_id": "not_found"})
            parent_path = parent.path
        org_id = new_id()
        org = Org(
            id=org_id,
            parent_id=parent_id,
            path=child_path(parent_path, org_id),
            name=name,
            code=code,
            kind=kind.value,
            level=level.value if level else None,
            created_at=core.clock.now(),
        )
        s.add(org)
        try:
            await s.flush()
        except IntegrityError:
            raise Conflict(f"org code '{code}' is already in use", fields={"code": "taken"}) from None
    return org


async def list_orgs(core: Core, p: Principal) -> list[Org]:
    """Orgs the caller may see: their own subtree; every org for admins."""
    ensure_staff(p)
    async with core.db.read() as s:
        q = select(Org).order_by(Org.path)
        if not p.is_admin:
            q = q.where(Org.path.startswith(p.org_path or "\x00", autoescape=True))
        rows = list((await s.execute(q)).scalars())
    return [o for o in rows if can_see_org(p, o.path)]  # the domain rule decides; the query only narrows


async def get_org(core: Core, p: Principal, org_id: str) -> Org:
    """One org the caller may see; an org outside their scope is not found."""
    org = await load_org(core, org_id)
    ensure_see_org(p, org.path)
    return org


async def load_org(core: Core, org_id: str) -> Org:
    """Load by id without an access check (the CLI, and services that checked already)."""
    async with core.db.read() as s:
        org = await s.get(Org, org_id)
    if org is None:
        raise NotFound("org not found")
    return org


async def find_org_by_code(core: Core, code: str) -> Org:
    async with core.db.read() as s:
        org = (await s.execute(select(Org).where(Org.code == code.strip().upper()))).scalar_one_or_none()
    if org is None:
        raise NotFound(f"no org with code '{code}'")
    return org
