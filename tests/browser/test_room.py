"""Three people hold a mediation in real Chromium, from the demo's invitation links.

The mediator admits the parties from the lobby; everyone receives everyone's video and audio
(getStats counters keep growing); chat reaches everyone, private messages only their two ends;
a reload and a network drop return to the same seat; audio only stops video both ways; a
removed party's link stops working.
"""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import expect

from tests.browser.room import DESKTOP, PHONE, Person, media_flows, wait_for

HOSTILE = "<b>粗体</b><img src=x onerror=alert(1)>"


async def video_frozen(receiver: Person, sender_pid: str) -> bool:
    """No new video frames from that sender over a second (or no video track at all)."""
    before = (await receiver.inbound()).get(sender_pid, {}).get("video", 0)
    await asyncio.sleep(1.0)
    after = (await receiver.inbound()).get(sender_pid, {})
    return after.get("video", 0) == before and after.get("videoTracks", 0) == 0


async def chat(person: Person, text: str, to: str | None = None) -> None:
    page = person.page
    if not await page.locator("#chat-text").is_visible():
        await page.locator("#chat-button").click()
    await page.locator("#chat-to").select_option(label=f"仅 {to}（私信）" if to else "所有人")
    await page.locator("#chat-text").fill(text)
    await page.locator("#chat-text").press("Enter")
    await expect(page.locator("#chat-log .msg:not(.pending) .msg-text", has_text=text)).to_be_visible()


