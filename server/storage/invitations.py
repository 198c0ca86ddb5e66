"""Invitations to a session: named queries and writes.

Whether an invitation may be issued, revoked or used is the services' and the domain's
question; this module stores the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .base import Tx, for_case, load
from .models import Invitation


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    id: str
    session_id: str
    case_id: str
    role: str
    party_id: str | None
    account_id: str | None
    display_name: str
    direct_entry: bool
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    created_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, i: Invitation) -> InvitationRecord:
        return cls(
            i.id,
            i.session_id,
            i.case_id,
            i.role,
            i.party_id,
            i.account_id,
            i.display_name,
            bool(i.direct_entry),
            i.expires_at,
            i.revoked_at,
            i.revoked_reason,
            i.created_by,
            i.created_at,
        )


async def load_invitation(tx: Tx, invitation_id: str, *, for_update: bool = False) -> InvitationRecord:
    """The invitation, or NotFound("invitation not found"); `for_update` locks it for a revocation."""
    return InvitationRecord.of(await load(tx, Invitation, invitation_id, "invitation", for_update=for_update))


async def invitation_or_none(tx: Tx, invitation_id: str | None) -> InvitationRecord | None:
    """The invitation, or None: for a link or a cookie, where a missing invitation is a refusal, not a 404."""
    row = await tx.get(Invitation, invitation_id) if invitation_id else None
    return InvitationRecord.of(row) if row is not None else None


async def invitations_of_case(tx: Tx, case_id: str) -> list[InvitationRecord]:
    """Every invitation to the sessions of a case, oldest first."""
    return [InvitationRecord.of(i) for i in await for_case(tx, Invitation, case_id, Invitation.created_at)]


async def create_invitation(
    tx: Tx,
    *,
    session_id: str,
    case_id: str,
    role: str,
    display_name: str,
    direct_entry: bool,
    expires_at: datetime,
    created_by: str | None,
    now: datetime,
    party_id: str | None = None,
    account_id: str | None = None,
) -> InvitationRecord:
    """Write a new invitation to a session of a case."""
    row = Invitation(
        session_id=session_id,
        case_id=case_id,
        role=role,
        party_id=party_id,
        account_id=account_id,
        display_name=display_name,
        direct_entry=direct_entry,
        expires_at=expires_at,
        created_by=created_by,
        created_at=now,
    )
    tx.add(row)
    await tx.flush()
    return InvitationRecord.of(row)


async def revoke(tx: Tx, invitation_id: str, *, at: datetime, reason: str | None) -> InvitationRecord:
    """Mark an invitation revoked at `at`, for `reason`; returns it as written."""
    row = await load(tx, Invitation, invitation_id, "invitation")
    row.revoked_at = at
    row.revoked_reason = reason
    await tx.flush()
    return InvitationRecord.of(row)
