"""Helpers for domain tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.domain.errors import DomainError


def passes(check: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """True when a guard lets the call through, False when it refuses with a domain error."""
    try:
        check(*args, **kwargs)
    except DomainError:
        return False
    return True
