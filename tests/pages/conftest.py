"""Fixtures of the page tests. Everything that takes `client` or `core` runs on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.pages.helpers import sign_in


@pytest.fixture
def staff_client(client: Any, world: Any) -> Callable[[str], Awaitable[str]]:
    """Sign the test client in as a demo account through the sign-in form; returns the page CSRF token."""

    async def signed_in(username: str = "demo-mediator") -> str:
        return await sign_in(client, username, world.passwords[username])

    return signed_in
