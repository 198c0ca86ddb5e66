"""A failed ICE connection is restarted between browsers.

The mediator's Chromium runs in one network namespace, the applicant's in another; their only
path to each other is one cable (tests/support/netns.py), while each reaches the Heshi server over
its own. Once video and audio flow both ways, the cable goes silent: both pages show the other as
reconnecting, and the impolite side of the pair restarts ICE on the same RTCPeerConnection (new
ICE credentials on both ends, renegotiated over the still-working signaling). That restart
cannot succeed while the cable is cut, so it is made again. When the cable works again, media
flows again both ways on that connection, with no new connection and no reload.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp import web
from playwright.async_api import Browser, async_playwright, expect

from server.app import create_app
from server.config import Settings
from server.services.core import Core
from tests.browser.room import DESKTOP, Person, media_flows, wait_for
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, MEDIA_ARGS, settings_on_port
from tests.support.netns import NamespacePair, netns_pair  # noqa: F401 — fixture

RECONNECTING = "正在重新连接…"

# Counts restartIce() calls (mesh.js calls it on the connection's own object), marks the
# connections there are before the cut (a new one would have no mark), and records each one's
# ICE and connection states.
WATCH = """() => {
  if (window.heshiTest) return;
  const test = window.heshiTest = {restarts: 0, history: []};
  const restartIce = RTCPeerConnection.prototype.restartIce;
  RTCPeerConnection.prototype.restartIce = function () {
    test.restarts += 1;
    test.history.push(`${(performance.now() / 1000).toFixed(1)} restartIce`);
    return restartIce.call(this);
  };
  for (const peer of window.heshiRoom.mesh.peers.values()) {
    const pc = peer.pc;
    pc.heshiTestMark = "before the cut";
    const note = (what) => test.history.push(`${(performance.now() / 1000).toFixed(1)} ${what}`);
    pc.addEventListener("iceconnectionstatechange", () => note(`ice ${pc.iceConnectionState}`));
    pc.addEventListener("connectionstatechange", () => note(`connection ${pc.connectionState}`));
  }
}"""

# Each peer connection: its states, its ICE credentials, and the addresses of the pair in use.
CONNECTIONS = """async () => {
  const out = {};
  const ufrag = (d) => { const m = d && /^a=ice-ufrag:(\\S+)/m.exec(d.sdp); return m ? m[1] : null; };
  for (const [pid, peer] of window.heshiRoom.mesh.peers) {
    const pc = peer.pc;
    let pair = null;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type !== "transport" || !s.selectedCandidatePairId) return;
      const p = report.get(s.selectedCandidatePairId);
      const local = p && report.get(p.localCandidateId), remote = p && report.get(p.remoteCandidateId);
      if (local && remote) pair = {local: local.address, remote: remote.address, state: p.state};
    });
    out[pid] = {polite: peer.polite, mark: pc.heshiTestMark || null, ice: pc.iceConnectionState,
                connection: pc.connectionState, signaling: pc.signalingState,
                localUfrag: ufrag(pc.localDescription), remoteUfrag: ufrag(pc.remoteDescription), pair};
  }
  const test = window.heshiTest || {restarts: 0, history: []};
  return {peers: out, restarts: test.restarts, history: test.history};
}"""

# What one peer connection has received: video frames decoded, audio packets, and audio samples
# that came in packets. (totalSamplesReceived alone keeps growing while nothing arrives: it counts
# the samples the receiver makes up to cover the gap too, concealedSamples.)
RECEIVED = """async (pid) => {
  const out = {frames: 0, audioPackets: 0, audioSamples: 0};
  const peer = window.heshiRoom.mesh.peers.get(pid);
  if (!peer) return out;
  (await peer.pc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") out.frames += s.framesDecoded || 0;
    if (s.kind === "audio") {
      out.audioPackets += s.packetsReceived || 0;
      out.audioSamples += (s.totalSamplesReceived || 0) - (s.concealedSamples || 0);
    }
  });
  return out;
}"""


def on_host(link: str, host: str) -> str:
    """The same link, through the address a namespace reaches the server at."""
    parts = urlsplit(link)
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, port: int, netns_pair: NamespacePair) -> Settings:
    from tests.conftest import TEST_SECRET

    base = settings_on_port(tmp_path, database_url, port, TEST_SECRET)
    return replace(base, allowed_origins=tuple(f"http://{ns.server_address}:{port}" for ns in netns_pair))


@pytest.fixture
async def origins(core: Core, port: int, netns_pair: NamespacePair) -> AsyncIterator[dict[str, str]]:
    """The Heshi server, on the root namespace's end of each uplink (and nowhere else)."""
    runner = web.AppRunner(create_app(core.settings, core=core))
    await runner.setup()
    try:
        for ns in netns_pair:
            await web.TCPSite(runner, ns.server_address, port).start()
        yield {ns.side: f"http://{ns.server_address}:{port}" for ns in netns_pair}
    finally:
        await runner.cleanup()


