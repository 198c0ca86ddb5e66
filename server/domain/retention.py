"""Retention of recordings and legal hold (issue 12): when a recording's files expire, and who
may say how long an org keeps them or put a case on hold.

An org keeps its recordings `recording_retention_days` days after each session ended (None:
until an admin sets a period). A session's files — its segments, and the one-file download
made of them — expire together, once the session ended more than that many days ago; never
while the case is on legal hold, and never for a session that has not ended. The case's own
org decides, not an org above it: "keep them" (None) must be sayable by every org.

| action                                 | admin | reviewer                       | mediator, expert |
|----------------------------------------|-------|--------------------------------|------------------|
| read an org's retention period         | ✓     | orgs of their subtree          | orgs of their subtree |
| set an org's retention period          | ✓     | –                              | –                |
| read a case's legal hold               | every staff member who may view the case                    |||
| put a case on legal hold, release it   | ✓     | cases in their org subtree     | –                |

A hold is a supervisory decision over the case's record, so the staff who supervise it (the
reviewers over its org) and admins make it; the mediator whose work the record shows does not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .access import CaseScope, Principal, PrincipalKind, ensure_staff_role, ensure_view_case
from .accounts import StaffRole
from .errors import Forbidden, ValidationFailed
from .orgs import in_subtree

MIN_DAYS = 1
MAX_DAYS = 36_500  # a hundred years: anything longer is a typing mistake, and "keep" is None
MAX_REASON = 500


def expires_at(ended_at: datetime | None, days: int | None) -> datetime | None:
    """When a session's recording expires: `days` after it ended; None when it is kept (the
    session has not ended, or the org keeps recordings)."""
    if ended_at is None or days is None:
        return None
    return ended_at + timedelta(days=days)


def is_expired(*, ended_at: datetime | None, days: int | None, legal_hold: bool, now: datetime) -> bool:
    """Whether retention deletes a session's recording files now: the session ended more than
    `days` days ago, and the case is not on legal hold."""
    if legal_hold:
        return False
    at = expires_at(ended_at, days)
    return at is not None and now > at


def check_days(days: int | None) -> int | None:
    """A retention period as an org stores it: whole days from MIN_DAYS to MAX_DAYS, or None."""
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValidationFailed("days: a whole number of days, or null to keep recordings", fields={"days": "invalid"})
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValidationFailed(
            f"days: from {MIN_DAYS} to {MAX_DAYS}, or null to keep recordings", fields={"days": "out_of_range"}
        )
    return days


def check_reason(reason: str) -> str:
    """Why a hold is set or released: said in words, at most MAX_REASON characters."""
    text = " ".join(reason.split())
    if not text:
        raise ValidationFailed("reason: say why (it goes into the case log)", fields={"reason": "required"})
    if len(text) > MAX_REASON:
        raise ValidationFailed(f"reason: at most {MAX_REASON} characters", fields={"reason": "too_long"})
    return text


def can_hold(p: Principal, scope: CaseScope) -> bool:
    """Put the case on legal hold or release it: admins, and reviewers whose subtree holds it."""
    if p.kind is not PrincipalKind.staff:
        return False
    if p.staff_role is StaffRole.admin:
        return True
    return p.staff_role is StaffRole.reviewer and p.org_path is not None and in_subtree(scope.org_path, p.org_path)


def ensure_hold(p: Principal, scope: CaseScope) -> None:
    """`can_hold`, or not found (a case the caller may not see) or forbidden (one they may)."""
    ensure_view_case(p, scope)
    if not can_hold(p, scope):
        raise Forbidden("only admins and the reviewers over the case's org put a case on legal hold or release it")


def ensure_set_retention(p: Principal) -> None:
    """An org's retention period is for admins to set."""
    ensure_staff_role(p, StaffRole.admin)
