"""Unsafe requests from another origin, or from an opaque one (`Origin: null`), are refused everywhere.

Browsers send `Origin: null` from sandboxed iframes, data: URLs and some cross-site redirects:
none of them is one of our pages, so such a request changes nothing, even with a valid CSRF token.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.storage.models import CaseEvent, LoginFailure, WebSession
from tests.pages.helpers import STAFF_COOKIE, cookie, count, csrf_field, path_of

# Every page form, and one API call, with a body that would be accepted from our own origin.
FORMS: dict[str, Any] = {
    "login": lambda w: ("/login", {"username": "demo-mediator", "password": w.passwords["demo-mediator"]}),
    "logout": lambda w: ("/logout", {}),
    "case create": lambda w: (
        "/cases/new",
        {
            "title": "t",
            "dispute_type": "land",
            "source": "on_site",
            "party0_side": "applicant",
            "party0_name": "甲",
            "party1_side": "respondent",
            "party1_name": "乙",
        },
    ),
    "case transition": lambda w: (f"/cases/{w.demo.case_id}/transition", {"to": "withdrawn", "note": "撤回"}),
    "session schedule": lambda w: (f"/cases/{w.demo.case_id}/sessions", {"scheduled_at": "2026-12-01T09:00"}),
    "invitation issue": lambda w: (
        f"/sessions/{w.demo.session_id}/invitations",
        {"role": "observer", "display_name": "旁听"},
    ),
    "join form": lambda w: (path_of(w.demo.links["applicant"]), {}),
    "api": lambda w: (f"/api/v1/cases/{w.demo.case_id}/transitions", None),  # JSON, token in a header
}
ORIGINS = ["null", "https://evil.example", "http://heshi.test.evil.example"]


async def _rows(core: Any) -> tuple[int, ...]:
    return tuple([await count(core, model) for model in (CaseEvent, WebSession, LoginFailure)])


async def _post(client: Any, path: str, data: dict[str, str] | None, token: str, origin: str) -> Any:
    if data is None:
        return await client.post(
            path, json={"to": "withdrawn", "note": "撤回"}, headers={"X-CSRF-Token": token, "Origin": origin}
        )
    return await client.post(
        path, data={**data, "csrf_token": token}, headers={"Origin": origin}, allow_redirects=False
    )


@pytest.mark.parametrize("form", list(FORMS))
async def test_an_unsafe_request_from_another_or_an_opaque_origin_is_refused(form, client, core, world, staff_client):
    path, data = FORMS[form](world)
    if form in ("login", "join form"):
        token = csrf_field(await (await client.get(path)).text())
    else:
        token = await staff_client("demo-mediator")
    before, staff = await _rows(core), cookie(client, STAFF_COOKIE)
    for origin in ORIGINS:
        resp = await _post(client, path, data, token, origin)
        text = await resp.text()
        assert resp.status == 403, (form, origin, resp.status)
        assert ("application/json" if data is None else "text/html") in resp.content_type
        assert "Traceback" not in text
        assert await _rows(core) == before, origin
        assert cookie(client, STAFF_COOKIE) == staff, origin
    # The same request from our own pages goes through: it was refused for its origin alone.
    own = str(client.make_url("/")).rstrip("/")
    resp = await _post(client, path, data, token, own)
    assert resp.status in (200, 302), (form, resp.status, await resp.text())


async def test_a_safe_request_with_origin_null_is_served(client):
    """Only unsafe methods are refused: a GET from a sandboxed frame changes nothing."""
    resp = await client.get("/login", headers={"Origin": "null"})
    assert resp.status == 200
