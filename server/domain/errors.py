"""Named domain errors. Each carries a stable wire code; the HTTP layer maps them in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user can cause. `code` is stable and goes on the wire."""

    code = "bad_request"
    http_status = 400

    def __init__(self, message: str, *, fields: dict[str, str] | None = None, **details: Any):
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.details = details


class ValidationFailed(DomainError):
    code = "invalid_input"
    http_status = 422


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Unauthenticated(DomainError):
    code = "unauthenticated"
    http_status = 401


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class InvalidTransition(Conflict):
    """A state machine was asked for a move it does not have."""

    code = "invalid_transition"

    def __init__(self, machine: str, current: str, target: str, allowed: list[str]):
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(
            f"{machine} cannot go from '{current}' to '{target}'; allowed from '{current}': {allowed_text}",
            current=current,
            target=target,
            allowed=allowed,
        )


class InvalidToken(DomainError):
    """An invitation token that is forged, tampered with, expired or revoked."""

    code = "invalid_token"
    http_status = 401

    def __init__(self, reason: str, message: str):
        super().__init__(message, reason=reason)
        self.reason = reason


class RateLimited(DomainError):
    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
