"""Invitations: one person, one session, one role, behind a signed, expiring, revocable token."""

from __future__ import annotations

from datetime import datetime, timedelta

from .errors import ValidationFailed
from .grants import LOBBY_BY_DEFAULT, PARTY_ROLES, SessionRole

DEFAULT_TTL = timedelta(days=7)
MIN_TTL = timedelta(minutes=1)
MAX_TTL = timedelta(days=90)


def check_invitation_fields(
    role: SessionRole, *, party_id: str | None, account_id: str | None, display_name: str | None
) -> None:
    """Parties are invited as a party of the case; staff by account; others by name."""
    if role in PARTY_ROLES and not party_id:
        raise ValidationFailed(
            f"an invitation for role '{role.value}' must name a party of the case", fields={"party_id": "required"}
        )
    if role not in PARTY_ROLES and party_id:
        raise ValidationFailed(f"role '{role.value}' is not a party role", fields={"party_id": "not_allowed"})
    if role is SessionRole.mediator and not account_id:
        raise ValidationFailed(
            "a mediator's invitation must be bound to a mediator account", fields={"account_id": "required"}
        )
    if not party_id and not account_id and not (display_name and display_name.strip()):
        raise ValidationFailed(
            "an invitation needs a party, an account or a display name", fields={"display_name": "required"}
        )


def default_direct_entry(role: SessionRole) -> bool:
    return role not in LOBBY_BY_DEFAULT


def expiry(now: datetime, ttl: timedelta | None) -> datetime:
    # `is None`, not `or`: a zero lifetime is an error, not a request for the default.
    ttl = DEFAULT_TTL if ttl is None else ttl
    if ttl < MIN_TTL or ttl > MAX_TTL:
        raise ValidationFailed(
            f"invitation lifetime must be between 1 minute and {MAX_TTL.days} days",
            fields={"ttl_hours": "out_of_range"},
        )
    return now + ttl
