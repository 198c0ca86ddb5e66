// The review page of a recorded session (web/templates/review.html): loads the review from
// GET /api/v1/sessions/{id}/review (docs/review.md), plays every track on one clock (player.js),
// and keeps the minutes, the chat, the events and the position beside it in step. `?t=` opens at
// a moment, `?audio=1` without video. Media URLs last ten minutes and are bound to this
// browser's sign-in: fresh ones are fetched before they run out, and when a file fails.

import { loadCatalog, t } from "../i18n.js";
import { $ } from "../room/views/dom.js";
import { Playback } from "./player.js";
import { beijingTime, buildTimeline, formatClock, parseMoment, search } from "./timeline.js";
import {
  Follower, markGaps, renderChat, renderEvents, renderLanes, renderMinutes, renderResults, renderTiles,
} from "./views.js";

const REFRESH_BEFORE_MS = 90_000; // fetch fresh media URLs this long before they expire
const RETRIES_PER_MINUTE = 3;

async function getJSON(url) {
  const resp = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const error = new Error((body && body.error && body.error.message) || `HTTP ${resp.status}`);
    error.status = resp.status;
    throw error;
  }
  return body;
}

function problem(text) {
  const node = $("review-problem");
  node.textContent = text;
  node.hidden = false;
}

async function main() {
  loadCatalog();
  const root = $("review");
  const lang = root.dataset.lang || "zh";
  const api = `/api/v1/sessions/${encodeURIComponent(root.dataset.sessionId)}`;
  const params = new URLSearchParams(window.location.search);
  let audioOnly = params.get("audio") === "1";

  let review;
  try {
    review = await getJSON(`${api}/review`);
  } catch (error) {
    $("review-loading").hidden = true;
    problem(t("The recording could not be loaded: %(reason)s", { reason: error.message }));
    return;
  }
  const timeline = buildTimeline(review);
  const urls = new Map(timeline.tracks.map((tr) => [tr.id, tr.url]));
  let expiresAt = Date.parse(review.urls_expire_at);
  const failures = new Map(); // track id -> times of recent failures

  const grid = $("review-grid");
  const seekInput = $("review-seek");
  const playButton = $("review-play");
  seekInput.max = String(timeline.duration);
  const cursor = renderLanes($("review-lanes"), timeline);
  renderMinutes($("review-minutes"), timeline, lang, (at) => seekTo(at));
  renderChat($("review-chat"), timeline, lang, (at) => seekTo(at));
  renderEvents($("review-events"), timeline, lang, (at) => seekTo(at));
  $("review-minutes-none").hidden = timeline.minutes.length > 0;
  const followers = [
    new Follower($("review-minutes")),
    new Follower($("review-chat"), { reveal: true, empty: $("review-chat-none") }),
    new Follower($("review-events")),
  ];
  $("review-none").hidden = timeline.tracks.length > 0;

  let dragging = false;
  const playback = new Playback(timeline, {
    onTick: (now) => {
      $("review-clock").textContent = `${formatClock(now)} / ${formatClock(timeline.duration)}`;
      $("review-wall").textContent = t("%(time)s Beijing time", { time: beijingTime(timeline, now, lang, true) });
      if (!dragging) seekInput.value = String(now);
      cursor.style.left = `${timeline.duration > 0 ? (now / timeline.duration) * 100 : 0}%`;
      for (const f of followers) f.update(now);
      markGaps(tiles.tiles, timeline, now, audioOnly);
      root.dataset.position = now.toFixed(3);
      if (Date.now() > expiresAt - REFRESH_BEFORE_MS) refreshUrls().catch(() => {});
    },
    onState: (playing) => {
      playButton.textContent = playing ? t("Pause") : t("Play");
      playButton.setAttribute("aria-pressed", String(playing));
      if (!playing) remember();
    },
    onMediaError: (trackId) => recover(trackId),
  });

  let tiles = renderTiles(grid, timeline, { audioOnly });
  const attachAll = () => {
    for (const track of timeline.tracks) {
      const node = tiles.media.get(track.id);
      if (node) playback.attach(track, node);
    }
  };
  attachAll();

  // ---- media URLs ----------------------------------------------------------------------------

  let refreshing = null;
  function refreshUrls() {
    if (!refreshing) {
      refreshing = getJSON(`${api}/review/urls`)
        .then((fresh) => {
          expiresAt = Date.parse(fresh.urls_expire_at);
          for (const tr of fresh.tracks) urls.set(tr.id, tr.url);
        })
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  /** Give every loaded element its current URL (after a refresh), keeping its place. */
  function useFreshUrls() {
    for (const [id, node] of tiles.media) {
      const src = node.getAttribute("src");
      if (src && urls.get(id) && src !== urls.get(id)) {
        node.setAttribute("src", urls.get(id));
        node.load();
      }
    }
  }

  async function recover(trackId) {
    const now = Date.now();
    const recent = (failures.get(trackId) || []).filter((at) => now - at < 60_000);
    recent.push(now);
    failures.set(trackId, recent);
    if (recent.length > RETRIES_PER_MINUTE) {
      problem(t("Part of the recording could not be played. Reload the page to try again."));
      return;
    }
    try {
      await refreshUrls();
    } catch (error) {
      problem(t("The recording could not be loaded: %(reason)s", { reason: error.message }));
      return;
    }
    const node = tiles.media.get(trackId);
    if (node && node.getAttribute("src")) {
      node.setAttribute("src", urls.get(trackId));
      node.load(); // its loadedmetadata puts it back in step
    }
  }

  async function beforeMoving() {
    if (Date.now() > expiresAt - 30_000) {
      try {
        await refreshUrls();
        useFreshUrls();
      } catch {
        // the elements keep their URLs; a failing one recovers on its own error
      }
    }
  }

  // ---- moving through the session ------------------------------------------------------------

  async function seekTo(at) {
    await beforeMoving();
    playback.seek(Math.max(0, Math.min(at, timeline.duration)));
    remember();
  }

  function linkHere() {
    const url = new URL(window.location.href);
    url.searchParams.set("t", playback.position.toFixed(1));
    if (audioOnly) url.searchParams.set("audio", "1");
    else url.searchParams.delete("audio");
    return url;
  }

  function remember() {
    window.history.replaceState(null, "", linkHere());
  }

  playButton.addEventListener("click", async () => {
    if (!playback.playing) await beforeMoving();
    playback.toggle();
  });
  seekInput.addEventListener("input", () => {
    dragging = true;
    playback.seek(Number(seekInput.value));
  });
  seekInput.addEventListener("change", () => {
    dragging = false;
    seekTo(Number(seekInput.value));
  });

  const audioToggle = $("review-audio-only");
  audioToggle.checked = audioOnly;
  audioToggle.addEventListener("change", () => {
    audioOnly = audioToggle.checked;
    for (const track of timeline.tracks) {
      if (track.kind !== "video") continue;
      const node = tiles.media.get(track.id);
      if (!node) continue;
      if (audioOnly) {
        node.removeAttribute("src");
        node.load(); // stops the download
        node.closest(".review-tile").classList.add("no-video");
      } else if (urls.get(track.id)) {
        node.preload = "auto";
        node.setAttribute("src", urls.get(track.id));
        node.load();
        node.closest(".review-tile").classList.remove("no-video");
      }
    }
    playback.seek(playback.position);
    remember();
  });

  $("review-copy-link").addEventListener("click", async () => {
    const link = linkHere().toString();
    const out = $("review-copied");
    try {
      await navigator.clipboard.writeText(link);
      out.textContent = t("Link copied");
    } catch {
      out.textContent = link; // no clipboard (not https): the link to copy by hand
    }
  });

  const searchInput = $("review-search");
  const results = $("review-results");
  searchInput.addEventListener("input", () => {
    results.dataset.query = searchInput.value.trim();
    renderResults(results, $("review-search-none"), timeline, search(timeline, searchInput.value), lang, (at) => seekTo(at));
  });

  $("review-loading").hidden = true;
  $("review-body").hidden = false;
  const start = parseMoment(params.get("t"), timeline);
  playback.start();
  if (start !== null) playback.seek(start);
  root.dataset.ready = "true";
}

main();
