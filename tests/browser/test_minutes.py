"""The minutes, the case panel and the rights notice in the room, in real Chromium.

One session of the demo case with its mediator (1280 px), the applicant on a phone (360 px) and a
clerk (记录人, invited for this test): the mediator presents the rights notice and sees the
applicant acknowledge it; the applicant reads the case panel; the mediator writes the minutes and
the applicant watches them update, read-only; a save whose answer is lost is sent again with the
same save_id and stored once; the clerk, offline, keeps typing, and on reconnecting meets a
conflict that shows what the mediator changed and who did, keeps the clerk's text, and re-applies
it on the current revision. Screenshots go to test-artifacts/room/.
"""

from __future__ import annotations

import re

from aiohttp import web
from playwright.async_api import expect

from server.domain.grants import SessionRole
from server.domain.sessions import SessionStatus
from server.services import invitations, sessions
from tests.browser.room import ARTIFACTS, DESKTOP, PHONE, Person, wait_for

MINUTES_GET = """async () => (await window.heshiRoom.client.request("minutes.get")).minutes"""

# The first minutes.save is sent and stored, but its answer and its broadcast are "lost" on the
# way back (as when the connection drops at that moment): the page must send the same save again.
LOSE_FIRST_ANSWER = """() => {
  const client = window.heshiRoom.client;
  const request = client.request.bind(client);
  const emit = client.emit.bind(client);
  let dropBroadcast = true;
  client.emit = (type, detail) => {
    if (type === "room-event" && detail.type === "minutes.updated" && dropBroadcast) {
      dropBroadcast = false;
      return;
    }
    emit(type, detail);
  };
  window.sentSaves = [];
  let lose = true;
  client.request = async (event, payload) => {
    if (event !== "minutes.save") return request(event, payload);
    window.sentSaves.push(payload.save_id);
    const ack = await request(event, payload);
    if (lose) {
      lose = false;
      const err = new Error("no answer to minutes.save");
      err.code = "timeout";
      throw err;
    }
    window.lastAck = ack;
    return ack;
  };
}"""


async def open_minutes(person: Person) -> None:
    page = person.page
    if not await page.locator("#panel-minutes").is_visible():
        await page.locator("#minutes-button").click()
    await expect(page.locator("#panel-minutes")).to_be_visible()


