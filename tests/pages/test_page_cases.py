"""Staff case pages: the list, a case, creating a case, and the forms on the case page."""

from __future__ import annotations

from html import unescape

from sqlalchemy import select

from server.domain.cases import CaseSource, CaseStatus, DisputeType, PartyInput, PartySide
from server.domain.sessions import SessionStatus
from server.services import cases, sessions
from server.storage.models import Case, Invitation, MediationSession, Party
from tests.pages.helpers import count

FULL_PHONE = "13800138000"
FULL_ID = "50010119900101123X"
VALID_ID = "11010519491231002X"  # a well-known valid checksum
BAD_ID = "110105194912310021"  # same number, wrong check digit


def _new_case_form(csrf, **overrides):
    form = {
        "csrf_token": csrf,
        "title": "张三与李四相邻关系纠纷",
        "dispute_type": "neighbour",
        "source": "on_site",
        "summary": "院墙排水问题。",
        "mediator_id": "",
        "party0_side": "applicant",
        "party0_name": "张三",
        "party0_phone": "13912345678",
        "party0_id_number": VALID_ID,
        "party0_agent_name": "",
        "party1_side": "respondent",
        "party1_name": "李四",
        "party1_phone": "",
        "party1_id_number": "",
        "party1_agent_name": "李小四",
        "party2_side": "respondent",
        "party2_name": "",
        "party3_side": "respondent",
        "party3_name": "",
    }
    form.update(overrides)
    return form


async def _add_cases(core, world, n, *, dispute=DisputeType.land, status=None, prefix="批量"):
    mediator = world.principals["demo-mediator"]
    made = []
    for i in range(n):
        case = await cases.create_case(
            core,
            mediator,
            title=f"{prefix}案件{i:02d}",
            dispute_type=dispute,
            source=CaseSource.on_site,
            parties=[
                PartyInput(side=PartySide.applicant, name=f"{prefix}申请人{i:02d}"),
                PartyInput(side=PartySide.respondent, name=f"{prefix}被申请人{i:02d}"),
            ],
        )
        if status is not None:
            await cases.transition(core, mediator, case.id, status, "测试")
        made.append(case)
    return made


# ---- the case list --------------------------------------------------------------------------------


async def test_the_case_list_shows_the_cases_in_scope_only(client, world, staff_client):
    await staff_client("demo-mediator")
    resp = await client.get("/cases")
    page = await resp.text()
    assert resp.status == 200
    assert world.demo.case_number in page
    assert "李秀英与清水镇卫生院医疗纠纷" in page
    assert "共 1 件案件" in page
    assert "另一区的案件" not in page  # the other district's case
    assert 'href="/cases/new"' in page  # a mediator may create cases


async def test_the_case_list_filters_by_status_and_dispute_type(client, core, world, staff_client):
    await _add_cases(core, world, 2, dispute=DisputeType.family, prefix="婚姻")
    await staff_client("demo-mediator")
    page = await (await client.get("/cases", params={"dispute_type": "family"})).text()
    assert "婚姻案件00" in page and "婚姻案件01" in page
    assert world.demo.case_number not in page
    assert '<option value="family" selected>' in page
    page = await (await client.get("/cases", params={"status": "accepted"})).text()
    assert world.demo.case_number in page
    assert "婚姻案件00" not in page
    page = await (await client.get("/cases", params={"status": "settled"})).text()
    assert "没有符合条件的案件" in page
    bad = await client.get("/cases", params={"status": "nonsense"})
    assert bad.status == 422
    assert "部分内容填写有误" in await bad.text()


async def test_the_case_list_finds_a_case_by_a_party_name(client, world, staff_client):
    await staff_client("demo-mediator")
    page = await (await client.get("/cases", params={"q": "李秀英"})).text()
    assert world.demo.case_number in page
    assert 'value="李秀英"' in page  # the search box keeps the query
    page = await (await client.get("/cases", params={"q": "卫生院"})).text()
    assert world.demo.case_number in page
    page = await (await client.get("/cases", params={"q": "无此人"})).text()
    assert world.demo.case_number not in page
    assert "共 0 件案件" in page


async def test_the_case_list_pages_by_fifty_with_next_and_previous_links(client, core, world, staff_client):
    await _add_cases(core, world, 50)
    await staff_client("demo-mediator")
    first = await (await client.get("/cases", params={"dispute_type": ""})).text()
    assert "共 51 件案件" in first
    assert first.count('class="card case-item"') == 50
    assert world.demo.case_number not in first  # newest first: the demo case is the 51st
    assert 'rel="prev"' not in first
    assert "第 1–50 件，共 51 件" in first
    next_href = unescape(first.split('rel="next" href="', 1)[1].split('"', 1)[0])
    assert "offset=50" in next_href
    second = await (await client.get(next_href)).text()
    assert second.count('class="card case-item"') == 1
    assert world.demo.case_number in second
    assert 'rel="next"' not in second
    assert 'rel="prev"' in second