@pytest.fixture
async def browsers(
    origins: dict[str, str], netns_pair: NamespacePair, tmp_path: Path
) -> AsyncIterator[dict[str, Browser]]:
    """One Chromium in each namespace. Closed before the server (open WebSockets hold its shutdown)."""
    async with async_playwright() as pw:
        out: dict[str, Browser] = {}
        try:
            for ns in netns_pair:
                # http://10.213.x.1 is no secure context: let getUserMedia work there all the same.
                args = [*CHROMIUM_ARGS, *MEDIA_ARGS, f"--unsafely-treat-insecure-origin-as-secure={origins[ns.side]}"]
                out[ns.side] = await pw.chromium.launch(executable_path=ns.launcher(tmp_path, CHROMIUM), args=args)
            yield out
        finally:
            for b in out.values():
                await b.close()


async def connections(person: Person) -> dict[str, Any]:
    return await person.page.evaluate(CONNECTIONS)


async def the_connection(person: Person, other_pid: str) -> dict[str, Any]:
    return (await connections(person))["peers"][other_pid]


async def received(person: Person, other_pid: str) -> dict[str, int]:
    return await person.page.evaluate(RECEIVED, other_pid)


async def until(people: list[Person], predicate: Any, timeout: float, what: str) -> Any:
    """wait_for, and on a timeout what each page's connection went through."""
    try:
        return await wait_for(predicate, timeout, what)
    except AssertionError as exc:
        state = {p.label: await connections(p) for p in people}
        traces = {p.label: await p.page.evaluate("window.heshiRoom.mesh.trace") for p in people}
        raise AssertionError(f"{exc}\n{state}\n{traces}") from None


def grew(before: dict[str, int], after: dict[str, int]) -> list[str]:
    return [k for k in before if after[k] > before[k]]


