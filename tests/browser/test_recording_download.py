"""A recorded session's one-file download plays in Chromium, from the case page's link."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from playwright.async_api import Browser, expect

from recordings import composite
from tests.browser.room import ARTIFACTS, DESKTOP
from tests.recordings.media import PatternVideoTrack, SineAudioTrack
from tests.recordings.sender import send_to_recorder
from tests.signaling.harness import Participant, join_cookie
from tests.support.waiting import wait_for

PLAYBACK = """async () => {
  const v = document.querySelector("video");
  if (!v) return null;
  v.muted = true;
  // A player that cannot load the file (a CSP without media-src, say) never settles play().
  const stuck = new Promise((_, reject) => setTimeout(() => reject(new Error("play() did not settle in 15 s")), 15000));
  try { await Promise.race([v.play(), stuck]); } catch (e) { return {error: String(e)}; }
  const t0 = v.currentTime;
  await new Promise((r) => setTimeout(r, 1200));
  return {width: v.videoWidth, height: v.videoHeight, advanced: v.currentTime - t0, error: v.error && v.error.code,
          duration: v.duration};
}"""


async def test_a_recorded_session_downloads_as_one_video_that_plays_in_chromium(
    browser: Browser, base_url: str, core: Any, world: Any
) -> None:
    demo = world.demo
    people = []
    for role in ("mediator", "expert"):
        p = Participant(base_url, demo.session_id, join=await join_cookie(base_url, demo.links[role]))
        await p.join()
        people.append(p)
    mediator, expert = people
    pcs = []
    try:
        assert (await mediator.call("recording.start"))["ok"]
        assert (await expert.call("recording.consent", {"consent": True}))["ok"]
        await expert.wait_event("recording.updated", timeout=30, state="on", recorder_ready=True)
        tracks = [(PatternVideoTrack(90), SineAudioTrack(150)) for _ in people]
        pcs = [await send_to_recorder(p, *t) for p, t in zip(people, tracks)]
        await wait_for(lambda: _sent(tracks), 20, "the media to be sent")
        await asyncio.sleep(0.5)
        assert (await mediator.call("session.end", {"reason": "settled"}))["ok"]
        row = await wait_for(lambda: _finished(core, demo.session_id), 90, "the download to be made")
        assert row.status == "done", row.error
    finally:
        for pc in pcs:
            await pc.close()
        for p in people:
            await p.close()

    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    try:
        await page.goto(f"{base_url}/login")
        await page.fill("input[name=username]", "demo-mediator")
        await page.fill("input[name=password]", world.passwords["demo-mediator"])
        await page.locator("form button[type=submit]").click()
        await page.goto(f"{base_url}/cases/{demo.case_id}")
        link = page.locator(f'a[href="/api/v1/sessions/{demo.session_id}/recording/composite.webm"]')
        await expect(link).to_be_visible()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "case-page-recording.png"), full_page=True)
        await link.click()
        await page.wait_for_url("**/composite.webm")
        played = await page.evaluate(PLAYBACK)
        assert played and not played.get("error"), json.dumps(played)
        assert (played["width"], played["height"]) == (1280, 480), played
        assert played["advanced"] > 0.5, played
    finally:
        await context.close()


async def _sent(tracks: list[tuple[PatternVideoTrack, SineAudioTrack]]) -> bool:
    return all(v.sent >= 90 and a.sent >= 150 for v, a in tracks)


async def _finished(core: Any, session_id: str) -> Any:
    row = await composite.status(core, session_id)
    return row if row is not None and row.status in ("done", "failed") else None
