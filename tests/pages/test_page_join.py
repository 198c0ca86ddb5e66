"""Join links: a valid link opens its one session; every unusable link is refused the same calm way."""

from __future__ import annotations

import base64
import secrets

from server.domain.grants import SessionRole
from server.domain.sessions import SessionStatus
from server.services import invitations, sessions
from tests.pages.helpers import JOIN_COOKIE, JOIN_CSRF_COOKIE, browser_sessions, cookie, csrf_field, enter_link, path_of


def _token(link: str) -> str:
    return path_of(link).rsplit("/", 1)[1]


def _flip(text: str, index: int) -> str:
    """Change one base64url character (the first characters of each part carry whole bytes)."""
    return text[:index] + ("B" if text[index] != "B" else "C") + text[index + 1 :]


async def _open(client, path):
    return await client.get(path, allow_redirects=False)


async def _enter(client, path):
    """What the join page's form does (web/static/js/join.js submits it by itself)."""
    return await enter_link(client, path, allow_redirects=False)


async def test_a_valid_link_opens_its_session_page_with_a_join_cookie(client, world):
    resp = await _enter(client, path_of(world.demo.links["applicant"]))
    assert resp.status == 302
    assert resp.headers["Location"] == f"/s/{world.demo.session_id}"
    morsel = resp.cookies[JOIN_COOKIE]
    assert morsel.value and morsel["httponly"] and morsel["samesite"] == "Lax"
    page_resp = await client.get(resp.headers["Location"])
    page = await page_resp.text()
    assert page_resp.status == 200
    assert page_resp.headers["Content-Language"] == "zh-CN"
    assert "第一次视频调解" in page
    assert "李秀英" in page and "申请人" in page  # the holder's name and role


async def test_the_session_page_shows_the_holder_nothing_of_the_parties_personal_data(client, world):
    for role, name in (("applicant", "李秀英"), ("respondent", "清水镇卫生院"), ("expert", "陈敏医生")):
        client.session.cookie_jar.clear()
        resp = await enter_link(client, path_of(world.demo.links[role]))
        page = await resp.text()
        assert resp.status == 200
        assert name in page
        for secret in (
            "13800138000",
            "138****8000",
            "50010119900101123X",
            "500***********123X",
            "023-65550000",
            "023****0000",
            "赵院长",
            "/j/",
            "qr.png",
            "/cases/",
        ):
            assert secret not in page, (role, secret)
        assert "退出登录" not in page  # no staff navigation


async def test_an_invitation_holder_gets_403_on_staff_pages_and_the_api(client, world):
    await enter_link(client, path_of(world.demo.links["applicant"]))
    for path in ("/cases", f"/cases/{world.demo.case_id}", "/cases/new"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 403, path
        assert "邀请链接只能进入其对应的调解会话" in await resp.text()
    api = await client.get("/api/v1/cases")
    assert api.status == 403
    assert (await api.json())["error"]["code"] == "forbidden"
    api = await client.get(f"/api/v1/cases/{world.demo.case_id}")
    assert api.status == 403
    resp = await client.post(f"/cases/{world.demo.case_id}/transition", data={"to": "mediating"}, allow_redirects=False)
    assert resp.status == 403
    # Another session of another case is not theirs either; the start page leads back to their own.
    assert (await _open(client, f"/s/{world.other_session_id}")).status == 403
    assert (await _open(client, "/")).headers["Location"] == f"/s/{world.demo.session_id}"


async def _assert_refused(client, core, path, explanation):
    before = await browser_sessions(core)
    for opened in (_open, _enter):  # the link's page, and its form
        resp = await opened(client, path)
        page = await resp.text()
        assert resp.status == 401, (path, page)
        assert resp.headers["Content-Language"] == "zh-CN"
        assert "此链接无法使用" in page
        assert explanation in page
        assert JOIN_COOKIE not in resp.cookies
    assert await browser_sessions(core) == before


async def test_an_expired_link_is_refused(client, core, clock, world):
    clock.advance(hours=core.settings.invitation_ttl_hours, seconds=1)
    await _assert_refused(client, core, path_of(world.demo.links["applicant"]), "该邀请链接已过期")


async def test_a_revoked_link_is_refused(client, core, world):
    token = _token(world.demo.links["respondent"])
    claims = core.tokens.verify(token, core.clock.now())
    await invitations.revoke(core, world.principals["demo-mediator"], claims.invitation_id, "发错了人")
    await _assert_refused(client, core, f"/j/{token}", "该邀请已被调解员撤销")


async def test_a_forged_link_of_the_right_shape_is_refused(client, core, world):
    def b64(n):
        return base64.urlsafe_b64encode(secrets.token_bytes(n)).rstrip(b"=").decode()

    forged = f"{b64(20)}.{b64(16)}"
    assert len(forged) == len(_token(world.demo.links["applicant"]))
    await _assert_refused(client, core, f"/j/{forged}", "该邀请链接已被改动")


async def test_a_tampered_link_is_refused(client, core, world):
    body, mac = _token(world.demo.links["applicant"]).split(".")
    await _assert_refused(client, core, f"/j/{body}.{_flip(mac, 0)}", "该邀请链接已被改动")
    await _assert_refused(client, core, f"/j/{_flip(body, 0)}.{mac}", "该邀请链接已被改动")
    # A token signed for another invitation cannot be re-pointed by editing its body.
    other_body = _token(world.demo.links["respondent"]).split(".")[0]
    await _assert_refused(client, core, f"/j/{other_body}.{mac}", "该邀请链接已被改动")


async def test_malformed_links_are_refused(client, core, world):
    valid = _token(world.demo.links["applicant"])
    for token in (
        "x",
        "not-a-token",
        "a.b.c",
        valid.replace(".", ""),
        valid[:-4],
        f"{valid}AAAA",
        "~" * 43,
        "A" * 200,
        "%E4%BD%A0%E5%A5%BD.%E5%A5%BD",
    ):
        await _assert_refused(client, core, f"/j/{token}", "这不是有效的邀请链接")


async def test_a_link_to_an_ended_session_is_refused(client, core, world):
    mediator = world.principals["demo-mediator"]
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.live)
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.ended)
    await _assert_refused(client, core, path_of(world.demo.links["expert"]), "本次调解会话已结束")


