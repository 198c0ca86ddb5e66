"""The staff sign-in page: language, CSRF, wrong passwords, rate limiting, safe redirects."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.pages.helpers import LOGIN_CSRF_COOKIE, STAFF_COOKIE, browser_sessions, cookie, csrf_field


async def _login_form(client, path="/login"):
    resp = await client.get(path)
    assert resp.status == 200
    return csrf_field(await resp.text())


async def _post_login(client, username, password, *, token, next_="/cases"):
    data = {"username": username, "password": password, "next": next_}
    if token is not None:
        data["csrf_token"] = token
    return await client.post("/login", data=data, allow_redirects=False)


async def test_sign_in_page_is_in_chinese_by_default(client):
    resp = await client.get("/login")
    page = await resp.text()
    assert resp.status == 200
    assert resp.headers["Content-Language"] == "zh-CN"
    assert '<html lang="zh-CN">' in page
    assert "工作人员登录" in page
    assert 'autocomplete="current-password"' in page
    assert cookie(client, LOGIN_CSRF_COOKIE)


async def test_signing_in_with_the_form_sets_the_staff_cookie_and_goes_to_next(client, world):
    target = f"/cases/{world.demo.case_id}"
    token = await _login_form(client, f"/login?next={target}")
    resp = await _post_login(client, "demo-mediator", world.passwords["demo-mediator"], token=token, next_=target)
    assert resp.status == 302
    assert resp.headers["Location"] == target
    assert resp.cookies[STAFF_COOKIE].value
    assert resp.cookies[STAFF_COOKIE]["httponly"]
    case_page = await client.get(target)
    assert case_page.status == 200
    assert world.demo.case_number in await case_page.text()


async def test_sign_in_without_a_valid_csrf_token_is_refused_and_signs_nobody_in(client, core, world):
    password = world.passwords["demo-mediator"]
    token = await _login_form(client)
    for wrong in (None, "", token[:-2] + "xx"):
        resp = await _post_login(client, "demo-mediator", password, token=wrong)
        assert resp.status == 403, wrong
        assert STAFF_COOKIE not in resp.cookies
    assert cookie(client, STAFF_COOKIE) is None
    assert await browser_sessions(core) == 0
    # No sign-in cookie at all (a form opened long ago, or posted from elsewhere): also refused.
    client.session.cookie_jar.clear()
    resp = await _post_login(client, "demo-mediator", password, token=token)
    assert resp.status == 403
    assert "登录页面已过期" in await resp.text()
    assert (await client.get("/cases", allow_redirects=False)).status == 302


async def test_a_wrong_password_shows_the_error_in_the_page_with_status_401(client, world):
    token = await _login_form(client)
    resp = await _post_login(client, "demo-mediator", "not-the-password", token=token)
    page = await resp.text()
    assert resp.status == 401
    assert "用户名或密码错误" in page
    assert 'value="demo-mediator"' in page  # the username is kept
    assert STAFF_COOKIE not in resp.cookies


async def test_five_failures_rate_limit_the_account_with_status_429_even_for_the_right_password(client, world):
    token = await _login_form(client)
    for _ in range(5):
        assert (await _post_login(client, "demo-mediator", "wrong-password", token=token)).status == 401
    resp = await _post_login(client, "demo-mediator", world.passwords["demo-mediator"], token=token)
    assert resp.status == 429
    assert int(resp.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in await resp.text()
    assert STAFF_COOKIE not in resp.cookies


async def test_next_parameters_pointing_to_other_sites_land_on_the_case_list(client, world):
    attempts = [
        "//evil.example",
        "https://evil.example",
        "/\\evil",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "evil.example",
    ]
    for attempt in attempts:
        client.session.cookie_jar.clear()
        form = await client.get("/login", params={"next": attempt})
        assert 'name="next" value="/cases"' in await form.text(), attempt
        resp = await _post_login(
            client,
            "demo-mediator",
            world.passwords["demo-mediator"],
            token=csrf_field(await form.text()),
            next_=attempt,
        )
        assert resp.status == 302, attempt
        assert resp.headers["Location"] == "/cases", attempt


async def test_signed_out_visits_to_staff_pages_redirect_to_sign_in_with_next(client, world):
    resp = await client.get("/cases?status=accepted", allow_redirects=False)
    assert resp.status == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/cases?status=accepted"]
    case_path = f"/cases/{world.demo.case_id}"
    resp = await client.get(case_path, allow_redirects=False)
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["next"] == [case_path]
    # The sign-in form carries `next` through, and signing in lands there.
    form = await client.get(resp.headers["Location"])
    resp = await _post_login(
        client, "demo-mediator", world.passwords["demo-mediator"], token=csrf_field(await form.text()), next_=case_path
    )
    assert resp.headers["Location"] == case_path
    assert (await client.get("/", allow_redirects=False)).headers["Location"] == "/cases"


async def test_signing_out_needs_the_csrf_token_and_ends_the_session(client, staff_client):
    csrf = await staff_client("demo-mediator")
    refused = await client.post("/logout", data={}, allow_redirects=False)
    assert refused.status == 403
    assert (await client.get("/cases", allow_redirects=False)).status == 200
    resp = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/login"
    assert (await client.get("/cases", allow_redirects=False)).status == 302
