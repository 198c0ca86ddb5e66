"""Who can see and change which case: the scope rules, as pure functions.

A case outside a caller's scope is reported as not found, so that a probe cannot learn
which case IDs exist in other orgs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .accounts import StaffRole
from .errors import Forbidden, NotFound
from .grants import Grant, SessionRole, ensure_grant
from .orgs import in_subtree


class PrincipalKind(enum.StrEnum):
    staff = "staff"
    invitation = "invitation"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as established by the server-side session; never from request fields."""

    kind: PrincipalKind
    display_name: str
    account_id: str | None = None
    staff_role: StaffRole | None = None
    org_id: str | None = None
    org_path: str | None = None
    # Invitation holders are bound to exactly one case, session and role.
    invitation_id: str | None = None
    case_id: str | None = None
    session_id: str | None = None
    session_role: SessionRole | None = None
    direct_entry: bool = False  # the invitation lets its holder past the lobby
    # A party's link whose session has ended (grants.link_outlives_session): it reaches that
    # session's documents and nothing else of the case.
    after_session: bool = False
    # Set when the system itself acts with this principal's rights (`heshi demo` acts as the demo
    # mediator): the case log then names `system:<reason>`, not the account (actors.Actor.of).
    system_reason: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind is PrincipalKind.staff

    @property
    def is_admin(self) -> bool:
        return self.staff_role is StaffRole.admin


@dataclass(frozen=True)
class InvitedAccount:
    """A staff account bound to one session of the case by an invitation that is still valid
    (neither revoked nor expired: either one ends the access it gave)."""

    account_id: str
    session_id: str
    invitation_id: str


@dataclass(frozen=True)
class CaseScope:
    """The facts about a case that access rules need."""

    case_id: str
    org_path: str
    mediator_id: str | None
    # Accounts (experts, mediators from elsewhere) bound to the case by a valid invitation.
    invitations: tuple[InvitedAccount, ...] = ()

    @property
    def invited_account_ids(self) -> frozenset[str]:
        return frozenset(i.account_id for i in self.invitations)


def can_view_case(p: Principal, c: CaseScope) -> bool:
    if p.kind is PrincipalKind.invitation:
        return False  # invitation holders reach their session, never the case file
    if p.staff_role is StaffRole.admin:
        return True
    if p.staff_role is StaffRole.reviewer:
        return p.org_path is not None and in_subtree(c.org_path, p.org_path)
    if p.staff_role is StaffRole.mediator:
        return c.org_path == p.org_path or c.mediator_id == p.account_id or p.account_id in c.invited_account_ids
    if p.staff_role is StaffRole.expert:
        return p.account_id in c.invited_account_ids
    return False


def can_manage_case(p: Principal, c: CaseScope) -> bool:
    """Manage = edit, transition, schedule sessions, issue and revoke invitations."""
    if p.kind is not PrincipalKind.staff:
        return False  # as in can_view_case: a role field never outranks the principal's kind
    if p.staff_role is StaffRole.admin:
        return True
    if p.staff_role is StaffRole.mediator:
        return c.org_path == p.org_path or c.mediator_id == p.account_id
    return False


def can_view_recordings(p: Principal, c: CaseScope) -> bool:
    """Recordings (DESIGN.md, roles table): the case's mediators, reviewers whose subtree holds
    the case, admins. An expert invited to the case reads the case, never its recordings."""
    if p.kind is not PrincipalKind.staff:
        return False
    if p.staff_role is StaffRole.reviewer:
        return p.org_path is not None and in_subtree(c.org_path, p.org_path)
    return can_manage_case(p, c)


def can_see_join_links(p: Principal, c: CaseScope) -> bool:
    """A join link lets its holder into the room as that person: only who runs the case sees it."""
    return can_manage_case(p, c)


def can_see_org(p: Principal, org_path: str) -> bool:
    """Orgs are scoped like cases: one's own subtree; everything for admins."""
    if p.kind is not PrincipalKind.staff:
        return False
    if p.staff_role is StaffRole.admin:
        return True
    return p.org_path is not None and in_subtree(org_path, p.org_path)


def ensure_view_case(p: Principal, c: CaseScope) -> None:
    if not can_view_case(p, c):
        raise NotFound("case not found")


def ensure_manage_case(p: Principal, c: CaseScope) -> None:
    ensure_view_case(p, c)
    if not can_manage_case(p, c):
        raise Forbidden("your role may read this case but not change it")


def ensure_view_recordings(p: Principal, c: CaseScope) -> None:
    ensure_view_case(p, c)
    if not can_view_recordings(p, c):
        raise Forbidden("only the case's mediators, its reviewers and admins may see its recordings")


def ensure_control_recording(p: Principal, c: CaseScope) -> None:
    """Starting and stopping recording is the mediator's decision: staff who manage the case act
    as its mediator, and the mediator's grants decide (the same check as in the room)."""
    ensure_view_case(p, c)
    if not can_manage_case(p, c):
        raise Forbidden("only the case's mediators start and stop its recording")
    ensure_grant(SessionRole.mediator, Grant.control_recording)


def ensure_see_org(p: Principal, org_path: str) -> None:
    if not can_see_org(p, org_path):
        raise NotFound("org not found")


def ensure_staff(p: Principal) -> None:
    if p.kind is not PrincipalKind.staff:
        raise Forbidden("an invitation link gives access to its session only")


def ensure_staff_role(p: Principal, *roles: StaffRole) -> None:
    ensure_staff(p)
    if p.staff_role not in roles:
        names = ", ".join(r.value for r in roles)
        raise Forbidden(f"only {names} accounts may do this")


def ensure_can_create_case_in(p: Principal, org_path: str) -> None:
    ensure_staff_role(p, StaffRole.admin, StaffRole.mediator)
    if p.staff_role is StaffRole.mediator and p.org_path != org_path:
        raise Forbidden("a mediator creates cases in their own org only")