async def test_revoking_an_invitation_closes_a_session_page_already_open(client, core, world):
    await enter_link(client, path_of(world.demo.links["applicant"]))
    assert cookie(client, JOIN_COOKIE)
    page = await client.get(f"/s/{world.demo.session_id}", allow_redirects=False)
    assert page.status == 200
    claims = core.tokens.verify(_token(world.demo.links["applicant"]), core.clock.now())
    await invitations.revoke(core, world.principals["demo-mediator"], claims.invitation_id)
    resp = await client.get(f"/s/{world.demo.session_id}", allow_redirects=False)
    text = await resp.text()
    assert resp.status == 401
    assert "该邀请已被调解员撤销" in text  # says why: withdrawn, not merely "no longer valid"
    assert "李秀英" not in text and "第一次视频调解" not in text
    assert cookie(client, JOIN_COOKIE) is None  # the dead cookie is cleared
    assert (await client.get("/api/v1/cases")).status == 401


async def test_a_session_page_already_open_closes_when_the_session_ends(client, core, world):
    await enter_link(client, path_of(world.demo.links["expert"]))
    mediator = world.principals["demo-mediator"]
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.live)
    assert (await client.get(f"/s/{world.demo.session_id}")).status == 200
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.ended)
    resp = await client.get(f"/s/{world.demo.session_id}", allow_redirects=False)
    assert resp.status == 401
    assert "本次调解会话已结束" in await resp.text()


async def test_a_partys_session_page_turns_into_its_documents_when_the_session_ends(client, core, world):
    """The room closes for a party too; their link still opens what they have to sign
    (tests/agreements/test_after_the_session.py has the rest)."""
    await enter_link(client, path_of(world.demo.links["applicant"]))
    mediator = world.principals["demo-mediator"]
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.live)
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.ended)
    resp = await client.get(f"/s/{world.demo.session_id}", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == f"/s/{world.demo.session_id}/sign"


async def test_a_join_cookie_stops_working_when_its_link_expires(client, core, clock, world):
    await enter_link(client, path_of(world.demo.links["respondent"]))
    clock.advance(hours=core.settings.invitation_ttl_hours, seconds=1)
    resp = await client.get(f"/s/{world.demo.session_id}", allow_redirects=False)
    assert resp.status == 401
    assert "清水镇卫生院" not in await resp.text()


async def test_a_new_invitation_for_an_observer_opens_as_observer(client, core, world):
    inv = await invitations.issue(
        core,
        world.principals["demo-mediator"],
        world.demo.session_id,
        role=SessionRole.observer,
        display_name="桃花村村委会",
    )
    resp = await enter_link(client, path_of(invitations.link_for(core, inv)))
    page = await resp.text()
    assert resp.status == 200
    assert "桃花村村委会" in page and "旁听人员" in page


async def test_opening_a_link_changes_nothing_until_its_page_is_submitted(client, core, world):
    """Chat apps fetch links to draw previews: that fetch must not sign anyone in or log an opening."""
    from sqlalchemy import func, select

    from server.storage.models import CaseEvent

    async def openings() -> int:
        async with core.db.read() as s:
            return (
                await s.execute(
                    select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "invitation.opened")
                )
            ).scalar_one()

    path = path_of(world.demo.links["applicant"])
    before, logged = await browser_sessions(core), await openings()
    resp = await _open(client, path)
    page = await resp.text()
    assert resp.status == 200 and JOIN_COOKIE not in resp.cookies
    assert resp.headers["Cache-Control"] == "no-store"
    assert f'<form id="join-form" method="post" action="{path}"' in page
    assert '<script type="module" src="/static/js/join.js">' in page
    for private in ("李秀英", "清水镇卫生院", "医疗纠纷", "第一次视频调解"):
        assert private not in page, private  # a preview shows what the page says
    assert await browser_sessions(core) == before and await openings() == logged
    entered = await _enter(client, path)
    assert entered.status == 302 and entered.headers["Location"] == f"/s/{world.demo.session_id}"
    assert await openings() == logged + 1


