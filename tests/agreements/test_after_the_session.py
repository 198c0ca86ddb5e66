"""Signing after the session: "parties review the minutes and the agreement on their own device,
through their invitation link, in the room or after it". When the session ends, the room closes
for everyone; a party's link (applicant, respondent, agent: the roles that sign) still opens the
session's documents until it expires or is revoked, and nothing else. Everyone else's link ends
with the session. On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from yarl import URL

from server.domain.cases import CaseStatus
from server.domain.grants import ROLE_GRANTS, Grant, SessionRole, link_outlives_session
from server.domain.sessions import SessionStatus
from server.services import cases, invitations, sessions
from tests.api.conftest import V1, Caller, expect_error, party_ids
from tests.conftest import World
from tests.pages.helpers import JOIN_COOKIE, cookie, enter_link

from .conftest import LinkIn
from .helpers import SIGNATURE, term

ENDED_PAGE = "本次调解会话已结束。您仍可阅读并签署调解笔录和调解协议书。"


async def end_session(core: Any, world: World) -> None:
    mediator = world.principals["demo-mediator"]
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.live)
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.ended, "达成协议")


async def agreement(mediator: Caller, world: World, session_id: str | None = "demo") -> dict[str, Any]:
    """An agreement of the demo case, made in the demo session (or in `session_id`, or in none)."""
    body: dict[str, Any] = {"template": "medical", "terms": [term()], "matters": "护理是否存在过错及赔偿数额"}
    if session_id is not None:
        body["session_id"] = world.demo.session_id if session_id == "demo" else session_id
    return await mediator.ok("POST", f"{V1}/cases/{world.demo.case_id}/agreements", body, status=201)


def test_the_links_that_outlive_their_session_are_exactly_those_of_the_signers():
    assert {r for r in SessionRole if link_outlives_session(r)} == {
        SessionRole.applicant,
        SessionRole.respondent,
        SessionRole.agent,
    }
    assert all(link_outlives_session(r) == (Grant.sign in ROLE_GRANTS[r]) for r in SessionRole)


def test_a_link_outlives_only_a_session_that_was_held_in_a_case_with_documents_to_sign():
    party = SessionRole.applicant
    assert not link_outlives_session(party, held=False)  # cancelled: it has no documents
    for status in ("accepted", "mediating", "settled", "unsettled"):
        assert link_outlives_session(party, case_status=status)
    for status in ("registered", "declined", "withdrawn", "closed"):
        assert not link_outlives_session(party, case_status=status)


async def test_a_party_in_the_room_when_it_ended_signs_afterwards_with_the_same_browser(
    mediator, link_in: LinkIn, world, core
):
    made = await agreement(mediator, world)
    applicant = await link_in("applicant")
    await end_session(core, world)

    # The room is closed to them: the session page sends them to the documents instead.
    room = await applicant.get(f"/s/{world.demo.session_id}", allow_redirects=False)
    assert room.status == 302 and room.headers["Location"] == f"/s/{world.demo.session_id}/sign"
    home = await applicant.get("/", allow_redirects=False)
    assert home.headers["Location"] == f"/s/{world.demo.session_id}"
    page = await applicant.get(f"/s/{world.demo.session_id}/sign")
    assert page.status == 200 and "李秀英" in await page.text()

    # Reading and signing through the API work as in the room, and the signature is theirs.
    assert (await applicant.ok("GET", f"{V1}/agreements/{made['id']}"))["sha256"] == made["sha256"]
    assert (await applicant.ok("GET", f"{V1}/sessions/{world.demo.session_id}/minutes"))["revision"] == 0
    body = {"version_sha256": made["sha256"], "name": "李秀英", "image": SIGNATURE}
    signed = await applicant.ok("POST", f"{V1}/agreements/{made['id']}/signatures", body, status=201)
    assert signed["signature"]["signer_role"] == "applicant"
    # Reading is what a party could do before: the minutes are not theirs to write, then or now.
    put = await applicant.client.put(
        f"{V1}/sessions/{world.demo.session_id}/minutes",
        json={"result": "改写"},
        headers={"X-CSRF-Token": applicant.csrf, "If-Match": '"0"'},
    )
    await expect_error(put, 403, "forbidden")


async def test_a_party_who_opens_the_link_after_the_end_lands_on_the_documents(client, aiohttp_client, world, core):
    await end_session(core, world)
    browser = await aiohttp_client(client.server)
    path = URL(world.demo.links["respondent"]).path
    landing = await browser.get(path)
    text = await landing.text()
    assert landing.status == 200 and ENDED_PAGE in text and "阅读并签署文书" in text
    assert "进入调解室" not in text  # no promise of a room that is closed
    opened = await enter_link(browser, path, allow_redirects=False)
    assert opened.status == 302 and opened.headers["Location"] == f"/s/{world.demo.session_id}/sign"
    assert cookie(browser, JOIN_COOKIE)
    page = await browser.get(opened.headers["Location"])
    assert page.status == 200 and "清水镇卫生院" in await page.text()


async def test_the_links_of_those_who_do_not_sign_end_with_the_session(client, aiohttp_client, link_in, world, core):
    expert = await link_in("expert")  # in the room while it ran
    observer = await link_in("observer")
    await end_session(core, world)
    for caller in (expert, observer):
        await expect_error(await caller.get(f"{V1}/sessions/{world.demo.session_id}/minutes"), 401, "unauthenticated")
        page = await caller.get(f"/s/{world.demo.session_id}/sign", allow_redirects=False)
        assert page.status == 302 and page.headers["Location"].startswith("/login")
        room = await caller.get(f"/s/{world.demo.session_id}", allow_redirects=False)
        assert room.status == 401 and "本次调解会话已结束" in await room.text()
    fresh = await aiohttp_client(client.server)
    refused = await fresh.get(URL(world.demo.links["expert"]).path)
    assert refused.status == 401 and "本次调解会话已结束" in await refused.text()
    opened = await enter_link(fresh, URL(world.demo.links["expert"]).path, allow_redirects=False)
    assert opened.status == 401 and cookie(fresh, JOIN_COOKIE) is None


async def test_after_the_end_a_revoked_or_expired_party_link_opens_nothing(
    client, aiohttp_client, link_in: LinkIn, mediator, world, core, clock
):
    made = await agreement(mediator, world)
    applicant, respondent = await link_in("applicant"), await link_in("respondent")
    await end_session(core, world)
    claims = core.tokens.verify(URL(world.demo.links["applicant"]).path.rsplit("/", 1)[1], core.clock.now())
    await invitations.revoke(core, world.principals["demo-mediator"], claims.invitation_id, "发错了人")
    body = {"version_sha256": made["sha256"], "name": "李秀英", "image": SIGNATURE}
    await expect_error(await applicant.post(f"{V1}/agreements/{made['id']}/signatures", body), 401, "unauthenticated")
    room = await applicant.get(f"/s/{world.demo.session_id}", allow_redirects=False)
    assert room.status == 401 and "该邀请已被调解员撤销" in await room.text()
    landing = await (await aiohttp_client(client.server)).get(URL(world.demo.links["applicant"]).path)
    assert landing.status == 401

    clock.advance(hours=core.settings.invitation_ttl_hours, seconds=1)
    await expect_error(await respondent.get(f"{V1}/agreements/{made['id']}"), 401, "unauthenticated")
    page = await respondent.get(f"/s/{world.demo.session_id}/sign", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/login")


async def test_after_the_end_a_link_reaches_its_own_sessions_agreements_only(mediator, link_in: LinkIn, world, core):
    """During the session a party's link reads every agreement of the case; once the session is
    over, only those made in that session: it outlives its session for that session's documents."""
    mediator_p = world.principals["demo-mediator"]
    later = await sessions.schedule_session(
        core, mediator_p, world.demo.case_id, scheduled_at=core.clock.now() + timedelta(days=3), title="第二次"
    )
    own = await agreement(mediator, world)
    case_level = await agreement(mediator, world, session_id=None)
    other = await agreement(mediator, world, session_id=later.id)
    applicant = await link_in("applicant")
    listed = await applicant.ok("GET", f"{V1}/cases/{world.demo.case_id}/agreements")
    assert {a["id"] for a in listed["agreements"]} == {own["id"], case_level["id"], other["id"]}

    await end_session(core, world)
    listed = await applicant.ok("GET", f"{V1}/cases/{world.demo.case_id}/agreements")
    assert [a["id"] for a in listed["agreements"]] == [own["id"]]
    for made in (case_level, other):
        await expect_error(await applicant.get(f"{V1}/agreements/{made['id']}"), 404, "not_found")
        await expect_error(await applicant.get(f"{V1}/agreements/{made['id']}.pdf"), 404, "not_found")
        body = {"version_sha256": made["sha256"], "name": "李秀英", "image": SIGNATURE}
        await expect_error(await applicant.post(f"{V1}/agreements/{made['id']}/signatures", body), 404, "not_found")
    body = {"version_sha256": own["sha256"], "name": "李秀英", "image": SIGNATURE}
    await applicant.ok("POST", f"{V1}/agreements/{own['id']}/signatures", body, status=201)


