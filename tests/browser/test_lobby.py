"""The lobby and the ways in and out: joining without camera or microphone, being denied with a
reason (and the link then refused), and the mediator ending the session for everyone."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.room import DESKTOP, PHONE, Person, media_flows


async def test_without_devices_one_party_still_joins_a_denied_one_cannot_come_back_then_the_session_ends(
    browser, base_url, world
):
    links = world.demo.links
    mediator = await Person.open(browser, "mediator", links["mediator"], DESKTOP)
    applicant = await Person.open(browser, "applicant", links["applicant"], PHONE, media_error="NotAllowedError")
    respondent = await Person.open(browser, "respondent", links["respondent"], PHONE, media_error="NotFoundError")
    mp, ap, rp = mediator.page, applicant.page, respondent.page

    # Clear words before joining when the browser refuses the devices, or there are none.
    await applicant.ready_to_join()
    await expect(ap.locator("#media-problem")).to_contain_text("摄像头和麦克风的使用权限被拒绝")
    await applicant.screenshot("prejoin-refused")
    await respondent.ready_to_join()
    await expect(rp.locator("#media-problem")).to_contain_text("未找到摄像头或麦克风")
    # The respondent reads English: the page and the browser code's messages switch.
    await rp.get_by_role("link", name="English").click()
    await respondent.ready_to_join()
    await expect(rp.get_by_role("button", name="Join the session")).to_be_visible()
    await expect(rp.locator("#media-problem")).to_have_text(
        "No camera or microphone was found. You can still join to watch, listen and chat."
    )
    await respondent.screenshot("prejoin-en")

    await mediator.join()
    await applicant.join()
    await respondent.join()
    await expect(mp.locator("#lobby-notice-h")).to_have_text("2 人正在等候进入")
    await expect(ap.locator("#lobby-reason")).to_have_text("调解员已知道您在等候，稍后会让您进入。")

    # Admitted one by one (with the keyboard): the respondent, with nothing to send, still sees and
    # hears the mediator.
    await mp.locator("#lobby-notice").get_by_role("button", name="允许 清水镇卫生院 进入").focus()
    await mp.keyboard.press("Enter")
    await expect(rp.locator("#stage")).to_be_visible()
    await expect(rp.get_by_role("button", name="Audio only")).to_be_visible()
    await expect(rp.locator(".tile-role")).to_have_text("Mediator")
    await media_flows([respondent], {"mediator": mediator})
    await expect(rp.locator("#tiles .tile")).to_have_count(1)  # the mediator's; they send nothing themselves
    await expect(mp.locator("#tiles .tile")).to_have_count(1)
    await mp.locator("#people-button").click()
    await expect(mp.locator("#roster")).to_contain_text("清水镇卫生院")
    await respondent.screenshot("room-receiving-only")

    # Denied, with a reason: the applicant is told, and the same link no longer opens the session.
    await mp.locator("#lobby-notice").get_by_role("button", name="拒绝 李秀英").click()
    await expect(mp.locator("#dialog")).to_be_visible()
    await mp.locator("#dialog-reason").fill("请先补充身份材料")
    await mediator.screenshot("deny-dialog")
    await mp.locator("#dialog-reason").press("Enter")
    await expect(ap.get_by_role("heading", name="您未被允许进入")).to_be_visible()
    await expect(ap.locator("#ended-reason")).to_have_text("原因：请先补充身份材料")
    await applicant.screenshot("denied")
    await expect(mp.locator("#lobby-notice")).to_be_hidden()
    response = await ap.goto(links["applicant"])
    assert response is not None and response.status == 401
    await expect(ap.get_by_role("heading", name="此链接无法使用")).to_be_visible()

    # The same link opened in a second tab takes the seat over; the first tab says so, and can
    # take it back.
    second = await respondent.context.new_page()
    await second.goto(f"{base_url}/s/{world.demo.session_id}")
    await expect(second.locator("#join-button")).to_be_enabled()
    await second.locator("#join-button").click()
    await expect(second.locator("#stage")).to_be_visible()
    await expect(rp.get_by_role("heading", name="This session is open in another window")).to_be_visible()
    await rp.get_by_role("button", name="Use this window").click()
    await expect(rp.locator("#stage")).to_be_visible()
    await expect(second.get_by_role("heading", name="This session is open in another window")).to_be_visible()
    await media_flows([respondent], {"mediator": mediator})
    await second.close()

    # The mediator ends the session for everyone.
    await mp.locator("#leave-button").click()
    await expect(mp.locator("#dialog-extra")).to_have_text("为所有人结束会话")
    await mp.locator("#dialog-extra").click()
    await expect(mp.get_by_role("heading", name="调解会话已结束")).to_be_visible()
    await expect(rp.get_by_role("heading", name="The session has ended")).to_be_visible()
    # A party's end screen offers the session's documents, which their link still opens.
    sign_link = rp.get_by_role("link", name="Read and sign the documents")
    await expect(sign_link).to_be_visible()
    assert await mp.get_by_role("link", name="阅读并签署文书").count() == 0  # the mediator signs signed in
    await respondent.screenshot("ended")
    await sign_link.click()
    await rp.wait_for_url(f"**/s/{world.demo.session_id}/sign")
    await expect(rp.locator("#signing-none")).to_be_visible()  # nothing was written in this session
    # The link itself no longer opens the room, only those documents (this tab opened the link
    # before, so join.js leaves the press to the person).
    response = await rp.goto(links["respondent"])
    assert response is not None and response.status == 200
    await expect(rp.locator("#join-status")).to_contain_text("This mediation session has ended")
    await rp.get_by_role("button", name="Read and sign the documents").click()
    await rp.wait_for_url(f"**/s/{world.demo.session_id}/sign")

    errors = [e for p in (mediator, applicant, respondent) for e in p.errors]
    assert errors == [], errors
    for p in (mediator, applicant, respondent):
        await p.close()
