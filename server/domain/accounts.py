"""Staff accounts and their roles."""

from __future__ import annotations

import enum
import re

from .errors import ValidationFailed


class StaffRole(enum.StrEnum):
    admin = "admin"
    mediator = "mediator"
    expert = "expert"
    reviewer = "reviewer"


USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,47}$")
MIN_PASSWORD_LENGTH = 10


def validate_username(username: str) -> str:
    """Usernames are lower-case ASCII so that they can be typed on any phone keyboard."""
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise ValidationFailed(
            "username must be 2-48 characters: a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
            fields={"username": "invalid"},
        )
    return name


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters",
            fields={"password": "too_short"},
        )
    if len(password) > 256:
        raise ValidationFailed("password must be at most 256 characters", fields={"password": "too_long"})
    return password
