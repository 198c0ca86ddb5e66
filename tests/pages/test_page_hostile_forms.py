"""Forms with bytes no database should see get a 4xx page, never a 500, on both backends."""

from __future__ import annotations

from server.storage.models import Case
from tests.pages.helpers import count, csrf_field

NUL = "bad\x00value"


async def test_a_nul_character_in_any_page_form_is_refused_with_a_4xx(client, core, world, staff_client):
    login = await client.get("/login")
    resp = await client.post(
        "/login",
        data={"csrf_token": csrf_field(await login.text()), "username": NUL, "password": "x"},
        allow_redirects=False,
    )
    assert 400 <= resp.status < 500, resp.status
    csrf = await staff_client("demo-mediator")
    before = await count(core, Case)
    posts = {
        "/cases/new": {
            "title": NUL,
            "dispute_type": "land",
            "source": "on_site",
            "party0_side": "applicant",
            "party0_name": "甲",
            "party1_side": "respondent",
            "party1_name": NUL,
        },
        f"/cases/{world.demo.case_id}/transition": {"to": "withdrawn", "note": NUL},
        f"/cases/{world.demo.case_id}/sessions": {"scheduled_at": "2026-12-01T09:00", "title": NUL},
        f"/sessions/{world.demo.session_id}/invitations": {"role": "observer", "display_name": NUL},
    }
    for path, form in posts.items():
        resp = await client.post(path, data={"csrf_token": csrf, **form}, allow_redirects=False)
        assert resp.status == 422, (path, resp.status)
        assert "不能包含" in await resp.text()
    assert await count(core, Case) == before


async def test_a_form_that_cannot_be_decoded_is_a_400_page(client, world, staff_client):
    csrf = await staff_client("demo-mediator")
    bodies = [
        (b"\xff\xfe=1&title=x&csrf_token=" + csrf.encode(), "application/x-www-form-urlencoded"),
        (b"title=x&csrf_token=" + csrf.encode(), "application/x-www-form-urlencoded; charset=bogus"),
        (b'--x\r\nContent-Disposition: form-data; name="title"\r\n\r\nabc\r\n', "multipart/form-data; boundary=x"),
    ]
    for path in ("/login", "/cases/new", f"/cases/{world.demo.case_id}/transition"):
        for body, content_type in bodies:
            resp = await client.post(path, data=body, headers={"Content-Type": content_type}, allow_redirects=False)
            assert resp.status == 400, (path, body, resp.status)
            assert "无法读取" in await resp.text()


async def test_undecodable_percent_escapes_are_replaced_not_stored_as_bytes(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    body = (
        "title=%FF%FE&dispute_type=land&source=on_site&party0_side=applicant&party0_name=%ED%A0%80"
        f"&party1_side=respondent&party1_name=b&csrf_token={csrf}"
    ).encode()
    resp = await client.post(
        "/cases/new", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False
    )
    assert resp.status == 302
    page = await client.get(resp.headers["Location"])
    assert page.status == 200
    assert "\ufffd" in await page.text()