async def test_three_people_hold_a_mediation_from_the_demo_links(browser, base_url, world):
    links = world.demo.links
    mediator = await Person.open(browser, "mediator", links["mediator"], DESKTOP)
    applicant = await Person.open(browser, "applicant", links["applicant"], PHONE)
    respondent = await Person.open(browser, "respondent", links["respondent"], DESKTOP)
    everyone = [mediator, applicant, respondent]
    by_label = {p.label: p for p in everyone}
    mp, ap, rp = mediator.page, applicant.page, respondent.page

    # Before joining: who you are, your camera and microphone, a level meter that moves.
    for p in everyone:
        await p.ready_to_join()
    await expect(ap.get_by_role("heading", name="第一次视频调解")).to_be_visible()
    await expect(ap.locator(".you")).to_contain_text("李秀英")
    await expect(ap.locator(".you")).to_contain_text("申请人")
    await expect(mp.locator(".you")).to_contain_text("调解员")
    await expect(ap.get_by_label("摄像头")).not_to_have_value("")
    await expect(ap.get_by_label("麦克风")).not_to_have_value("")
    await wait_for(lambda: ap.evaluate("document.getElementById('preview-video').videoWidth > 0"), 10, "the preview")
    await wait_for(lambda: ap.evaluate("window.heshiRoom.media.level() > 0.05"), 10, "the microphone level")
    await expect(ap.locator("#media-problem")).to_be_hidden()
    await applicant.screenshot("prejoin")
    await mediator.screenshot("prejoin")

    # The parties come first and wait: no mediator yet. Then the mediator arrives.
    await applicant.join()
    await expect(ap.locator("#lobby-reason")).to_have_text("调解员尚未到场。调解员允许后，您即可进入。")
    await respondent.join()
    await expect(rp.locator("#lobby")).to_be_visible()
    await mediator.join()
    await expect(mp.locator("#stage")).to_be_visible()
    await expect(mp.locator("#lobby-notice-h")).to_have_text("2 人正在等候进入")
    await expect(ap.locator("#lobby-reason")).to_have_text("调解员已知道您在等候，稍后会让您进入。")
    await expect(rp.locator("#lobby-reason")).to_have_text("调解员已知道您在等候，稍后会让您进入。")
    await applicant.screenshot("lobby")
    await respondent.screenshot("lobby")
    await mediator.screenshot("room-waiting")

    # Admit everyone waiting, at once.
    await mp.get_by_role("button", name="全部允许进入").click()
    for p in (applicant, respondent):
        await expect(p.page.locator("#stage")).to_be_visible()
    await expect(mp.locator("#lobby-notice")).to_be_hidden()

    # Everyone receives everyone's video and audio, and sees three tiles with names and roles.
    await media_flows(everyone, by_label)
    pids = {p.label: await p.pid() for p in everyone}
    for p in everyone:
        await expect(p.page.locator("#tiles .tile")).to_have_count(3)
        await expect(p.page.locator(".tile-name", has_text="清水镇卫生院")).to_be_visible()
        await expect(p.page.locator(".tile", has_text="王建国").locator(".tile-role")).to_have_text("调解员")
    await expect(mp.locator(f'.tile[data-pid="{pids["applicant"]}"] .quality')).to_have_class(
        re.compile(r"q-(good|fair)"), timeout=10000
    )
    await applicant.screenshot("room")
    await mediator.screenshot("room")
    # Video is capped at HESHI_VIDEO_MAX_KBPS on every connection; a tile marks who is speaking
    # (the fake microphone beeps).
    caps = await mp.evaluate("""() => [...window.heshiRoom.mesh.peers.values()].flatMap((peer) =>
        peer.pc.getSenders().filter((s) => s.track && s.track.kind === "video")
            .map((s) => s.getParameters().encodings.map((e) => e.maxBitrate)))""")
    assert caps == [[500_000], [500_000]], caps
    await expect(mp.locator(".tile.speaking").first).to_be_visible(timeout=10000)

    # Chat: to everyone; privately between the mediator and one party; text stays text.
    await chat(applicant, "大家好，我是李秀英。")
    for p in (mediator, respondent):
        await expect(p.page.locator("#chat-log .msg-text", has_text="大家好，我是李秀英。")).to_be_visible()
    await chat(mediator, "请李女士准备好医疗费票据。", to="李秀英")
    await expect(ap.locator("#chat-log .msg.private", has_text="请李女士准备好医疗费票据。")).to_contain_text(
        "私信给您"
    )
    await chat(applicant, "好的，票据都在。", to="王建国")
    await expect(mp.locator("#chat-log .msg.private", has_text="好的，票据都在。")).to_be_visible()
    await chat(mediator, HOSTILE)
    for p in everyone:
        await expect(p.page.locator("#chat-log .msg-text", has_text=HOSTILE)).to_have_text(HOSTILE)
        assert await p.page.locator("#chat-log img, #chat-log b").count() == 0
    # The respondent got the public messages sent after the private ones, and none of the private.
    await expect(rp.locator("#chat-log .msg")).to_have_count(2)
    for private in ("请李女士准备好医疗费票据。", "好的，票据都在。"):
        assert await rp.locator("#chat-log", has_text=private).count() == 0
    await applicant.screenshot("room-chat")

    # The mediator asks the applicant to mute: the applicant's microphone goes off, and everyone sees it.
    await mp.locator("#people-button").click()
    await mp.get_by_role("button", name="请 李秀英 静音").click()
    await expect(ap.locator("#mic-button")).to_have_text("解除静音")
    assert await ap.evaluate("window.heshiRoom.media.audioTrack.enabled") is False
    await expect(mp.locator(f'.tile[data-pid="{pids["applicant"]}"] .tile-mic')).to_be_visible()
    await ap.locator("#mic-button").click()
    await expect(mp.locator(f'.tile[data-pid="{pids["applicant"]}"] .tile-mic')).to_be_hidden()
    await mediator.screenshot("room-people")

    # A reload returns to the same seat, without the lobby: media back, chat intact, no duplicate tile.
    await ap.reload()
    await expect(ap.locator("#stage")).to_be_visible(timeout=15000)
    assert await applicant.pid() == pids["applicant"]
    await media_flows(everyone, by_label)
    for p in everyone:
        await expect(p.page.locator("#tiles .tile")).to_have_count(3)
        await expect(p.page.locator(f'.tile[data-pid="{pids["applicant"]}"]')).to_have_count(1)
    await ap.locator("#chat-button").click()
    for text in ("大家好，我是李秀英。", "请李女士准备好医疗费票据。", "好的，票据都在。", HOSTILE):
        await expect(ap.locator("#chat-log .msg-text", has_text=text)).to_have_count(1)
    await ap.locator("#chat-button").click()

    # Audio only: the respondent neither sends nor receives video, and everyone still hears everyone.
    await rp.locator("#audio-only-button").click()
    await expect(rp.locator("#audio-only-button")).to_have_attribute("aria-pressed", "true")
    for p in (mediator, applicant):
        await wait_for(lambda p=p: video_frozen(p, pids["respondent"]), 15, f"{p.label} to stop getting video")
        await expect(p.page.locator(f'.tile[data-pid="{pids["respondent"]}"] .tile-notice')).to_have_text("仅语音")
    for sender in (mediator, applicant):
        await wait_for(lambda s=sender: video_frozen(respondent, pids[s.label]), 15, "respondent to stop getting video")
    await media_flows(everyone, by_label, video=False)
    await respondent.screenshot("room-audio-only")
    # …and back to video.
    await rp.locator("#audio-only-button").click()
    await media_flows(everyone, by_label)

    # A network drop: the others see the applicant reconnecting; the applicant gets the same seat
    # back without the lobby, and media flows again.
    await ap.evaluate(
        "() => { const io = window.heshiRoom.client.socket.io; io.reconnection(false); io.engine.close(); }"
    )
    await expect(ap.locator("#conn-banner")).to_have_text("与服务器的连接已断开，正在重新连接…")
    applicant_tile = mp.locator(f'.tile[data-pid="{pids["applicant"]}"]')
    await expect(applicant_tile.locator(".tile-notice")).to_have_text("正在重新连接…")
    await mediator.screenshot("room-reconnecting")
    await ap.evaluate("() => { const s = window.heshiRoom.client.socket; s.io.reconnection(true); s.connect(); }")
    await expect(ap.locator("#conn-banner")).to_be_hidden()
    await expect(applicant_tile.locator(".tile-notice")).to_be_hidden()
    assert await applicant.pid() == pids["applicant"]
    await media_flows(everyone, by_label)

    # The mediator removes the respondent: they are out, and their link no longer lets them in.
    await mp.get_by_role("button", name="移出 清水镇卫生院").click()
    await mp.locator("#dialog-reason").fill("不遵守调解秩序")
    await mp.locator("#dialog-ok").click()
    await expect(rp.get_by_role("heading", name="您已被移出会话")).to_be_visible()
    await expect(rp.locator("#ended-reason")).to_have_text("原因：不遵守调解秩序")
    await respondent.screenshot("removed")
    for p in (mediator, applicant):
        await expect(p.page.locator("#tiles .tile")).to_have_count(2)
    response = await rp.goto(links["respondent"])
    assert response is not None and response.status == 401
    await expect(rp.get_by_role("heading", name="此链接无法使用")).to_be_visible()
    response = await rp.goto(f"{base_url}/s/{world.demo.session_id}")
    assert response is not None and response.status == 401

    errors = [e for p in everyone for e in p.errors]
    assert errors == [], errors
    for p in everyone:
        await p.close()
