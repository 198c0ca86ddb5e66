"""Every response carries the security headers: pages, JSON, redirects, errors of every kind, files."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from server.app import create_app
from tests.pages.helpers import csrf_field

PAGE_CSP = "default-src 'self'"
OTHER_CSP = "default-src 'none'"


async def _boom(request: web.Request) -> web.StreamResponse:
    raise RuntimeError("a bug in a handler")


@pytest.fixture
async def app_client(aiohttp_client: Any, core: Any) -> Any:
    """The real app, plus two routes that fail the way a bug in a handler does."""
    app = create_app(core.settings, core=core)
    app.router.add_get("/test-only/boom", _boom)
    app.router.add_get("/api/v1/test-only/boom", _boom)
    return await aiohttp_client(app)


async def _bad_login_form(c: Any) -> Any:
    token = csrf_field(await (await c.get("/login")).text())
    return await c.post(
        "/login", data=f"csrf_token={token}&x=%zz", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )


# kind -> (request, expected status, expected content type)
KINDS: dict[str, tuple[Any, int, str]] = {
    "200 page": (lambda c: c.get("/login"), 200, "text/html"),
    "200 JSON": (lambda c: c.get("/healthz"), 200, "application/json"),
    "200 static file": (lambda c: c.get("/static/css/heshi.css"), 200, "text/css"),
    "200 static image": (lambda c: c.get("/static/img/heshi.svg"), 200, "image/svg+xml"),
    "302 redirect": (lambda c: c.get("/", allow_redirects=False), 302, ""),
    "302 redirect with a cookie": (lambda c: c.get("/lang/en", allow_redirects=False), 302, ""),
    "400 page": (_bad_login_form, 400, "text/html"),
    "401 JSON": (lambda c: c.get("/api/v1/cases"), 401, "application/json"),
    "401 join refusal page": (lambda c: c.get("/j/not-a-token"), 401, "text/html"),
    "403 page": (lambda c: c.post("/logout", headers={"Origin": "null"}), 403, "text/html"),
    "403 JSON": (lambda c: c.post("/api/v1/auth/logout", headers={"Origin": "null"}), 403, "application/json"),
    "404 page of an unknown path": (lambda c: c.get("/no-such-page"), 404, "text/html"),
    "404 JSON of an unknown API path": (lambda c: c.get("/api/v1/no-such-thing"), 404, "application/json"),
    # aiohttp's FileResponse answers this itself, with an empty body: not an error page.
    "404 static file": (lambda c: c.get("/static/no-such-file.css"), 404, ""),
    "405 page": (lambda c: c.get("/logout"), 405, "text/html"),
    "405 JSON": (lambda c: c.delete("/api/v1/cases"), 405, "application/json"),
    "413 page": (
        lambda c: c.post(
            "/login", data=b"a=" + b"x" * 1_100_000, headers={"Content-Type": "application/x-www-form-urlencoded"}
        ),
        413,
        "text/html",
    ),
    "413 JSON": (
        lambda c: c.post(
            "/api/v1/auth/login",
            data=b'{"a":"' + b"x" * 1_100_000 + b'"}',
            headers={"Content-Type": "application/json"},
        ),
        413,
        "application/json",
    ),
    "422 JSON": (lambda c: c.post("/api/v1/auth/login", json={"username": 1}), 422, "application/json"),
    "500 page": (lambda c: c.get("/test-only/boom"), 500, "text/html"),
    "500 JSON": (lambda c: c.get("/api/v1/test-only/boom"), 500, "application/json"),
}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_kind_of_response_carries_the_security_headers(kind, app_client):
    request, status, content_type = KINDS[kind]
    resp = await request(app_client)
    await resp.read()
    assert resp.status == status, (kind, resp.status)
    if content_type:
        assert resp.content_type == content_type, (kind, resp.content_type)
    h = resp.headers
    assert h.get("X-Content-Type-Options") == "nosniff", kind
    assert h.get("X-Frame-Options") == "DENY", kind
    assert h.get("Referrer-Policy") == "same-origin", kind
    assert "camera=(self)" in h.get("Permissions-Policy", ""), kind
    csp = h.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (kind, csp)
    # Pages get the page policy; anything else (JSON, files, redirects) may load and run nothing.
    assert csp.startswith(PAGE_CSP if resp.content_type == "text/html" else OTHER_CSP), (kind, csp)
    assert h.getall("Content-Security-Policy") == [csp], kind  # set once, never twice