async def test_minutes_case_panel_and_notice_in_the_room(browser, base_url, world, core):
    links = world.demo.links
    clerk_inv = await invitations.issue(
        core,
        world.principals["demo-mediator"],
        world.demo.session_id,
        role=SessionRole.clerk,
        display_name="陈记录",
        direct_entry=True,
    )
    mediator = await Person.open(browser, "mediator", links["mediator"], DESKTOP)
    applicant = await Person.open(browser, "applicant", links["applicant"], PHONE)
    mp, ap = mediator.page, applicant.page
    await mediator.join()
    await expect(mp.locator("#stage")).to_be_visible()
    await applicant.join()
    await mp.locator("#lobby-notice").get_by_role("button", name="允许 李秀英 进入").click()
    await expect(ap.locator("#stage")).to_be_visible()

    # The case panel: number, title, type, parties by name and side, the dispute; never an ID number.
    await ap.locator("#people-button").click()
    await ap.get_by_role("tab", name="案件").click()
    case_tab = ap.locator("#panel-case")
    await expect(case_tab).to_contain_text(world.demo.case_number)
    await expect(case_tab).to_contain_text("李秀英")
    await expect(case_tab).to_contain_text("清水镇卫生院")
    await expect(case_tab).to_contain_text("护理存在过错")
    await expect(case_tab).to_contain_text("医疗纠纷")
    for secret in ("50010119900101123X", "13800138000"):
        assert await case_tab.get_by_text(secret).count() == 0
    await applicant.screenshot("room-case")

    # The rights notice: presented by the mediator, shown on the applicant's phone in full,
    # acknowledged there, and the mediator sees who has.
    await mp.locator("#people-button").click()
    await mp.get_by_role("tab", name="案件").click()
    await expect(mp.locator("#notice-acks")).to_contain_text("尚未确认")
    await mp.get_by_role("button", name="出示告知书").click()
    dialog = ap.locator("#notice-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("人民调解权利义务告知书")
    await expect(dialog).to_contain_text("自愿达成调解协议")
    assert await dialog.get_by_text("Notice of Rights").count() == 0, "one language at a time"
    await applicant.screenshot("room-notice")
    # A reload before acknowledging: the notice comes back by itself, not only when presented again.
    await ap.reload()
    await expect(ap.locator("#stage")).to_be_visible()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("人民调解权利义务告知书")
    await dialog.get_by_role("button", name="我已阅读并知悉").click()
    await expect(dialog).to_be_hidden()
    await expect(mp.locator("#notice-acks .ack.done")).to_contain_text("李秀英")
    await mediator.screenshot("room-notice-acks")

    # The mediator writes the minutes; the applicant watches them update, read-only.
    await open_minutes(mediator)
    await open_minutes(applicant)
    await expect(ap.locator("#minutes-status")).to_have_text("已保存")
    assert await ap.locator("#panel-minutes textarea").count() == 0, "a party reads the minutes only"
    await expect(mp.locator("#minutes-header")).to_contain_text(world.demo.case_number)
    await mp.locator('[data-claim-party="李秀英"][data-claim-field="claims"]').fill("要求赔偿医疗费两万元")
    await expect(mp.locator("#minutes-status")).to_have_text("尚未保存")
    await expect(mp.locator("#minutes-status")).to_have_text("已保存", timeout=8000)  # autosave
    await expect(ap.locator("#minutes-claims")).to_contain_text("要求赔偿医疗费两万元")

    # A process entry: the speaker picked from the room, the time the server's when it was started.
    await mp.locator("#minutes-speaker").select_option(label="李秀英（申请人）")
    await mp.locator("#minutes-entry-text").fill("我母亲住院期间摔伤，卫生院应当负责。")
    await expect(mp.locator("#minutes-entry-time")).to_contain_text(re.compile(r"\d\d:\d\d:\d\d"))
    await mp.get_by_role("button", name="记入笔录").click()
    await expect(ap.locator("#minutes-entries .entry")).to_have_count(1)
    await expect(ap.locator("#minutes-entries .entry")).to_contain_text("李秀英")
    await expect(ap.locator("#minutes-entries .entry")).to_contain_text("卫生院应当负责")
    stored = await mp.evaluate(MINUTES_GET)
    (entry,) = stored["document"]["entries"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", entry["at"]), entry
    assert entry["speaker"] == "李秀英"
    await applicant.screenshot("room-minutes")
    await mediator.screenshot("room-minutes")

    # A save whose answer is lost goes again with the same save_id, and is stored once.
    await mp.evaluate(LOSE_FIRST_ANSWER)
    revision = stored["revision"]
    await mp.locator("#minutes-result").fill("双方同意继续协商。")
    await mp.get_by_role("button", name="保存", exact=True).click()
    await wait_for(lambda: mp.evaluate("window.sentSaves.length >= 2"), 15, "the save to be sent again")
    sent = await mp.evaluate("window.sentSaves")
    assert sent[0] == sent[1], sent
    await expect(mp.locator("#minutes-status")).to_have_text("已保存")
    assert (await mp.evaluate("window.lastAck"))["duplicate"] is True
    assert (await mp.evaluate(MINUTES_GET))["revision"] == revision + 1
    await expect(ap.locator("#minutes-result-text")).to_have_text("双方同意继续协商。")

    # The clerk, offline, keeps typing; the mediator saves meanwhile; back online, the clerk's
    # save meets a conflict that says who changed what, keeps the clerk's text, and re-applies it.
    clerk = await Person.open(browser, "clerk", invitations.link_for(core, clerk_inv), DESKTOP)
    cp = clerk.page
    await clerk.join()
    await expect(cp.locator("#stage")).to_be_visible()
    await open_minutes(clerk)
    await expect(cp.locator("#minutes-result")).to_have_value("双方同意继续协商。")
    await clerk.context.set_offline(True)
    await cp.evaluate("window.heshiRoom.client.socket.io.engine.close()")
    await cp.locator('[data-claim-party="清水镇卫生院"][data-claim-field="facts"]').fill("护士按规定巡视。")
    await cp.locator("#minutes-result").fill("双方同意继续协商，下次会话再议。")
    await expect(cp.locator("#minutes-status")).to_have_text("离线，将在重连后保存")
    await mp.locator("#minutes-result").fill("双方达成协议。")
    await mp.get_by_role("button", name="保存", exact=True).click()
    await expect(mp.locator("#minutes-status")).to_have_text("已保存")
    await clerk.context.set_offline(False)
    conflict = cp.locator("#minutes-conflict")
    await expect(conflict).to_be_visible(timeout=20000)
    await expect(cp.locator("#minutes-status")).to_have_text("冲突")
    await expect(conflict).to_contain_text("王建国")
    await expect(conflict).to_contain_text("调解结果")
    await expect(conflict).to_contain_text("双方达成协议。")
    await expect(cp.locator("#minutes-result")).to_have_value("双方同意继续协商，下次会话再议。")
    await clerk.screenshot("room-minutes-conflict")
    await conflict.get_by_role("button", name="在最新版本上重新应用我的修改").click()
    await expect(conflict).to_be_hidden()
    await expect(cp.locator("#minutes-status")).to_have_text("已保存")
    await expect(mp.locator("#minutes-result")).to_have_value("双方同意继续协商，下次会话再议。")
    await expect(mp.locator("#minutes-claims")).to_be_visible()
    facts = mp.locator('[data-claim-party="清水镇卫生院"][data-claim-field="facts"]')
    assert await facts.input_value() == "护士按规定巡视。"
    await expect(ap.locator("#minutes-result-text")).to_have_text("双方同意继续协商，下次会话再议。")
    final = await mp.evaluate(MINUTES_GET)
    assert final["revision"] == revision + 3
    assert [e["text"] for e in final["document"]["entries"]] == ["我母亲住院期间摔伤，卫生院应当负责。"]

    for p in (mediator, applicant, clerk):
        # The clerk's socket tried to reconnect while the network was off: expected.
        errors = [e for e in p.errors if "ERR_INTERNET_DISCONNECTED" not in e]
        assert not errors, errors
        await p.close()


# ---- signing on one's own device ------------------------------------------------------------------

TERMS = [
    {
        "obligation": "赔偿医疗费",
        "obligor": "清水镇卫生院",
        "amount": "20000",
        "deadline": "2026-12-31",
        "manner": "银行转账",
    },
]


async def draw_with_a_finger(person: Person, canvas_selector: str) -> None:
    """A zigzag drawn with touch events (Chromium turns them into pointer events of type touch)."""
    await person.page.locator(canvas_selector).scroll_into_view_if_needed()
    box = await person.page.locator(canvas_selector).bounding_box()
    assert box is not None
    cdp = await person.context.new_cdp_session(person.page)
    x0, y0 = box["x"] + 30, box["y"] + box["height"] / 2

    async def touch(kind: str, x: float, y: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": y, "id": 1}]
        await cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    await touch("touchStart", x0, y0)
    for i in range(1, 16):
        await touch("touchMove", x0 + i * 12, y0 + (20 if i % 2 else -20))
    await touch("touchEnd", 0, 0)
    await cdp.detach()


async def draw_with_the_mouse(person: Person, canvas_selector: str) -> None:
    await person.page.locator(canvas_selector).scroll_into_view_if_needed()
    box = await person.page.locator(canvas_selector).bounding_box()
    assert box is not None
    mouse = person.page.mouse
    await mouse.move(box["x"] + 40, box["y"] + 60)
    await mouse.down()
    for i in range(1, 12):
        await mouse.move(box["x"] + 40 + i * 25, box["y"] + 60 + (30 if i % 2 else 0), steps=2)
    await mouse.up()


async def open_signing(browser, label: str, link: str, viewport: dict[str, int], session_id: str) -> Person:
    """Open one's join link (it signs this browser in and opens the room), then the signing page."""
    person = await Person.open(browser, label, link, viewport)
    await person.page.wait_for_url(f"**/s/{session_id}")
    await person.page.goto(f"{person.page.url}/sign")
    return person


async def staff_mediator(browser, base_url: str, world) -> Person:
    """The demo mediator signed in as staff, on a desktop."""
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = await context.new_page()
    person = Person("mediator", context, page, DESKTOP)
    page.on("pageerror", lambda exc: person.errors.append(f"mediator: {exc}"))
    await page.goto(f"{base_url}/login")
    await page.fill("input[name=username]", "demo-mediator")
    await page.fill("input[name=password]", world.passwords["demo-mediator"])
    await page.locator("form button[type=submit]").click()
    await page.wait_for_url("**/cases")
    return person


async def test_parties_and_the_mediator_sign_on_their_own_devices(browser, base_url, world, core):
    """The mediator makes the agreement on the case page; both parties and the mediator sign it
    on their own devices (one a 360 px phone, drawing with touch), a version replaced while a party
    read is refused and shown anew, an empty drawing is refused; the case page then shows who
    signed which version, the lock, and the judicial-confirmation request with its days left."""
    from server.domain.actors import Actor
    from server.domain.minutes import MinutesIn
    from server.services import agreements, cases, orgs
    from server.services import minutes as minutes_service

    mediator_p = world.principals["demo-mediator"]
    case_id, session_id = world.demo.case_id, world.demo.session_id
    editor = minutes_service.editor_of_participant(
        case_id, session_id, SessionRole.mediator, Actor.of(mediator_p), mediator_p.display_name
    )
    await minutes_service.save(
        core, editor, base_revision=0, save_id="test-minutes-1", body=MinutesIn(result="双方达成调解协议。")
    )

    # The court answers, and refuses the package (a 4xx): the request fails, and staff can send
    # it again once the cause is dealt with.
    async def refuse(_: web.Request) -> web.Response:
        return web.json_response({"error": "申请材料不全"}, status=400)

    court = web.Application()
    court.router.add_post("/court", refuse)
    court_runner = web.AppRunner(court)
    await court_runner.setup()
    court_site = web.TCPSite(court_runner, "127.0.0.1", 0)
    await court_site.start()
    court_port = court_runner.addresses[0][1]
    case = await cases.load_case(core, case_id)
    await orgs.set_court(
        core,
        world.principals["demo-admin"],
        case.org_id,
        endpoint=f"http://127.0.0.1:{court_port}/court",
        secret="s" * 32,
    )
    links = world.demo.links

    # The mediator makes the agreement from the medical template, with one term.
    mediator = await staff_mediator(browser, base_url, world)
    mp = mediator.page
    await mp.goto(f"{base_url}/cases/{case_id}")
    await expect(mp.locator("#agreements-status")).to_have_text("尚无调解协议书。")
    await mp.get_by_text("用模板制作调解协议书").click()
    form = mp.locator("#agreement-form")
    await expect(form.get_by_label("模板")).to_contain_text("医疗纠纷")
    await form.get_by_label("争议事项").fill("护理是否存在过错及赔偿数额")
    term = form.locator("#terms-list .term").first
    await term.get_by_label("义务内容").fill(TERMS[0]["obligation"])
    await term.get_by_label("履行义务人").fill(TERMS[0]["obligor"])
    await term.get_by_label("金额（元）").fill("20000x")
    await term.get_by_label("履行期限").fill(TERMS[0]["deadline"])
    await term.get_by_label("履行方式").fill(TERMS[0]["manner"])
    await form.get_by_role("button", name="生成协议书").click()
    await expect(form.locator("#agreement-error")).to_contain_text("金额")
    await term.get_by_label("金额（元）").fill(TERMS[0]["amount"])
    await form.get_by_role("button", name="生成协议书").click()
    listed = mp.locator("#agreements-list .agreement")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text("待签名")
    await expect(listed).to_contain_text("李秀英（申请人）")
    (agreement,) = await agreements.list_for_case(core, mediator_p, case_id)
    agreement_id = agreement.agreement.id
    await expect(listed.locator(".meta").get_by_role("link", name="PDF", exact=True)).to_have_attribute(
        "href", f"/api/v1/agreements/{agreement_id}.pdf"
    )

    # The applicant, on a 360 px phone: the agreement and the minutes in full.
    applicant = await open_signing(browser, "applicant", links["applicant"], PHONE, session_id)
    ap = applicant.page
    doc = ap.locator("#doc-agreement")
    await expect(doc).to_be_visible()
    await expect(doc.locator(".doc-text")).to_contain_text("赔偿医疗费")
    await expect(doc.locator(".doc-text")).to_contain_text("清水镇卫生院")
    await expect(ap.locator("#doc-minutes .doc-text")).to_contain_text("双方达成调解协议。")
    await expect(doc.locator(".doc-state")).to_contain_text("尚待签名")
    # An empty drawing is refused before anything is sent; so is a missing tick.
    sign = doc.locator(".sign-form")
    await sign.get_by_label("您的姓名").fill("李秀英")
    await sign.get_by_role("button", name="签名确认").click()
    await expect(sign.locator(".sign-error")).to_contain_text("勾选")
    await sign.get_by_label("我已阅读并确认以上内容").check()
    await sign.get_by_role("button", name="签名确认").click()
    await expect(sign.locator(".sign-error")).to_contain_text("请先在框内签名")
    await draw_with_a_finger(applicant, "#doc-agreement .pad")
    assert await ap.evaluate("window.heshiSigning.docs[0].pad.enough")
    await applicant.screenshot("sign-drawn")

    # Meanwhile the mediator changes the agreement: signing the version read is refused, the
    # current one is shown, and the applicant confirms again.
    revised = [*TERMS, {**TERMS[0], "obligation": "赔偿护理费", "amount": "3000"}]
    await agreements.revise(core, mediator_p, agreement_id, terms=revised)
    await sign.get_by_role("button", name="签名确认").click()
    await expect(doc.locator(".doc-changed")).to_be_visible()
    await expect(doc.locator(".doc-text")).to_contain_text("赔偿护理费")
    await expect(doc.locator(".doc-version")).to_contain_text("第 2 版")
    await expect(sign.get_by_label("我已阅读并确认以上内容")).not_to_be_checked()
    await sign.get_by_label("我已阅读并确认以上内容").check()
    await sign.get_by_role("button", name="签名确认").click()
    await expect(doc.locator(".doc-state")).to_contain_text("您已于")
    await expect(sign).to_be_hidden()
    # The minutes too, on the same page.
    msign = ap.locator("#doc-minutes .sign-form")
    await msign.get_by_label("我已阅读并确认以上内容").check()
    await msign.get_by_label("您的姓名").fill("李秀英")
    await draw_with_a_finger(applicant, "#doc-minutes .pad")
    await msign.get_by_role("button", name="签名确认").click()
    await expect(ap.locator("#doc-minutes .doc-state")).to_contain_text("您已于")
    await applicant.screenshot("sign-done")

    # The session ends before the respondent has signed. Their link no longer opens the room,
    # but it still opens the documents: opened now, it lands on the signing page.
    await sessions.set_session_status(core, mediator_p, session_id, SessionStatus.live)
    await sessions.set_session_status(core, mediator_p, session_id, SessionStatus.ended, "达成协议")
    respondent = await Person.open(browser, "respondent", links["respondent"], DESKTOP)
    rp = respondent.page
    await rp.wait_for_url(f"**/s/{session_id}/sign")
    # The respondent's representative on a desktop, with the mouse.
    rsign = rp.locator("#doc-agreement .sign-form")
    await expect(rp.locator("#doc-agreement .doc-version")).to_contain_text("第 2 版")
    await rsign.get_by_label("我已阅读并确认以上内容").check()
    await rsign.get_by_label("您的姓名").fill("赵院长")
    await draw_with_the_mouse(respondent, "#doc-agreement .pad")
    await respondent.screenshot("sign-drawn")
    await rsign.get_by_role("button", name="签名确认").click()
    await expect(rp.locator("#doc-agreement .doc-state")).to_contain_text("您已于")

    # The mediator signs last, signed in as staff: the version locks.
    await mp.goto(f"{base_url}/s/{session_id}/sign")
    msign = mp.locator("#doc-agreement .sign-form")
    await msign.get_by_label("我已阅读并确认以上内容").check()
    await msign.get_by_label("您的姓名").fill("王建国")
    await draw_with_the_mouse(mediator, "#doc-agreement .pad")
    await msign.get_by_role("button", name="签名确认").click()
    await expect(mp.locator("#doc-agreement .doc-state")).to_contain_text("各方均已签名，本版本已锁定")
    await mediator.screenshot("sign-locked")
    state = await agreements.get(core, mediator_p, agreement_id)
    assert state.current.locked and state.current.record.version == 2
    assert {s.name for s in state.current.signatures} == {"李秀英", "赵院长", "王建国"}
    assert not [s for v in state.versions if v.record.version == 1 for s in v.signatures], "nobody signed version 1"

    # Back on the case page: who signed which version, the lock; judicial confirmation requested,
    # waiting for the court, with the days left of the 30.
    await mp.goto(f"{base_url}/cases/{case_id}")
    # The case's history for people: Beijing time, names, sentences; each session's summary.
    timeline = mp.locator("#timeline-list")
    await expect(timeline).to_contain_text("签署了调解协议书（第 2 版）")
    await expect(timeline.locator("li", has_text="签署了调解协议书（第 2 版）").first).to_contain_text("李秀英")
    await expect(timeline).to_contain_text("会话结束")
    summary = mp.locator(f'.session-summary[data-session-id="{session_id}"]')
    await expect(summary).to_contain_text("举行于")
    await expect(summary).to_contain_text("未录像")
    await mp.locator("#timeline-filter").select_option(label="笔录与协议")
    await expect(timeline.locator("li:visible", has_text="会话结束")).to_have_count(0)
    await expect(timeline.locator("li:visible", has_text="签署了调解协议书").first).to_be_visible()
    # The minutes' history: each revision, who saved it, its hash, its own PDF.
    history = mp.locator(f'details.minutes-history[data-session-id="{session_id}"]')
    await history.locator("summary").click()
    await expect(history.locator("tbody tr")).to_have_count(1)
    await expect(history.locator("tbody tr")).to_contain_text("王建国")
    await expect(history.get_by_role("link", name="PDF")).to_have_attribute(
        "href", f"/api/v1/sessions/{session_id}/minutes.pdf?revision=1"
    )
    await expect(listed).to_contain_text("已锁定：各方均已签名")
    rows = listed.locator("tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("赵院长（被申请人")
    await expect(rows.nth(1)).to_contain_text("已被新版本取代")
    await expect(mp.locator("#confirmations-list")).to_have_text("尚未申请。")
    ask = listed.get_by_role("button", name="申请司法确认")
    await ask.click()
    request = mp.locator("#confirmations-list .confirmation")
    await expect(request).to_contain_text("正在送达")
    await expect(request).to_contain_text(re.compile(r"三十日期限还剩 \d+ 天"))
    await expect(ask).to_be_hidden()  # on its way: not offered twice
    await mp.screenshot(path=str(ARTIFACTS / "case-documents-1280.png"), full_page=True)
    # The court's refusal shows by itself (the page reads a pending request again), with the
    # reason; the package can be sent again.
    await expect(request).to_contain_text("送达失败", timeout=25000)
    await expect(request).to_contain_text("HTTP 400")
    await expect(ask).to_be_hidden()  # the failed request is sent again, not doubled
    await mp.set_viewport_size(PHONE)
    await mp.reload()
    await expect(request).to_contain_text("送达失败")
    assert await mp.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await mp.screenshot(path=str(ARTIFACTS / "case-documents-360.png"), full_page=True)
    await request.get_by_role("button", name="重新发送").click()
    await expect(request).to_contain_text("正在送达")
    await expect(ask).to_be_hidden()
    await court_runner.cleanup()

    for p in (applicant, respondent, mediator):
        assert not p.errors, p.errors
        await p.close()
