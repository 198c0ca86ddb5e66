"""Every page form answers a body it cannot read with a 400 page (413 when too large), never a 500.

Browsers only ever send well-formed urlencoded or multipart bodies; everything here comes from
a hand-made client. Each body is one way aiohttp's form parser fails (or parses something a page
form never sends, such as a file), and each form route must refuse all of them the same way.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import pytest

from server.storage.models import CaseEvent, LoginFailure, WebSession
from tests.pages.helpers import JOIN_COOKIE, LOGIN_CSRF_COOKIE, STAFF_COOKIE, cookie, count, csrf_field, path_of

MULTIPART = "multipart/form-data; boundary=x"
URLENCODED = "application/x-www-form-urlencoded"


def _part(name: str, value: bytes, *headers: bytes) -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
    return b"\r\n".join((b"--x", disposition, *headers, b"", value)) + b"\r\n"


def _multipart(csrf: str, *parts: bytes) -> bytes:
    """A multipart body with a valid CSRF token, so only the broken part can be the reason for a 400."""
    return _part("csrf_token", csrf.encode()) + b"".join(parts) + b"--x--\r\n"


# name -> (body made from the page's CSRF token, Content-Type, extra headers)
Body = tuple[Callable[[str], bytes], str, dict[str, str]]
BROKEN: dict[str, Body] = {
    "multipart without a boundary": (lambda t: _multipart(t), "multipart/form-data", {}),
    "a boundary longer than 70 characters": (lambda t: _multipart(t), "multipart/form-data; boundary=" + "b" * 71, {}),
    "a body with another boundary": (lambda t: _multipart(t).replace(b"--x", b"--y"), MULTIPART, {}),
    "a body that is not multipart at all": (lambda t: f"csrf_token={t}".encode(), MULTIPART, {}),
    "truncated inside a part's headers": (lambda t: b"--x\r\nContent-Disposition: form-da", MULTIPART, {}),
    "truncated inside a value": (lambda t: _part("csrf_token", t.encode())[:-6], MULTIPART, {}),
    "no closing boundary": (lambda t: _part("csrf_token", t.encode()), MULTIPART, {}),
    "a part without a name": (lambda t: _multipart(t, b"--x\r\nContent-Type: text/plain\r\n\r\nv\r\n"), MULTIPART, {}),
    "a part header that is no header": (lambda t: _multipart(t, _part("note", b"v", b"not a header")), MULTIPART, {}),
    "a part header over 8 KiB": (lambda t: _multipart(t, _part("note", b"v", b"X-Pad: " + b"a" * 9000)), MULTIPART, {}),
    "a part with 200 headers": (lambda t: _multipart(t, _part("note", b"v", *[b"X-Pad: 1"] * 200)), MULTIPART, {}),
    "a part in an unknown transfer encoding": (
        lambda t: _multipart(t, _part("note", b"v", b"Content-Transfer-Encoding: rot13")),
        MULTIPART,
        {},
    ),
    "a file part": (
        lambda t: _multipart(
            t,
            b'--x\r\nContent-Disposition: form-data; name="title"; filename="a.html"\r\n'
            b"Content-Type: text/html\r\n\r\n<script>alert(1)</script>\r\n",
        ),
        MULTIPART,
        {},
    ),
    "a binary part": (
        lambda t: _multipart(t, _part("title", b"\x89PNG", b"Content-Type: application/octet-stream")),
        MULTIPART,
        {},
    ),
    "a nested multipart part": (
        lambda t: _multipart(t, _part("note", b"--y\r\n\r\nv\r\n--y--", b"Content-Type: multipart/mixed; boundary=y")),
        MULTIPART,
        {},
    ),
    "a part in an unknown charset": (
        lambda t: _multipart(t, _part("note", b"v", b"Content-Type: text/plain; charset=bogus")),
        MULTIPART,
        {},
    ),
    "a part that is not UTF-8": (lambda t: _multipart(t, _part("note", "调解".encode("gb18030"))), MULTIPART, {}),
    "urlencoded in an unknown charset": (lambda t: f"csrf_token={t}".encode(), URLENCODED + "; charset=bogus", {}),
    "urlencoded bytes that are not UTF-8": (
        lambda t: f"csrf_token={t}&note=".encode() + "调解".encode("gb18030"),
        URLENCODED,
        {},
    ),
    "a percent sign not followed by two hex digits": (lambda t: f"csrf_token={t}&note=%zz".encode(), URLENCODED, {}),
    "a percent escape cut short": (lambda t: f"csrf_token={t}&note=%E4%B".encode(), URLENCODED, {}),
    "a lone percent sign at the end": (lambda t: f"csrf_token={t}&note=%".encode(), URLENCODED, {}),
    "a body said to be gzip that is not": (
        lambda t: f"csrf_token={t}".encode(),
        URLENCODED,
        {"Content-Encoding": "gzip"},
    ),
}
TOO_LARGE: dict[str, Body] = {
    "an urlencoded body over the limit": (
        lambda t: f"csrf_token={t}&note=".encode() + b"x" * 1_100_000,
        URLENCODED,
        {},
    ),
    "a multipart body over the limit": (lambda t: _multipart(t, _part("note", b"x" * 1_100_000)), MULTIPART, {}),
    "a gzip body that inflates over the limit": (
        lambda t: gzip.compress(f"csrf_token={t}&note=".encode() + b"x" * 1_100_000),
        URLENCODED,
        {"Content-Encoding": "gzip"},
    ),
}


def _join_path(world: Any) -> str:
    return path_of(world.demo.links["applicant"])


async def _revoke_path(core: Any, world: Any) -> str:
    token = _join_path(world).rsplit("/", 1)[1]
    return f"/invitations/{core.tokens.verify(token, core.clock.now()).invitation_id}/revoke"


# Every page route that reads a form: how to find its path, and who may post to it.
ROUTES: dict[str, Callable[[Any, Any], Any]] = {
    "login": lambda core, world: "/login",
    "logout": lambda core, world: "/logout",
    "case create": lambda core, world: "/cases/new",
    "case transition": lambda core, world: f"/cases/{world.demo.case_id}/transition",
    "session schedule": lambda core, world: f"/cases/{world.demo.case_id}/sessions",
    "invitation issue": lambda core, world: f"/sessions/{world.demo.session_id}/invitations",
    "invitation revoke": _revoke_path,
    "join form": lambda core, world: _join_path(world),
}


async def _prepare(route: str, client: Any, core: Any, world: Any, staff_client: Any) -> tuple[str, str]:
    """Stand where a browser stands just before posting the route's form: (path, CSRF token)."""
    path = ROUTES[route](core, world)
    if not isinstance(path, str):
        path = await path
    if route in ("login", "join form"):
        return path, csrf_field(await (await client.get(path)).text())
    return path, await staff_client("demo-mediator")


