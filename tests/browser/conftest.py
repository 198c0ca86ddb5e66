"""Real Chromium with a fake camera and microphone, against a real Heshi server in this process.

Browser tests run on SQLite only: the stores are tested on both databases elsewhere, and three
browsers exchanging video are what these tests are for. Screenshots go to
test-artifacts/room/ (gitignored), to be looked at.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from server.domain.clock import SystemClock
from tests.support.browser import CHROMIUM_ARGS as BROWSER_ARGS
from tests.support.browser import MEDIA_ARGS, base_url, chromium, port, settings  # noqa: F401 — fixtures

CHROMIUM_ARGS = [*BROWSER_ARGS, *MEDIA_ARGS]


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> Any:
    """SQLite only (see the module docstring)."""
    import shutil

    path = tmp_path / "heshi.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def clock() -> SystemClock:
    """Real time: rate limits refill, grace periods run, and WebRTC does not wait for a test's clock."""
    return SystemClock()


@pytest.fixture
async def browser(base_url: str) -> AsyncIterator[Browser]:
    """Closed before the server (it depends on it): open WebSockets would hold the server's shutdown."""
    async with chromium(CHROMIUM_ARGS) as b:
        yield b
