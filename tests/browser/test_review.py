"""A recorded session reviewed in Chromium: a real recording (aiortc participants sending to the
real recorder worker, as tests/browser/test_recording_download.py makes it), opened by a reviewer
on its review page; the tracks play together, and choosing a minutes entry moves every track to
that entry's moment."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from playwright.async_api import Browser, expect

from recordings import evidence
from server.domain.clock import wire_time
from tests.browser.room import ARTIFACTS, DESKTOP, PHONE
from tests.recordings.media import PatternVideoTrack, SineAudioTrack
from tests.recordings.sender import send_to_recorder
from tests.signaling.harness import Participant, join_cookie
from tests.support.waiting import wait_for

# Where each media element is, and where the page's clock says it should be (from the review's
# spans, computed here again from the API's answer rather than trusted from the page).
MEDIA = """() => [...document.querySelectorAll("#review-grid video, #review-grid audio")].map((m) => ({
  id: m.dataset.trackId, kind: m.dataset.kind, time: m.currentTime, paused: m.paused, ready: m.readyState,
  error: m.error && m.error.code, width: m.videoWidth || 0}))"""
ALL_PAUSED = "() => [...document.querySelectorAll('#review-grid video, #review-grid audio')].every((m) => m.paused)"
NO_VIDEO = "() => [...document.querySelectorAll('#review-grid video')].every((v) => !v.getAttribute('src'))"
REVIEW = """async (url) => (await fetch(url, {credentials: "same-origin"})).json()"""


def expected_time(track: dict[str, Any], at: datetime) -> float | None:
    """The media time of `track` at wall clock `at`, by its spans (None in a gap)."""
    for span in track["spans"]:
        start, end = datetime.fromisoformat(span["start"]), datetime.fromisoformat(span["end"])
        if start <= at < end:
            return span["media_start"] + (at - start).total_seconds()
    return None


async def test_a_reviewer_watches_the_tracks_together_and_a_minutes_entry_seeks_to_its_moment(
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
        # The expert starts sending a second after the mediator: their tracks start apart.
        tracks = [(PatternVideoTrack(120), SineAudioTrack(200)), (PatternVideoTrack(75), SineAudioTrack(125))]
        pcs.append(await send_to_recorder(mediator, *tracks[0]))
        await asyncio.sleep(1.0)
        pcs.append(await send_to_recorder(expert, *tracks[1]))
        await wait_for(lambda: _sent(tracks), 20, "the media to be sent")
        await asyncio.sleep(0.5)
        assert (await mediator.call("recording.stop", {}))["ok"]
        segments = await wait_for(lambda: _segments(core, demo.session_id, 4), 30, "the segments to be logged")
        # Minutes entries at moments the recording covers: while only the mediator is recorded,
        # and while both are.
        first = min(s.first_wallclock for s in segments)
        moments = [first + timedelta(seconds=0.6), first + timedelta(seconds=2.6)]
        minutes = await mediator.call("minutes.get")
        entries = [
            {"speaker": "调解员", "text": "双方到场，开始调解", "at": wire_time(moments[0])},
            {"speaker": "专家", "text": "鉴定意见：漏水源于楼上管道", "at": wire_time(moments[1])},
        ]
        saved = await mediator.call(
            "minutes.save",
            {"base_revision": minutes["minutes"]["revision"], "save_id": "review-1", "document": {"entries": entries}},
        )
        assert saved["ok"], saved
        assert (await mediator.call("session.end", {"reason": "调解结束"}))["ok"]
    finally:
        for pc in pcs:
            await pc.close()
        for p in people:
            await p.close()

    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        await page.goto(f"{base_url}/login")
        await page.fill("input[name=username]", "demo-reviewer")
        await page.fill("input[name=password]", world.passwords["demo-reviewer"])
        await page.locator("form button[type=submit]").click()
        await page.wait_for_url("**/cases**")
        await page.goto(f"{base_url}/s/{demo.session_id}/review")
        await expect(page.locator("#review[data-ready=true]")).to_be_attached(timeout=30_000)
        review = await page.evaluate(REVIEW, f"/api/v1/sessions/{demo.session_id}/review")
        tracks_by_id = {t["id"]: t for t in review["tracks"]}
        assert {(t["kind"], t["role"]) for t in review["tracks"]} == {
            ("video", "mediator"),
            ("audio", "mediator"),
            ("video", "expert"),
            ("audio", "expert"),
        }, review["tracks"]
        assert all(t["url"] and t["sha256"] for t in review["tracks"])
        await expect(page.locator("#review-grid figure")).to_have_count(2)
        await expect(page.locator("#review-minutes li")).to_have_count(2)

        # Play: every track's element runs, each where the one clock says it should be.
        await page.locator("#review-play").click()
        await page.wait_for_function(
            "() => [...document.querySelectorAll('#review-grid video')].every((v) => v.currentTime > 0.8 && !v.paused)",
            timeout=20_000,
        )
        state = await page.evaluate(MEDIA)
        assert all(not m["error"] for m in state), state
        assert all(m["width"] == 640 for m in state if m["kind"] == "video"), state
        await page.locator("#review-play").click()  # pause: the clock and every element stop together
        await page.wait_for_function(ALL_PAUSED)
        await asyncio.sleep(0.5)  # a tick or two: the elements are put exactly where the clock stopped
        position = float(await page.locator("#review").get_attribute("data-position") or "nan")
        origin = datetime.fromisoformat(review["origin"])
        now_wall = origin + timedelta(seconds=position)
        for m in await page.evaluate(MEDIA):
            want = expected_time(tracks_by_id[m["id"]], now_wall)
            if want is not None:
                assert abs(m["time"] - want) < 0.1, (m, want, position)

        # Choosing the second minutes entry (both people recorded then) moves every track there.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.locator("#review-minutes li").nth(1).locator("button").click()
        at = datetime.fromisoformat(review["minutes"]["entries"][1]["at"])
        want = {tid: expected_time(t, at) for tid, t in tracks_by_id.items()}
        assert all(v is not None for v in want.values()), want

        async def in_place() -> Any:
            state = await page.evaluate(MEDIA)
            return state if all(abs(m["time"] - want[m["id"]]) < 0.1 and m["ready"] >= 2 for m in state) else None

        placed = await wait_for(in_place, 10, "every track to be at the minutes entry's moment")
        assert len(placed) == 4, placed
        await expect(page.locator("#review-minutes li").nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
        await page.screenshot(path=str(ARTIFACTS / "review-desktop.png"), full_page=True)

        # The first entry: only the mediator was recorded then; the expert's tile shows a gap.
        await page.locator("#review-minutes li").nth(0).locator("button").click()
        at0 = datetime.fromisoformat(review["minutes"]["entries"][0]["at"])
        expert_video = next(t for t in review["tracks"] if t["role"] == "expert" and t["kind"] == "video")
        mediator_video = next(t for t in review["tracks"] if t["role"] == "mediator" and t["kind"] == "video")
        assert expected_time(expert_video, at0) is None
        await expect(page.locator(f'figure[data-pid="{expert_video["pid"]}"]')).to_have_class(re.compile(r"\bin-gap\b"))

        async def mediator_there() -> bool:
            state = {m["id"]: m for m in await page.evaluate(MEDIA)}
            want0 = expected_time(mediator_video, at0)
            return want0 is not None and abs(state[mediator_video["id"]]["time"] - want0) < 0.1

        await wait_for(mediator_there, 10, "the mediator's video at the first entry")
        assert not problems, problems

        # A deep link opens at a moment, on a phone, without video.
        phone = await browser.new_context(viewport=PHONE, locale="zh-CN", storage_state=await context.storage_state())
        small = await phone.new_page()
        second = quote(review["minutes"]["entries"][1]["at"])
        await small.goto(f"{base_url}/s/{demo.session_id}/review?audio=1&t={second}")
        await expect(small.locator("#review[data-ready=true]")).to_be_attached(timeout=30_000)
        await expect(small.locator("#review-audio-only")).to_be_checked()
        assert await small.evaluate(NO_VIDEO)
        position = float(await small.locator("#review").get_attribute("data-position") or "nan")
        assert abs(origin + timedelta(seconds=position) - at) < timedelta(seconds=0.05)
        width = await small.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, f"the page is {width} px wide on a 360 px phone"
        await small.screenshot(path=str(ARTIFACTS / "review-phone.png"), full_page=True)
        await phone.close()
    finally:
        await context.close()
    assert json.dumps(problems) == "[]"


async def _sent(tracks: list[tuple[PatternVideoTrack, SineAudioTrack]]) -> bool:
    return all(v.sent >= v.frames and a.sent >= a.frames for v, a in tracks)


async def _segments(core: Any, session_id: str, kinds: int) -> Any:
    segments = await evidence.segments_of(core, session_id)
    return segments if len({(s.pid, s.kind) for s in segments}) >= kinds else None
