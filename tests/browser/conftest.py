"""Real Chromium with a fake camera and microphone, against a real Heshi server in this process.

Browser tests run on SQLite only: the stores are tested on both databases elsewhere, and three
browsers exchanging video are what these tests are for. Screenshots go to
test-artifacts/room/ (gitignored), to be looked at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from playwright.async_api import Browser, async_playwright

from server.app import create_app
from server.auth.passwords import Passwords
from server.config import Settings, load_settings
from server.domain.clock import SystemClock
from server.services.core import Core
from tests.conftest import TEST_SECRET
from tests.support.services import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


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
def port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, port: int) -> Settings:
    """Join links point at the port the browsers talk to."""
    return load_settings(env={}, data_dir=str(tmp_path / "data"), database_url=database_url,
                         secret_key=TEST_SECRET, public_url=f"http://127.0.0.1:{port}")


@pytest.fixture
async def core(settings: Settings, clock: SystemClock) -> AsyncIterator[Core]:
    c = Core.build(settings, clock=clock)
    c.passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield c
    await c.close()


@pytest.fixture
async def base_url(core: Core, port: int) -> AsyncIterator[str]:
    server = TestServer(create_app(core.settings, core=core), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()


@pytest.fixture
async def browser(base_url: str) -> AsyncIterator[Browser]:
    """Closed before the server (it depends on it): open WebSockets would hold the server's shutdown."""
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()
