"""Signing in and out, CSRF, same-origin checks and login rate limiting, through the REST API."""

from __future__ import annotations

import asyncio
import json

from tests.api.conftest import V1, Caller, SignIn, cookie_value, db_state, expect_error, raw_request
from tests.services.builders import SlowVerify


async def test_signing_in_returns_the_account_and_a_csrf_token_and_sets_an_httponly_cookie(client, world):
    resp = await client.post(
        f"{V1}/auth/login", json={"username": "demo-mediator", "password": world.passwords["demo-mediator"]}
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["display_name"] == "王建国"
    assert body["role"] == "mediator"
    assert body["account_id"] == world.principals["demo-mediator"].account_id
    assert body["org_id"] == world.principals["demo-mediator"].org_id
    assert len(body["csrf_token"]) >= 20
    cookie = resp.cookies["heshi_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert "password" not in json.dumps(body)


async def test_usernames_are_matched_without_regard_to_case_or_surrounding_spaces(client, world):
    resp = await client.post(
        f"{V1}/auth/login", json={"username": "  Demo-Mediator ", "password": world.passwords["demo-mediator"]}
    )
    assert resp.status == 200
    assert (await resp.json())["role"] == "mediator"


async def test_me_reports_the_signed_in_account_and_the_csrf_token_of_its_session(mediator: Caller):
    body = await mediator.ok("GET", f"{V1}/auth/me")
    assert body["display_name"] == "王建国"
    assert body["role"] == "mediator"
    assert body["csrf_token"] == mediator.csrf


async def test_me_without_signing_in_is_401(client, world):
    await expect_error(await client.get(f"{V1}/auth/me"), 401, "unauthenticated")


async def test_a_wrong_password_and_an_unknown_username_get_the_same_401_and_no_cookie(client, world, core):
    before = await db_state(core)
    wrong = await client.post(f"{V1}/auth/login", json={"username": "demo-admin", "password": "not-the-password"})
    err_wrong = await expect_error(wrong, 401, "unauthenticated")
    unknown = await client.post(f"{V1}/auth/login", json={"username": "nobody-here", "password": "not-the-password"})
    err_unknown = await expect_error(unknown, 401, "unauthenticated")
    assert err_wrong["message"] == err_unknown["message"]  # no account enumeration
    assert "heshi_session" not in wrong.cookies and "heshi_session" not in unknown.cookies
    after = await db_state(core)
    assert after["web_sessions"] == before["web_sessions"]
    # Counters per username and address, per username and per address: the second shares the address's.
    assert after["login_failures"] == before["login_failures"] + 5


async def test_a_login_body_with_missing_or_wrong_fields_is_422_and_counts_no_failure(client, world, core):
    before = await db_state(core)
    await expect_error(
        await client.post(f"{V1}/auth/login", json={"username": "demo-admin"}),
        422,
        "invalid_input",
        fields=("password",),
    )
    await expect_error(
        await client.post(f"{V1}/auth/login", json={"username": 7, "password": ["x"]}),
        422,
        "invalid_input",
        fields=("username", "password"),
    )
    await expect_error(
        await client.post(f"{V1}/auth/login", json={"username": "u" * 49, "password": "p"}),
        422,
        "invalid_input",
        fields=("username",),
    )
    await expect_error(
        await client.post(f"{V1}/auth/login", json={"username": "demo-admin", "password": "x", "remember": True}),
        422,
        "invalid_input",
        fields=("remember",),
    )
    assert await db_state(core) == before


async def test_signing_out_deletes_the_session_so_the_old_cookie_no_longer_works(client, world, sign_in: SignIn):
    caller = await sign_in("demo-mediator")
    token = cookie_value(caller.client, "heshi_session")
    resp = await caller.post(f"{V1}/auth/logout")
    assert resp.status == 200
    assert await resp.json() == {"ok": True}
    assert resp.cookies["heshi_session"].value == ""  # told the browser to drop it
    replay = await client.get(f"{V1}/auth/me", cookies={"heshi_session": token})
    await expect_error(replay, 401, "unauthenticated")
    await expect_error(await client.get(f"{V1}/cases", cookies={"heshi_session": token}), 401, "unauthenticated")


async def test_signing_out_needs_the_csrf_token_and_without_it_the_session_survives(mediator: Caller):
    await expect_error(await mediator.client.post(f"{V1}/auth/logout"), 403, "forbidden")
    assert (await mediator.ok("GET", f"{V1}/auth/me"))["role"] == "mediator"


async def test_a_post_without_the_csrf_header_is_403_and_changes_nothing(mediator: Caller, core, world):
    before = await db_state(core)
    resp = await mediator.client.post(f"{V1}/cases/{world.demo.case_id}/transitions", json={"to": "mediating"})
    err = await expect_error(resp, 403, "forbidden")
    assert "csrf" in err["message"].lower()
    assert await db_state(core) == before


async def test_a_post_with_a_wrong_csrf_token_is_403_and_changes_nothing(
    mediator: Caller, sign_in: SignIn, core, world
):
    other = await sign_in("demo-admin")  # a real token, but of another session
    before = await db_state(core)
    for token in (other.csrf, "", mediator.csrf[:-1], mediator.csrf + "x", mediator.csrf.upper()):
        resp = await mediator.client.post(
            f"{V1}/cases/{world.demo.case_id}/transitions", json={"to": "mediating"}, headers={"X-CSRF-Token": token}
        )
        await expect_error(resp, 403, "forbidden")
    assert await db_state(core) == before


async def test_a_csrf_header_with_undecodable_bytes_is_403_not_a_server_error(mediator: Caller, core):
    before = await db_state(core)
    cookie = cookie_value(mediator.client, "heshi_session")
    status, body = await raw_request(
        mediator.client,
        (
            b"POST /api/v1/auth/logout HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n"
            b"Cookie: heshi_session=" + cookie.encode() + b"\r\nX-CSRF-Token: \xff\xfe\xfd\r\n\r\n"
        ),
    )
    assert status == 403, body
    assert json.loads(body)["error"]["code"] == "forbidden"
    assert await db_state(core) == before


async def test_a_session_cookie_with_undecodable_bytes_counts_as_signed_out(client, world):
    status, body = await raw_request(
        client,
        (
            b"GET /api/v1/cases HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
            b"Cookie: heshi_session=\xff\xfe\xfd\r\n\r\n"
        ),
    )
    assert status == 401, body
    assert json.loads(body)["error"]["code"] == "unauthenticated"


async def test_a_cross_origin_post_is_403_even_with_a_valid_csrf_token(mediator: Caller, core, world):
    before = await db_state(core)
    resp = await mediator.post(
        f"{V1}/cases/{world.demo.case_id}/transitions", {"to": "mediating"}, headers={"Origin": "http://evil.example"}
    )
    err = await expect_error(resp, 403, "forbidden")
    assert "evil.example" in err["message"]
    assert await db_state(core) == before


async def test_a_cross_origin_login_is_403_and_opens_no_session(client, world, core):
    before = await db_state(core)
    resp = await client.post(
        f"{V1}/auth/login",
        headers={"Origin": "http://evil.example"},
        json={"username": "demo-admin", "password": world.passwords["demo-admin"]},
    )
    await expect_error(resp, 403, "forbidden")
    assert "heshi_session" not in resp.cookies
    assert await db_state(core) == before


async def test_a_post_from_the_servers_own_origins_is_allowed(mediator: Caller, core, world):
    own = f"http://{mediator.client.host}:{mediator.client.port}"
    for origin in (own, core.settings.public_url):
        resp = await mediator.post(
            f"{V1}/cases/{world.demo.case_id}/parties",
            {"side": "applicant", "name": "王五"},
            headers={"Origin": origin},
        )
        assert resp.status == 201, (origin, await resp.text())


async def test_after_five_wrong_passwords_even_the_right_password_gets_429_with_retry_after(client, world, core):
    settings = core.settings
    assert settings.login_max_failures == 5
    for _ in range(settings.login_max_failures):
        resp = await client.post(f"{V1}/auth/login", json={"username": "demo-mediator", "password": "wrong-password"})
        await expect_error(resp, 401, "unauthenticated")
    right = {"username": "demo-mediator", "password": world.passwords["demo-mediator"]}
    resp = await client.post(f"{V1}/auth/login", json=right)
    await expect_error(resp, 429, "rate_limited")
    assert int(resp.headers["Retry-After"]) == settings.login_window_seconds  # the clock is frozen
    assert "heshi_session" not in resp.cookies
    # Different spelling of the same username is the same username.
    resp = await client.post(f"{V1}/auth/login", json={**right, "username": "DEMO-MEDIATOR"})
    await expect_error(resp, 429, "rate_limited")


async def test_the_login_limit_counts_down_and_lifts_once_the_window_has_passed(client, world, core, clock):
    window = core.settings.login_window_seconds
    for _ in range(core.settings.login_max_failures):
        await client.post(f"{V1}/auth/login", json={"username": "demo-mediator", "password": "wrong-password"})
    right = {"username": "demo-mediator", "password": world.passwords["demo-mediator"]}
    clock.advance(seconds=window - 300)
    resp = await client.post(f"{V1}/auth/login", json=right)
    await expect_error(resp, 429, "rate_limited")
    assert int(resp.headers["Retry-After"]) == 300
    clock.advance(seconds=300)  # exactly the window: the failures no longer count
    resp = await client.post(f"{V1}/auth/login", json=right)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["role"] == "mediator"


async def test_the_login_limit_of_one_username_does_not_lock_out_another(client, world):
    for _ in range(5):
        await client.post(f"{V1}/auth/login", json={"username": "demo-mediator", "password": "wrong-password"})
    resp = await client.post(
        f"{V1}/auth/login", json={"username": "demo-reviewer", "password": world.passwords["demo-reviewer"]}
    )
    assert resp.status == 200, await resp.text()


async def test_a_successful_sign_in_clears_the_earlier_failures_of_that_username(client, world):
    right = {"username": "demo-mediator", "password": world.passwords["demo-mediator"]}
    for _ in range(4):
        await client.post(f"{V1}/auth/login", json={**right, "password": "wrong-password"})
    assert (await client.post(f"{V1}/auth/login", json=right)).status == 200
    for _ in range(4):
        await client.post(f"{V1}/auth/login", json={**right, "password": "wrong-password"})
    assert (await client.post(f"{V1}/auth/login", json=right)).status == 200


async def test_twelve_concurrent_wrong_passwords_get_five_401s_and_seven_429s(client, world, core):
    core.passwords = SlowVerify()
    wrong = {"username": "demo-mediator", "password": "wrong-password"}
    responses = await asyncio.gather(*(client.post(f"{V1}/auth/login", json=wrong) for _ in range(12)))
    assert sorted(r.status for r in responses) == [401] * 5 + [429] * 7
    for resp in responses:
        await expect_error(resp, resp.status, "unauthenticated" if resp.status == 401 else "rate_limited")
        if resp.status == 429:
            assert int(resp.headers["Retry-After"]) == core.settings.login_window_seconds
    resp = await client.post(f"{V1}/auth/login", json={**wrong, "password": world.passwords["demo-mediator"]})
    await expect_error(resp, 429, "rate_limited")
