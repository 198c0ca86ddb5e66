"""The room page: who gets it, what it hands the browser code, and the browser code's messages."""

from __future__ import annotations

import json
import re

from tests.pages.helpers import enter_link, path_of, sign_in

CATALOG = re.compile(r'<script type="application/json" id="i18n-catalog">(.*?)</script>', re.S)


def _room(page: str) -> dict[str, str]:
    """The data attributes of the room element."""
    tag = re.search(r'<div id="room"[^>]*>', page, re.S)
    assert tag, "no room on the page"
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag.group(0)))


async def test_an_invitation_link_opens_the_room_in_its_role(client, world, settings):
    resp = await enter_link(client, path_of(world.demo.links["applicant"]))
    page = await resp.text()
    assert resp.status == 200
    room = _room(page)
    assert room["session-id"] == world.demo.session_id
    assert room["role"] == "applicant"
    assert set(room["grants"].split()) >= {"publish", "chat"} and "moderate" not in room["grants"]
    assert room["video-max-kbps"] == str(settings.video_max_kbps) == "500"
    assert resp.headers["Cache-Control"] == "no-store"
    assert '<script type="module" src="/static/js/room/main.js"></script>' in page
    # The page's only inline script is data, which the CSP's script-src 'self' does not run.
    assert re.findall(r"<script(?![^>]*(?:src=|type=\"application/json\"))", page) == []
    catalog = json.loads(CATALOG.search(page).group(1))
    assert catalog["Unmute"] == "解除静音"
    assert 'id="moderation' not in page and 'id="admit-all"' not in page  # no mediator controls


async def test_the_mediator_gets_the_lobby_controls_and_an_observer_no_sending(client, world, core):
    from server.domain.grants import SessionRole
    from server.services import invitations

    page = await (await enter_link(client, path_of(world.demo.links["mediator"]))).text()
    assert _room(page)["role"] == "mediator" and "moderate" in _room(page)["grants"]
    assert 'id="admit-all"' in page and 'id="mic-button"' in page
    client.session.cookie_jar.clear()
    inv = await invitations.issue(
        core,
        world.principals["demo-mediator"],
        world.demo.session_id,
        role=SessionRole.observer,
        display_name="桃花村村委会",
    )
    page = await (await enter_link(client, path_of(invitations.link_for(core, inv)))).text()
    assert _room(page)["role"] == "observer"
    assert 'id="mic-button"' not in page and 'id="chat-form"' not in page
    assert "旁听人员可以查看聊天，但不能发言。" in page


async def test_staff_who_run_the_case_get_the_room_and_other_staff_a_summary(client, world):
    await sign_in(client, "demo-mediator", world.passwords["demo-mediator"])
    page = await (await client.get(f"/s/{world.demo.session_id}")).text()
    assert _room(page)["role"] == "mediator"
    assert f'href="/cases/{world.demo.case_id}"' in page  # back to the case
    client.session.cookie_jar.clear()
    await sign_in(client, "demo-reviewer", world.passwords["demo-reviewer"])
    resp = await client.get(f"/s/{world.demo.session_id}")
    page = await resp.text()
    assert resp.status == 200
    assert 'id="room"' not in page and "第一次视频调解" in page


async def test_the_browser_code_catalog_is_served_per_language(client):
    zh = await client.get("/i18n/zh.json")
    assert zh.status == 200
    assert (await zh.json())["Leave the session?"] == "离开会话？"
    en = await client.get("/i18n/en.json")
    assert await en.json() == {}  # message ids are English
    assert (await client.get("/i18n/fr.json")).status == 404


async def test_the_room_page_is_english_on_request(client, world):
    await enter_link(client, path_of(world.demo.links["respondent"]))
    page = await (await client.get(f"/s/{world.demo.session_id}?lang=en")).text()
    assert "Join the session" in page and "进入调解会话" not in page
    assert json.loads(CATALOG.search(page).group(1)) == {}
