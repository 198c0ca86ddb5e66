"""Driving the room page in Chromium: one Person per browser context, and media checks from getStats."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.support.waiting import wait_for

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "room"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}

# What each remote peer's connection has received so far, by pid (the page exposes its objects
# as window.heshiRoom for support and for these tests).
INBOUND = """async () => {
  const out = {};
  const mesh = window.heshiRoom && window.heshiRoom.mesh;
  if (!mesh) return out;
  for (const [pid, peer] of mesh.peers) {
    const report = await peer.pc.getStats();
    let video = 0, audio = 0, heard = 0;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") video += s.framesDecoded || 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        audio += s.totalSamplesReceived || 0;
        // totalSamplesReceived also counts the filler Chromium makes up while nothing arrives;
        // without the concealed samples it counts only audio that came in packets.
        heard += (s.totalSamplesReceived || 0) - (s.concealedSamples || 0);
      }
    });
    out[pid] = {video, audio, heard, state: peer.pc.connectionState,
                videoTracks: peer.stream.getVideoTracks().filter((t) => t.readyState === "live" && !t.muted).length};
  }
  return out;
}"""

# Make getUserMedia fail the way a browser does when access is refused or nothing is plugged in.
MEDIA_FAILS = """(name) => {
  const fail = () => Promise.reject(new DOMException("test: " + name, name));
  if (navigator.mediaDevices) navigator.mediaDevices.getUserMedia = fail;
}"""


@dataclass
class Person:
    label: str
    context: BrowserContext
    page: Page
    viewport: dict[str, int]
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    @classmethod
    async def open(
        cls, browser: Browser, label: str, link: str, viewport: dict[str, int], *, media_error: str | None = None
    ) -> Person:
        context = await browser.new_context(
            viewport=viewport,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            device_scale_factor=1,
            is_mobile=viewport is PHONE,
            has_touch=viewport is PHONE,
        )
        if media_error:
            await context.add_init_script(f"({MEDIA_FAILS})({media_error!r})")
        page = await context.new_page()
        person = cls(label, context, page, viewport)
        page.on("console", lambda msg: person.console.append(f"{msg.type}: {msg.text}"))
        page.on(
            "console",
            lambda msg: (
                person.errors.append(f"{label}: {msg.text}")
                if msg.type == "error" and not msg.text.startswith("Failed to load resource")
                else None
            ),
        )
        page.on("pageerror", lambda exc: person.errors.append(f"{label}: {exc}"))
        await page.goto(link)
        return person

    async def ready_to_join(self) -> None:
        await expect(self.page.locator("#join-button")).to_be_enabled(timeout=15000)

    async def join(self) -> None:
        await self.ready_to_join()
        await self.page.locator("#join-button").click()

    async def pid(self) -> str:
        return await self.page.evaluate("window.heshiRoom.client.me.pid")

    async def inbound(self) -> dict[str, Any]:
        return await self.page.evaluate(INBOUND)

    async def screenshot(self, name: str) -> None:
        """No sideways scrolling, and a picture to look at."""
        width = self.viewport["width"]
        scroll = await self.page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, f"{name}: the page scrolls sideways ({scroll}px > {width}px)"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"))

    async def close(self) -> None:
        await self.context.close()


async def media_flows(
    receivers: list[Person], senders: dict[str, Person], *, video: bool = True, timeout: float = 30
) -> None:
    """Each receiver keeps receiving audio (and video) from each sender: counters grow over a second."""
    pids = {p.label: await p.pid() for p in senders.values()}

    async def started() -> bool:
        for r in receivers:
            stats = await r.inbound()
            for s in senders.values():
                if s is r:
                    continue
                got = stats.get(pids[s.label])
                if not got or got["audio"] == 0 or (video and got["video"] == 0):
                    return False
        return True

    try:
        await wait_for(started, timeout, "media to start flowing")
    except AssertionError:
        seen = {r.label: await r.inbound() for r in receivers}
        logs = []
        for r in receivers:
            trace = await r.page.evaluate("window.heshiRoom.mesh ? window.heshiRoom.mesh.trace : []")
            logs.append(f"--- {r.label} {await r.pid()}\n" + "\n".join(r.console + trace))
        logs = "\n".join(logs)
        raise AssertionError(f"media did not start flowing: {pids} {seen}\n{logs}") from None
    first = {r.label: await r.inbound() for r in receivers}
    await asyncio.sleep(1.5)
    second = {r.label: await r.inbound() for r in receivers}
    for r in receivers:
        for s in senders.values():
            if s is r:
                continue
            a, b = first[r.label][pids[s.label]], second[r.label][pids[s.label]]
            assert b["audio"] > a["audio"], f"{r.label} stopped hearing {s.label}: {a} -> {b}"
            assert b["heard"] > a["heard"], f"{r.label} hears only concealment from {s.label}: {a} -> {b}"
            if video:
                assert b["video"] > a["video"], f"{r.label} stopped seeing {s.label}: {a} -> {b}"
