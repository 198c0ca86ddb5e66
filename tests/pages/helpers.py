"""Helpers for the page tests: sign in through the real form, read hidden fields, count rows."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from server.services.core import Core
from server.storage.models import Base, WebSession

STAFF_COOKIE = "heshi_session"
JOIN_COOKIE = "heshi_join"
LOGIN_CSRF_COOKIE = "heshi_login_csrf"
JOIN_CSRF_COOKIE = "heshi_join_csrf"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_field(page: str) -> str:
    """The value of the first hidden csrf_token field of a page."""
    match = _CSRF_FIELD.search(page)
    assert match, "the page has no csrf_token field"
    return html.unescape(match.group(1))


def path_of(link: str) -> str:
    """The path of an absolute join link (links carry the configured public URL)."""
    return urlsplit(link).path


def cookie(client: Any, name: str) -> str | None:
    """A cookie the test client's jar holds for the server, whatever its path."""
    for morsel in client.session.cookie_jar:
        if morsel.key == name and morsel.value:
            return morsel.value
    return None


async def sign_in(client: Any, username: str, password: str) -> str:
    """Sign in through the sign-in form; returns the CSRF token the staff pages carry."""
    form = await client.get("/login")
    assert form.status == 200
    resp = await client.post(
        "/login",
        data={
            "csrf_token": csrf_field(await form.text()),
            "username": username,
            "password": password,
            "next": "/cases",
        },
        allow_redirects=False,
    )
    assert resp.status == 302, await resp.text()
    page = await client.get("/cases")
    assert page.status == 200
    return csrf_field(await page.text())


async def enter_link(client: Any, path: str, **kw: Any) -> Any:
    """Open a join link's page and submit its form, as web/static/js/join.js does in a browser.

    A link that cannot be used shows no form: its form is then posted without a CSRF token,
    as a stale tab would."""
    page = await client.get(path, allow_redirects=False)
    match = _CSRF_FIELD.search(await page.text())
    data = {"csrf_token": html.unescape(match.group(1))} if match else None
    return await client.post(path, data=data, **kw)


async def count(core: Core, model: type[Base]) -> int:
    async with core.db.read() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def browser_sessions(core: Core) -> int:
    return await count(core, WebSession)
