"""Fixtures of the page tests. Everything that takes `client` or `core` runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from argon2 import PasswordHasher

from server.auth.passwords import Passwords
from server.config import Settings
from server.domain.clock import FrozenClock
from server.services.core import Core
from tests.pages.helpers import sign_in


@pytest.fixture
def staff_client(client: Any, world: Any) -> Callable[[str], Awaitable[str]]:
    """Sign the test client in as a demo account through the sign-in form; returns the page CSRF token."""

    async def signed_in(username: str = "demo-mediator") -> str:
        return await sign_in(client, username, world.passwords[username])

    return signed_in


@pytest.fixture
async def core(settings: Settings, clock: FrozenClock) -> AsyncIterator[Core]:
    """The Core of tests/conftest.py with cheaper Argon2 parameters.

    Each page test builds the demo world (six accounts), and default Argon2 costs make that
    most of the suite's run time. The hashing is still real Argon2id, just lighter.
    """
    c = Core.build(settings, clock=clock)
    c.passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield c
    await c.close()