async def _landing(client, world, role="applicant"):
    """Open a link's page as a browser does: (its path, the CSRF token of its form)."""
    path = path_of(world.demo.links[role])
    resp = await _open(client, path)
    assert resp.status == 200
    return path, csrf_field(await resp.text())


async def test_a_first_visit_gets_a_csrf_cookie_for_join_pages_only_and_the_same_token_in_the_form(client, world):
    assert not list(client.session.cookie_jar)  # a phone that has never seen the site
    resp = await _open(client, path_of(world.demo.links["applicant"]))
    morsel = resp.cookies[JOIN_CSRF_COOKIE]
    assert morsel["path"] == "/j/" and morsel["httponly"]
    # Lax, not Strict: the first page of a link opened from a chat app is a cross-site
    # navigation, and its own form must still carry the cookie (Lax cookies go with same-site POSTs).
    assert morsel["samesite"] == "Lax"
    assert csrf_field(await resp.text()) == morsel.value
    # A second link in another tab keeps the token, so the first tab's form still works.
    other = await _open(client, path_of(world.demo.links["respondent"]))
    assert JOIN_CSRF_COOKIE not in other.cookies or other.cookies[JOIN_CSRF_COOKIE].value == morsel.value
    assert csrf_field(await other.text()) == morsel.value
    entered = await client.post(
        path_of(world.demo.links["applicant"]), data={"csrf_token": morsel.value}, allow_redirects=False
    )
    assert entered.status == 302 and JOIN_COOKIE in entered.cookies


async def test_a_link_form_posted_from_another_site_is_refused(client, core, world):
    path, token = await _landing(client, world)
    before = await browser_sessions(core)
    for origin in ("https://evil.example", "http://heshi.test.evil.example", "null"):
        resp = await client.post(path, data={"csrf_token": token}, headers={"Origin": origin}, allow_redirects=False)
        assert resp.status == 403, origin
        assert JOIN_COOKIE not in resp.cookies
    assert await browser_sessions(core) == before
    assert (await client.post(path, data={"csrf_token": token}, allow_redirects=False)).status == 302


async def test_a_link_form_without_its_csrf_token_is_refused_and_asks_for_a_press(client, aiohttp_client, core, world):
    path, token = await _landing(client, world)
    before = await browser_sessions(core)
    stranger = await aiohttp_client(client.server)  # never opened the page: no cookie
    for who, data in (
        (client, None),
        (client, {"csrf_token": ""}),
        (client, {"csrf_token": token[:-1] + "x"}),
        (client, {"csrf_token": token + "x"}),
        (client, {"csrf_token": "令牌"}),
        (stranger, {"csrf_token": token}),
    ):
        resp = await who.post(path, data=data, allow_redirects=False)
        page = await resp.text()
        assert resp.status == 403, (data, page)
        assert JOIN_COOKIE not in resp.cookies
        assert "页面已过期" in page
        assert f'<form id="join-form" method="post" action="{path}"' in page
        # No script: a forged post must not be carried into the room by the page's own script.
        assert "join.js" not in page
    assert await browser_sessions(core) == before
    # Someone whose cookie was lost (a browser restarted with the tab) presses the button again and enters.
    refused = await stranger.post(path, data={"csrf_token": token}, allow_redirects=False)
    pressed = await stranger.post(path, data={"csrf_token": csrf_field(await refused.text())}, allow_redirects=False)
    assert pressed.status == 302 and JOIN_COOKIE in pressed.cookies