async def test_a_cancelled_session_leaves_no_link_open(client, aiohttp_client, link_in: LinkIn, world, core):
    applicant = await link_in("applicant")
    mediator_p = world.principals["demo-mediator"]
    await sessions.set_session_status(core, mediator_p, world.demo.session_id, SessionStatus.ended, "改期")
    await expect_error(await applicant.get(f"{V1}/sessions/{world.demo.session_id}/minutes"), 401, "unauthenticated")
    fresh = await aiohttp_client(client.server)
    refused = await fresh.get(URL(world.demo.links["applicant"]).path)
    assert refused.status == 401 and "本次调解会话已结束" in await refused.text()


async def test_a_withdrawn_case_closes_the_links_and_takes_no_more_signatures(mediator, link_in: LinkIn, world, core):
    made = await agreement(mediator, world)
    applicant = await link_in("applicant")
    await end_session(core, world)
    mediator_p = world.principals["demo-mediator"]
    await cases.transition(core, mediator_p, world.demo.case_id, CaseStatus.mediating, None)
    await cases.transition(core, mediator_p, world.demo.case_id, CaseStatus.withdrawn, "申请人撤回")
    await expect_error(await applicant.get(f"{V1}/agreements/{made['id']}"), 401, "unauthenticated")
    body = {"version_sha256": made["sha256"], "name": "王建国", "image": SIGNATURE}
    refused = await expect_error(await mediator.post(f"{V1}/agreements/{made['id']}/signatures", body), 409, "conflict")
    assert "withdrawn" in refused["message"]


async def test_a_party_whose_link_was_lost_after_the_end_gets_a_new_one_for_the_documents(
    client, aiohttp_client, mediator, world, core
):
    await end_session(core, world)
    parties = await party_ids(core, world.demo.case_id)
    url = f"{V1}/sessions/{world.demo.session_id}/invitations"
    made = await mediator.ok("POST", url, {"role": "applicant", "party_id": parties["applicant"]}, status=201)
    browser = await aiohttp_client(client.server)
    opened = await enter_link(browser, URL(made["link"]).path, allow_redirects=False)
    assert opened.status == 302 and opened.headers["Location"] == f"/s/{world.demo.session_id}/sign"
    # Nobody else is invited to a session that is over.
    refused = await mediator.post(url, {"role": "observer", "display_name": "旁听"})
    await expect_error(refused, 409, "conflict")