async def test_a_failed_ice_connection_is_restarted_between_browsers(netns_pair, origins, browsers, world):
    ns_a, ns_b = netns_pair.a, netns_pair.b
    links = world.demo.links
    mediator = await Person.open(browsers["a"], "mediator", on_host(links["mediator"], ns_a.server_address), DESKTOP)
    applicant = await Person.open(browsers["b"], "applicant", on_host(links["applicant"], ns_b.server_address), DESKTOP)
    both = [mediator, applicant]
    by_label = {p.label: p for p in both}
    mp, ap = mediator.page, applicant.page

    # In the room, each over its own uplink; video and audio flow both ways.
    await applicant.join()
    await expect(ap.locator("#lobby")).to_be_visible()
    await mediator.join()
    await mp.locator("#lobby-notice").get_by_role("button", name="允许 李秀英 进入").click()
    await expect(ap.locator("#stage")).to_be_visible()
    await media_flows(both, by_label)
    pid = {p.label: await p.pid() for p in both}
    other = {"mediator": pid["applicant"], "applicant": pid["mediator"]}
    other_label = {"mediator": "applicant", "applicant": "mediator"}

    # …over the cable between the namespaces, the only path there is.
    before = {}
    for p in both:
        c = await the_connection(p, other[p.label])
        assert c["connection"] == "connected", c
        assert c["pair"] is not None, c
        assert {c["pair"]["local"], c["pair"]["remote"]} == {ns_a.media_address, ns_b.media_address}, c
        before[p.label] = c
    # The two ends agree on who restarts: exactly one of them is impolite (mesh.js restarts from there).
    assert before["mediator"]["polite"] != before["applicant"]["polite"], before
    restarter = mediator if not before["mediator"]["polite"] else applicant
    for p in both:
        await p.page.evaluate(WATCH)

    # The cable goes silent. Both show the other reconnecting (connection lost), and nothing more arrives.
    cut_at = time.monotonic()
    netns_pair.cut_media()
    for p in both:
        tile = p.page.locator(f'.tile[data-pid="{other[p.label]}"]')
        await expect(tile).to_have_class(re.compile(r"\breconnecting\b"), timeout=20000)
        await expect(tile.locator(".tile-notice")).to_have_text(RECONNECTING)
        await expect(tile.locator(".quality")).to_have_class(re.compile(r"\bq-lost\b"), timeout=5000)
    seen_reconnecting = time.monotonic() - cut_at
    await mediator.screenshot("ice-restart-outage")
    frozen = {p.label: await received(p, other[p.label]) for p in both}
    await asyncio.sleep(1.0)
    for p in both:
        now = await received(p, other[p.label])
        assert grew(frozen[p.label], now) == [], (
            f"{p.label} still receives over a cut cable: {frozen[p.label]} -> {now}"
        )

    # The impolite side restarts ICE on the same connection: new credentials on both ends, agreed
    # over signaling while the cable is still cut. That restart fails, and is made again.
    polite = applicant if restarter is mediator else mediator
    restarted_at = []

    async def restarted(count: int, previous: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        state = {p.label: await connections(p) for p in both}
        if state[restarter.label]["restarts"] < count:
            return None
        peers = {p.label: state[p.label]["peers"].get(other[p.label]) for p in both}
        for p in both:
            c, old = peers[p.label], previous[p.label]
            if not c or c["signaling"] != "stable":
                return None
            if c["localUfrag"] == old["localUfrag"] or c["remoteUfrag"] == old["remoteUfrag"]:
                return None
        assert state[polite.label]["restarts"] == 0, state  # only the impolite side restarts
        for p in both:
            c = peers[p.label]
            assert c["mark"] == "before the cut", f"{p.label}: a new connection instead of a restart: {c}"
            assert c["connection"] != "connected", f"{p.label}: connected over a cut cable: {c}"
            # What one end offers is what the other end takes.
            assert c["localUfrag"] == peers[other_label[p.label]]["remoteUfrag"], peers
        restarted_at.append(time.monotonic() - cut_at)
        return peers

    first = await until(both, lambda: restarted(1, before), 30, "an ICE restart during the outage")
    await until(both, lambda: restarted(2, first), 20, "the failed ICE restart to be made again")

    # The cable works again: the same connection comes back, and media flows both ways again.
    netns_pair.restore_media()
    restored_at = time.monotonic()
    at_restore = {p.label: await received(p, other[p.label]) for p in both}

    async def flowing_again() -> bool:
        for p in both:
            c = await the_connection(p, other[p.label])
            now = await received(p, other[p.label])
            if c["connection"] != "connected" or len(grew(at_restore[p.label], now)) < len(now):
                return False
        return True

    await until(both, flowing_again, 30, "media to flow again after the cable is back")
    recovered = time.monotonic() - restored_at
    await media_flows(both, by_label)
    # …and keeps flowing: frames, audio packets and real audio samples, both ways.
    again = {p.label: await received(p, other[p.label]) for p in both}
    await asyncio.sleep(1.5)
    for p in both:
        now = await received(p, other[p.label])
        assert len(grew(again[p.label], now)) == len(now), f"{p.label}: {again[p.label]} -> {now}"
    after = {p.label: await connections(p) for p in both}
    for p in both:
        c = after[p.label]["peers"][other[p.label]]
        assert c["mark"] == "before the cut", c
        assert c["connection"] == "connected" and c["ice"] in ("connected", "completed"), c
        assert c["localUfrag"] != before[p.label]["localUfrag"], c
        assert {c["pair"]["local"], c["pair"]["remote"]} == {ns_a.media_address, ns_b.media_address}, c
        tile = p.page.locator(f'.tile[data-pid="{other[p.label]}"]')
        await expect(tile).not_to_have_class(re.compile(r"\breconnecting\b"))
        await expect(tile.locator(".tile-notice")).to_be_hidden()
        await expect(tile.locator(".quality")).to_have_class(re.compile(r"\bq-(good|fair)\b"), timeout=10000)
    await mediator.screenshot("ice-restart-restored")
    print(
        f"\nreconnecting shown after {seen_reconnecting:.1f}s, restarts seen after "
        f"{', '.join(f'{t:.1f}' for t in restarted_at)}s, "
        f"media back {recovered:.1f}s after the restore; restarts by {restarter.label}: "
        f"{after[restarter.label]['restarts']}; {restarter.label} saw {after[restarter.label]['history']}, "
        f"{polite.label} saw {after[polite.label]['history']}"
    )

    errors = [e for p in both for e in p.errors]
    assert errors == [], errors
    for p in both:
        await p.close()