@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_form_body_that_cannot_be_read_is_a_400_page_on_every_form_route(
    route, client, core, world, staff_client
):
    path, csrf = await _prepare(route, client, core, world, staff_client)
    before = {name: cookie(client, name) for name in (STAFF_COOKIE, LOGIN_CSRF_COOKIE, JOIN_COOKIE)}
    rows = await _rows(core)
    wrong = {}
    for name, (body, content_type, headers) in BROKEN.items():
        resp = await client.post(
            path, data=body(csrf), headers={"Content-Type": content_type, **headers}, allow_redirects=False
        )
        text = await resp.text()
        if resp.status != 400 or resp.content_type != "text/html" or "无法读取提交的表单" not in text:
            wrong[name] = f"{resp.status} {resp.content_type}"
        # Nothing happened: still signed in (or not), no join cookie, no new sign-in form.
        assert {n: cookie(client, n) for n in before} == before, (route, name)
    assert not wrong, wrong
    assert await _rows(core) == rows, route


@pytest.mark.parametrize("route", list(ROUTES))
async def test_a_form_body_over_the_size_limit_is_a_413_page_on_every_form_route(
    route, client, core, world, staff_client
):
    path, csrf = await _prepare(route, client, core, world, staff_client)
    for name, (body, content_type, headers) in TOO_LARGE.items():
        resp = await client.post(
            path, data=body(csrf), headers={"Content-Type": content_type, **headers}, allow_redirects=False
        )
        text = await resp.text()
        assert resp.status == 413, (route, name, resp.status, text[:300])
        assert resp.content_type == "text/html", (route, name)
        assert "提交的数据过大" in text, (route, name, text[:300])
    assert cookie(client, JOIN_COOKIE) is None


async def _rows(core: Any) -> tuple[int, ...]:
    """What any of these forms would write: case log entries, browser sessions, failed sign-ins."""
    return tuple([await count(core, model) for model in (CaseEvent, WebSession, LoginFailure)])


async def test_a_body_aiohttp_cannot_decode_is_a_400_for_the_api_too(client):
    """The error middleware answers aiohttp's own body errors, whichever handler read the body."""
    resp = await client.post(
        "/api/v1/auth/login",
        data=b'{"username": "a", "password": "b"}',
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "bad_request"
