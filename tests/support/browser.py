"""What every real-browser test shares: Debian's Chromium, its flags, and a server on a known port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

from server.app import create_app
from server.config import Settings, load_settings
from server.services.core import Core

from .services import free_port

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `playwright install` cannot download browsers here
# Without the background-networking flags Chromium keeps calling out of this closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Fake camera and microphone, granted without a prompt, and autoplay of remote media.
MEDIA_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@contextlib.asynccontextmanager
async def chromium(args: list[str], executable: str = CHROMIUM) -> AsyncIterator[Browser]:
    """Debian's Chromium under Playwright, closed on the way out."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=args)
        try:
            yield browser
        finally:
            await browser.close()


def settings_on_port(tmp_path: Path, database_url: str, port: int, secret_key: str) -> Settings:
    """Settings whose join links point at the port the browsers talk to."""
    return load_settings(
        env={},
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        secret_key=secret_key,
        public_url=f"http://127.0.0.1:{port}",
    )


# Fixtures for a Heshi server on a known loopback port; a test module or conftest brings
# them in with `from tests.support.browser import port, settings, base_url`.


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, port: int) -> Settings:
    from tests.conftest import TEST_SECRET

    return settings_on_port(tmp_path, database_url, port, TEST_SECRET)


@pytest.fixture
async def base_url(core: Core, port: int) -> AsyncIterator[str]:
    server = TestServer(create_app(core.settings, core=core), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()
