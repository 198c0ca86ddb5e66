"""Choosing the language: Chinese by default, English on request, error pages included."""

from __future__ import annotations

import html
import uuid
from urllib.parse import parse_qs, urlsplit

from tests.pages.helpers import cookie


async def test_choosing_english_sets_the_cookie_and_the_page_is_english(client):
    resp = await client.get("/lang/en?next=/login", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/login"
    assert resp.cookies["heshi_lang"].value == "en"
    assert cookie(client, "heshi_lang") == "en"
    page_resp = await client.get("/login")
    page = await page_resp.text()
    assert page_resp.headers["Content-Language"] == "en"
    assert '<html lang="en">' in page
    assert "Staff sign-in" in page and "工作人员登录" not in page
    # The switch back offers Chinese, returning to the same page.
    assert 'href="/lang/zh?next=/login"' in page
    back = await client.get("/lang/zh?next=/login")
    assert "工作人员登录" in await back.text()


async def test_the_language_switch_returns_to_the_page_it_was_used_on(client, world):
    page = await (await client.get("/login?next=/cases%3Fstatus%3Daccepted")).text()
    switch = html.unescape(page.split('class="lang" href="', 1)[1].split('"', 1)[0])
    assert switch.startswith("/lang/en?next=")
    resp = await client.get(switch, allow_redirects=False)
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": ["/cases?status=accepted"]}
    page = await (await client.get(resp.headers["Location"])).text()
    assert 'name="next" value="/cases?status=accepted"' in page
    assert "Staff sign-in" in page


async def test_an_unknown_language_is_a_404_error_page(client):
    for lang in ("fr", "zh-TW", "EN"):
        resp = await client.get(f"/lang/{lang}?next=/login", allow_redirects=False)
        assert resp.status == 404, lang
        assert "未找到" in await resp.text()
        assert "heshi_lang" not in resp.cookies


async def test_the_language_switch_never_redirects_to_another_site(client):
    for target in ("//evil.example", "https://evil.example/", "/\\evil.example"):
        resp = await client.get("/lang/en", params={"next": target}, allow_redirects=False)
        assert resp.headers["Location"] == "/", target


async def test_error_pages_are_in_the_chosen_language(client, staff_client):
    await staff_client("demo-mediator")
    missing = f"/cases/{uuid.uuid4()}"
    resp = await client.get(missing)
    assert resp.status == 404
    assert resp.headers["Content-Language"] == "zh-CN"
    assert "未找到" in await resp.text()
    await client.get(f"/lang/en?next={missing}")
    resp = await client.get(missing)
    page = await resp.text()
    assert resp.status == 404
    assert resp.headers["Content-Language"] == "en"
    assert "Not found" in page and "未找到" not in page
    assert "Sign out" in page
    resp = await client.get("/cases/not-a-uuid")
    assert resp.status == 404
    assert "Not found" in await resp.text()


async def test_a_refused_join_link_is_explained_in_the_chosen_language(client, world):
    await client.get("/lang/en")
    resp = await client.get("/j/not-a-token")
    page = await resp.text()
    assert resp.status == 401
    assert "This link cannot be used" in page
    assert "This is not a valid invitation link" in page


async def test_the_lang_query_parameter_switches_one_page_only(client):
    page = await (await client.get("/login?lang=en")).text()
    assert "Staff sign-in" in page
    assert "工作人员登录" in await (await client.get("/login")).text()


async def test_form_errors_are_in_the_chosen_language(client, staff_client):
    csrf = await staff_client("demo-mediator")
    await client.get("/lang/en")
    resp = await client.post(
        "/cases/new",
        data={
            "csrf_token": csrf,
            "title": "T",
            "dispute_type": "",
            "source": "court",
            "party0_name": "A",
            "party0_side": "applicant",
            "party1_name": "B",
            "party1_side": "respondent",
        },
    )
    assert resp.status == 422
    page = await resp.text()
    assert "Could not save" in page and "Choose the dispute type." in page
