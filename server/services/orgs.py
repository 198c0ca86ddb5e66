"""Orgs: the tree of mediation organisations."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from server.domain.access import Principal, can_see_org, ensure_see_org, ensure_staff, ensure_staff_role
from server.domain.accounts import StaffRole
from server.domain.errors import NotFound, ValidationFailed
from server.domain.orgs import OrgKind, OrgLevel
from server.domain.signatures import Png
from server.storage import accounts as stored
from server.storage.accounts import OrgRecord

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
) -> OrgRecord:
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
    async with core.db.write() as tx:
        parent = None
        if parent_id is not None:
            parent = await stored.load_org(tx, parent_id, what="parent org", field="parent_id")
        return await stored.create_org(
            tx, name=name, code=code, kind=kind, level=level, parent=parent, now=core.clock.now()
        )


async def list_orgs(core: Core, p: Principal) -> list[OrgRecord]:
    """Orgs the caller may see: their own subtree; every org for admins."""
    ensure_staff(p)
    if not p.is_admin and not p.org_path:
        return []
    async with core.db.read() as tx:
        rows = await stored.list_orgs(tx, under=None if p.is_admin else p.org_path)
    return [o for o in rows if can_see_org(p, o.path)]  # the domain rule decides; the query only narrows


async def get_org(core: Core, p: Principal, org_id: str) -> OrgRecord:
    """One org the caller may see; an org outside their scope is not found."""
    org = await load_org(core, org_id)
    ensure_see_org(p, org.path)
    return org


async def load_org(core: Core, org_id: str) -> OrgRecord:
    """Load by id without an access check (the CLI, and services that checked already)."""
    async with core.db.read() as tx:
        return await stored.load_org(tx, org_id)


async def find_org_by_code(core: Core, code: str) -> OrgRecord:
    async with core.db.read() as tx:
        org = await stored.org_by_code(tx, code.strip().upper())
    if org is None:
        raise NotFound(f"no org with code '{code}'")
    return org


# ---- the seal on agreements and the court endpoint for judicial confirmation (admins) -----------

COURT_URL_RE = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
MAX_COURT_URL = 500
MIN_COURT_SECRET = 16
MAX_COURT_SECRET = 200
MAX_COURT_NAME = 100


@dataclass(frozen=True)
class OrgDocumentSettings:
    """What an org prints and sends: whether it has a seal, and its court endpoint (the secret
    is never handed back, only whether one is set)."""

    org_id: str
    has_seal: bool
    seal_sha256: str | None
    court_endpoint: str | None
    has_court_secret: bool
    court_name: str | None = None


async def _admin_org(core: Core, p: Principal, org_id: str) -> OrgRecord:
    ensure_staff_role(p, StaffRole.admin)
    return await get_org(core, p, org_id)


async def document_settings(core: Core, p: Principal, org_id: str) -> OrgDocumentSettings:
    """The org's seal and court settings, for someone who may see the org."""
    org = await get_org(core, p, org_id)
    async with core.db.read() as tx:
        seal = await stored.seal_of(tx, org.id)
        court = await stored.court_of(tx, org.id)
    return OrgDocumentSettings(
        org.id,
        seal is not None,
        hashlib.sha256(seal).hexdigest() if seal else None,
        court.endpoint if court else None,
        court is not None,
        court.name if court else None,
    )


async def set_seal(core: Core, p: Principal, org_id: str, seal: Png | None) -> OrgDocumentSettings:
    """Set the org's seal (a checked PNG), or clear it with None (admins)."""
    org = await _admin_org(core, p, org_id)
    async with core.db.write() as tx:
        await stored.set_seal(tx, org.id, seal.data if seal is not None else None)
    return await document_settings(core, p, org.id)


async def set_court(
    core: Core, p: Principal, org_id: str, *, endpoint: str | None, secret: str | None, name: str | None = None
) -> OrgDocumentSettings:
    """Set the org's court endpoint, HMAC secret and the court's name (as the application for
    judicial confirmation addresses it; none: 有管辖权的人民法院), or clear all three with
    endpoint None (admins)."""
    org = await _admin_org(core, p, org_id)
    name = (name or "").strip() or None
    if name is not None and len(name) > MAX_COURT_NAME:
        raise ValidationFailed(f"name: at most {MAX_COURT_NAME} characters", fields={"name": "too_long"})
    if endpoint is not None:
        endpoint = endpoint.strip()
        if len(endpoint) > MAX_COURT_URL or not COURT_URL_RE.match(endpoint):
            raise ValidationFailed(
                f"endpoint: an http(s) URL of at most {MAX_COURT_URL} characters", fields={"endpoint": "invalid"}
            )
        if secret is None or not (MIN_COURT_SECRET <= len(secret) <= MAX_COURT_SECRET):
            raise ValidationFailed(
                f"secret: {MIN_COURT_SECRET} to {MAX_COURT_SECRET} characters, shared with the court",
                fields={"secret": "invalid"},
            )
    async with core.db.write() as tx:
        if endpoint is None:
            await stored.set_court(tx, org.id, None, None, None)
        else:
            await stored.set_court(tx, org.id, endpoint, secret, name)
    return await document_settings(core, p, org.id)