# ---- a case -----------------------------------------------------------------------------------------


async def test_the_case_page_shows_parties_with_masked_phone_and_id_numbers(client, world, staff_client):
    await staff_client("demo-mediator")
    resp = await client.get(f"/cases/{world.demo.case_id}")
    page = await resp.text()
    assert resp.status == 200
    assert "李秀英" in page and "清水镇卫生院" in page and "赵院长" in page
    assert "138****8000" in page
    assert "500***********123X" in page
    assert FULL_PHONE not in page
    assert FULL_ID not in page
    assert "65550000" not in page  # the respondent's landline is masked too
    # The join links and their QR codes are there for the mediator to send.
    assert page.count('class="copy"') == 4
    assert "/api/v1/invitations/" in page and "qr.png" in page


async def test_the_case_page_of_another_district_is_not_found(client, world, staff_client):
    await staff_client("demo-mediator")
    resp = await client.get(f"/cases/{world.other_case_id}")
    assert resp.status == 404
    page = await resp.text()
    assert "未找到" in page
    assert "另一区的案件" not in page
    assert "退出登录" in page  # the error page keeps the signed-in navigation


# ---- creating a case ----------------------------------------------------------------------------------


async def test_the_new_case_form_creates_the_case_and_opens_it(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    form_page = await client.get("/cases/new")
    assert form_page.status == 200
    assert 'name="party3_agent_name"' in await form_page.text()
    resp = await client.post("/cases/new", data=_new_case_form(csrf), allow_redirects=False)
    assert resp.status == 302, await resp.text()
    location = resp.headers["Location"]
    assert location.startswith("/cases/")
    page = await (await client.get(location)).text()
    assert "张三与李四相邻关系纠纷" in page
    assert "邻里纠纷" in page and "主动排查发现" in page
    assert "张三" in page and "李小四" in page
    assert "139****5678" in page and "13912345678" not in page
    assert VALID_ID not in page
    async with core.db.read() as s:
        case = await s.get(Case, location.rsplit("/", 1)[1])
        assert case is not None
        assert case.mediator_id == world.principals["demo-mediator"].account_id
        assert [p.name for p in case.parties] == ["张三", "李四"]


async def _rejected(client, core, form, *, message):
    before = await count(core, Case)
    resp = await client.post("/cases/new", data=form, allow_redirects=False)
    page = await resp.text()
    assert resp.status == 422, page
    assert message in page
    assert await count(core, Case) == before
    return page


async def test_a_case_without_a_respondent_is_refused_and_the_input_kept(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    page = await _rejected(
        client, core, _new_case_form(csrf, party1_name=""), message="案件至少需要一名申请人和一名被申请人"
    )
    assert 'value="张三与李四相邻关系纠纷"' in page
    assert 'value="张三"' in page
    assert "院墙排水问题。</textarea>" in page
    assert '<option value="neighbour" selected>' in page


async def test_a_case_without_an_applicant_is_refused(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    await _rejected(
        client, core, _new_case_form(csrf, party0_side="respondent"), message="案件至少需要一名申请人和一名被申请人"
    )


async def test_an_id_number_with_a_wrong_check_digit_is_refused_naming_the_party(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    page = await _rejected(
        client, core, _new_case_form(csrf, party0_id_number=BAD_ID), message="第 1 位当事人：身份证号校验位不正确"
    )
    assert f'value="{BAD_ID}"' in page  # kept, so it can be corrected
    assert (
        'name="party0_id_number" value="110105194912310021" maxlength="18" autocomplete="off" '
        'autocapitalize="characters" spellcheck="false" aria-invalid="true"' in page
    )


async def test_a_case_without_a_dispute_type_is_refused(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    page = await _rejected(client, core, _new_case_form(csrf, dispute_type=""), message="请选择纠纷类型")
    assert '<select name="dispute_type" required aria-invalid="true">' in page
    assert 'value="张三与李四相邻关系纠纷"' in page


async def test_the_new_case_form_needs_the_csrf_token(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    before = await count(core, Case)
    for token in ("", "forged-token"):
        resp = await client.post("/cases/new", data=_new_case_form(csrf, csrf_token=token), allow_redirects=False)
        assert resp.status == 403
    assert await count(core, Case) == before


# ---- the forms on the case page ---------------------------------------------------------------------


async def test_the_status_form_moves_the_case_and_needs_the_csrf_token(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    url = f"/cases/{world.demo.case_id}/transition"
    assert (await client.post(url, data={"to": "mediating"}, allow_redirects=False)).status == 403
    assert (await cases.load_case(core, world.demo.case_id)).status == "accepted"
    resp = await client.post(url, data={"csrf_token": csrf, "to": "mediating"}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == f"/cases/{world.demo.case_id}"
    assert (await cases.load_case(core, world.demo.case_id)).status == "mediating"
    # Ending without settlement needs a note: the page says so, in Chinese, and nothing changes.
    resp = await client.post(url, data={"csrf_token": csrf, "to": "unsettled", "note": " "}, allow_redirects=False)
    assert resp.status == 422
    assert "请填写说明" in await resp.text()
    assert (await cases.load_case(core, world.demo.case_id)).status == "mediating"
    # A move the state machine does not have is a conflict, shown on the case page.
    resp = await client.post(url, data={"csrf_token": csrf, "to": "closed"}, allow_redirects=False)
    assert resp.status == 409
    assert "当前状态下不能进行此操作" in await resp.text()


async def test_the_schedule_form_adds_a_session_and_needs_the_csrf_token(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    url = f"/cases/{world.demo.case_id}/sessions"
    before = await count(core, MediationSession)
    form = {"scheduled_at": "2026-12-02T09:30", "title": "第二次视频调解"}
    assert (await client.post(url, data=form, allow_redirects=False)).status == 403
    assert await count(core, MediationSession) == before
    resp = await client.post(url, data={**form, "csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 302
    async with core.db.read() as s:
        made = (
            await s.execute(select(MediationSession).where(MediationSession.title == "第二次视频调解"))
        ).scalar_one()
    assert made.scheduled_at.isoformat() == "2026-12-02T01:30:00+00:00"  # entered as Beijing time
    page = await (await client.get(f"/cases/{world.demo.case_id}")).text()
    assert "第二次视频调解" in page and "2026-12-02 09:30" in page
    resp = await client.post(url, data={"csrf_token": csrf, "scheduled_at": "next tuesday"}, allow_redirects=False)
    assert resp.status == 422
    assert "请填写调解会话的日期和时间" in await resp.text()


async def test_the_invitation_form_issues_a_link_and_needs_the_csrf_token(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    url = f"/sessions/{world.demo.session_id}/invitations"
    before = await count(core, Invitation)
    form = {"role": "observer", "display_name": "桃花村村委会主任", "party_id": "", "account_id": ""}
    assert (await client.post(url, data=form, allow_redirects=False)).status == 403
    assert await count(core, Invitation) == before
    resp = await client.post(url, data={**form, "csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 302
    assert await count(core, Invitation) == before + 1
    page = await (await client.get(resp.headers["Location"])).text()
    assert "桃花村村委会主任" in page
    assert page.count('class="copy"') == 5
    # An applicant invitation must name a party: refused with the reason, nothing issued.
    resp = await client.post(
        url, data={"csrf_token": csrf, "role": "applicant", "display_name": "某人"}, allow_redirects=False
    )
    assert resp.status == 422
    assert "请选择被邀请的当事人" in await resp.text()
    assert await count(core, Invitation) == before + 1
    # How they enter: the role's default, or either way explicitly; anything else is refused.
    expert = str(world.principals["demo-expert"].account_id)
    async with core.db.read() as s:
        seen = set((await s.execute(select(Invitation.id))).scalars())
    for entry, direct in (("default", True), ("lobby", False), ("direct", True)):
        resp = await client.post(
            url,
            data={"csrf_token": csrf, "role": "expert", "account_id": expert, "entry": entry},
            allow_redirects=False,
        )
        assert resp.status == 302, entry
        async with core.db.read() as s:
            newest = (await s.execute(select(Invitation).where(Invitation.id.not_in(seen)))).scalar_one()
        seen.add(newest.id)
        assert (newest.role, newest.direct_entry) == ("expert", direct), entry
    resp = await client.post(
        url, data={"csrf_token": csrf, "role": "expert", "account_id": expert, "entry": "maybe"}, allow_redirects=False
    )
    assert resp.status == 422
    assert await count(core, Invitation) == before + 4


async def test_the_invitation_form_says_nothing_about_sessions_to_strangers(client, core, world, staff_client):
    """Who is asking is settled before the session is looked up: without signing in, a real
    session and a made-up one get the same answer."""
    form = {"role": "observer", "display_name": "旁听"}
    real = await client.post(f"/sessions/{world.demo.session_id}/invitations", data=form, allow_redirects=False)
    made_up = await client.post(
        "/sessions/00000000-0000-4000-8000-000000000000/invitations", data=form, allow_redirects=False
    )
    assert real.status == made_up.status == 302
    assert real.headers["Location"].startswith("/login?") and made_up.headers["Location"].startswith("/login?")
    # Signed in, a session outside one's cases is simply not found, like a made-up one.
    csrf = await staff_client("other-mediator")
    for session_id in (world.demo.session_id, "00000000-0000-4000-8000-000000000000"):
        resp = await client.post(
            f"/sessions/{session_id}/invitations", data={**form, "csrf_token": csrf}, allow_redirects=False
        )
        assert resp.status == 404, session_id


async def test_the_revoke_form_withdraws_a_link_and_needs_the_csrf_token(client, core, world, staff_client):
    csrf = await staff_client("demo-mediator")
    async with core.db.read() as s:
        inv = (await s.execute(select(Invitation).where(Invitation.role == "applicant"))).scalar_one()
    url = f"/invitations/{inv.id}/revoke"
    assert (await client.post(url, data={"reason": "x"}, allow_redirects=False)).status == 403
    async with core.db.read() as s:
        assert (await s.get(Invitation, inv.id)).revoked_at is None
    resp = await client.post(url, data={"csrf_token": csrf, "reason": "当事人更换手机"}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == f"/cases/{world.demo.case_id}"
    async with core.db.read() as s:
        revoked = await s.get(Invitation, inv.id)
        assert revoked.revoked_at is not None and revoked.revoked_reason == "当事人更换手机"
    page = await (await client.get(f"/cases/{world.demo.case_id}")).text()
    assert page.count('class="copy"') == 3  # no link is offered for the revoked invitation
    assert "已撤销" in page
    again = await client.post(url, data={"csrf_token": csrf}, allow_redirects=False)
    assert again.status == 409


async def test_case_pages_of_a_settled_case_offer_no_scheduling(client, core, world, staff_client):
    await cases.transition(core, world.principals["demo-mediator"], world.demo.case_id, CaseStatus.mediating, "")
    await cases.transition(core, world.principals["demo-mediator"], world.demo.case_id, CaseStatus.settled, "")
    await staff_client("demo-mediator")
    page = await (await client.get(f"/cases/{world.demo.case_id}")).text()
    assert "调解成功" in page
    assert f'action="/cases/{world.demo.case_id}/sessions"' not in page


async def test_a_reviewer_or_invited_expert_sees_the_case_but_no_forms_and_no_join_links(client, world, staff_client):
    for username in ("demo-reviewer", "demo-expert"):
        client.session.cookie_jar.clear()
        await staff_client(username)
        page = await (await client.get(f"/cases/{world.demo.case_id}")).text()
        assert world.demo.case_number in page, username
        assert "/transition" not in page and "/revoke" not in page and '/invitations"' not in page, username
        # A join link lets its holder in as that person (the expert could enter as the mediator).
        assert "/j/" not in page and "qr.png" not in page, username
        assert "陈敏医生" in page  # who is invited is still shown
        assert 'href="/cases/new"' not in await (await client.get("/cases")).text()


async def test_after_a_held_session_the_case_page_offers_parties_new_signing_links_only(
    client, core, world, staff_client
):
    csrf = await staff_client("demo-mediator")
    mediator = world.principals["demo-mediator"]
    page = await (await client.get(f"/cases/{world.demo.case_id}")).text()
    assert "给当事人发送新链接" not in page  # while the session is on, the usual invitation form
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.live)
    await sessions.set_session_status(core, mediator, world.demo.session_id, SessionStatus.ended, "达成协议")
    page = await (await client.get(f"/cases/{world.demo.case_id}")).text()
    assert "给当事人发送新链接，阅读并签署本次会话的文书" in page and "邀请参加人员" not in page
    async with core.db.read() as s:
        applicant_party = (
            await s.execute(select(Party.id).where(Party.case_id == world.demo.case_id, Party.side == "applicant"))
        ).scalar_one()
    url = f"/sessions/{world.demo.session_id}/invitations"
    before = await count(core, Invitation)
    resp = await client.post(
        url, data={"csrf_token": csrf, "role": "applicant", "party_id": applicant_party}, allow_redirects=False
    )
    assert resp.status == 302
    assert await count(core, Invitation) == before + 1
    # Anyone else's link to a session that is over is refused, saying why.
    resp = await client.post(
        url, data={"csrf_token": csrf, "role": "observer", "display_name": "旁听"}, allow_redirects=False
    )
    assert resp.status == 409 and "会话已结束" in await resp.text()
    assert await count(core, Invitation) == before + 1
