// What the review page draws: a tile per person with their video and audio, a bar per track with
// its gaps, and the lists beside the playback (minutes, chat, events, search results). Text that
// people typed goes in with textContent only. main.js wires these to the playback.

import { t } from "../i18n.js";
import { el, fill, roleLabel } from "../room/views/dom.js";
import { bars, beijingTime, formatClock, lastAtOrBefore } from "./timeline.js";

export function gapLabel(reason) {
  return {
    not_recorded: t("Not recorded at this moment"),
    deleted: t("Deleted at the end of its retention period"),
    missing: t("This part of the recording is missing on the server"),
    altered: t("This part no longer matches its recorded SHA-256 and is not shown"),
  }[reason] || t("Not recorded at this moment");
}

function nameOf(person) {
  return person.name || t("Someone");
}

/**
 * One tile per person who has a recorded track, in the order they came: their video (muted: the
 * sound is their audio track's) and audio elements, the name and role, and a note for a gap.
 * Returns {tiles: Map(pid -> tile), media: Map(track id -> element)}.
 */
export function renderTiles(grid, timeline, { audioOnly }) {
  const byPerson = new Map();
  for (const track of timeline.tracks) {
    if (!byPerson.has(track.pid)) byPerson.set(track.pid, { pid: track.pid, name: track.name, role: track.role, tracks: [] });
    byPerson.get(track.pid).tracks.push(track);
  }
  const tiles = new Map();
  const media = new Map();
  const nodes = [];
  for (const person of byPerson.values()) {
    const video = person.tracks.find((tr) => tr.kind === "video");
    const audio = person.tracks.find((tr) => tr.kind === "audio");
    const box = el("div", { class: "review-video-box" });
    if (video && video.url) {
      const v = el("video", { muted: true, playsinline: true, preload: audioOnly ? "none" : "auto", dataset: { trackId: video.id, kind: "video" } });
      v.muted = true;
      if (!audioOnly) v.setAttribute("src", video.url);
      box.append(v);
      media.set(video.id, v);
    }
    box.append(el("div", { class: "review-placeholder", "aria-hidden": "true", text: nameOf(person).slice(0, 1) }));
    const note = el("p", { class: "review-gap-note", hidden: true });
    box.append(note);
    const caption = el(
      "figcaption",
      {},
      el("span", { class: "review-name", text: nameOf(person) }),
      el("span", { class: "badge", text: roleLabel(person.role) }),
    );
    const tile = el("figure", { class: `review-tile${audioOnly || !video ? " no-video" : ""}`, dataset: { pid: person.pid } }, box, caption);
    if (audio && audio.url) {
      const a = el("audio", { preload: "auto", dataset: { trackId: audio.id, kind: "audio" } });
      a.setAttribute("src", audio.url);
      tile.append(a);
      media.set(audio.id, a);
    }
    const broken = person.tracks.filter((tr) => !tr.url);
    if (broken.length) {
      caption.append(el("span", { class: "review-broken", text: broken.some((tr) => tr.error)
        ? t("Part of this recording could not be prepared")
        : gapLabel((broken[0].gaps[0] || {}).reason) }));
    }
    tiles.set(person.pid, { tile, note, person });
    nodes.push(tile);
  }
  grid.dataset.count = String(Math.min(nodes.length, 6));
  fill(grid, ...nodes);
  return { tiles, media };
}

/** Mark each tile whose tracks have no media at page time `now` (a gap, or not yet / no longer). */
export function markGaps(tiles, timeline, now, audioOnly) {
  for (const { tile, note, person } of tiles.values()) {
    const mine = timeline.tracks.filter((tr) => tr.pid === person.pid && (!audioOnly || tr.kind === "audio"));
    let gap = null;
    let playing = false;
    let first = Infinity;
    for (const tr of mine) {
      if (tr.spans.length) first = Math.min(first, tr.spans[0].start);
      if (tr.spans.some((s) => now >= s.start && now < s.end)) playing = true;
      else gap = gap || tr.gaps.find((g) => now >= g.start && now < g.end) || null;
    }
    tile.classList.toggle("in-gap", !playing);
    note.hidden = playing;
    if (playing) note.textContent = "";
    else if (gap) note.textContent = gapLabel(gap.reason);
    else note.textContent = now < first ? t("Not recorded yet") : t("Not recorded at this moment");
  }
}

function place(node, part) {
  // Set through the CSSOM: the pages' CSP refuses style attributes.
  node.style.left = `${part.left * 100}%`;
  node.style.width = `${part.width * 100}%`;
  return node;
}

/** A bar per track across the whole timeline: media where it has some, gaps marked as such. */
export function renderLanes(lanes, timeline) {
  const rows = timeline.tracks.map((track) => {
    const { spans, gaps } = bars(track, timeline.duration);
    const bar = el("div", { class: "review-lane-bar" });
    for (const s of spans) bar.append(place(el("span", { class: "review-span" }), s));
    for (const g of gaps) bar.append(place(el("span", { class: `review-gap gap-${g.reason}`, title: gapLabel(g.reason) }), g));
    const kind = track.kind === "video" ? t("video") : t("audio");
    const label = `${nameOf(track)} · ${kind}`;
    return el("div", { class: "review-lane" }, el("span", { class: "review-lane-label", text: label }), bar);
  });
  const cursor = el("div", { class: "review-cursor", "aria-hidden": "true" });
  fill(lanes, ...rows, cursor);
  return cursor;
}

function timeButton(timeline, t, lang, onSeek, ...content) {
  return el(
    "button",
    { type: "button", class: "review-item", dataset: { t: String(t) }, onclick: () => onSeek(t) },
    el("time", { class: "review-time", text: `${beijingTime(timeline, t, lang)} · ${formatClock(Math.max(t, 0))}` }),
    ...content,
  );
}

export function renderMinutes(list, timeline, lang, onSeek) {
  fill(list, ...timeline.minutes.map((e) => el(
    "li",
    { dataset: { t: String(e.t), entryId: e.id || "" } },
    timeButton(timeline, e.t, lang, onSeek, el("span", { class: "review-speaker", text: e.speaker || "" }), el("span", { class: "review-text", text: e.text })),
  )));
}

export function renderChat(list, timeline, lang, onSeek) {
  fill(list, ...timeline.chat.map((m) => {
    const to = m.to ? t("to %(name)s only", { name: m.to_name || t("someone") }) : null;
    return el(
      "li",
      { class: m.to ? "private" : null, dataset: { t: String(m.t) }, hidden: true },
      timeButton(
        timeline, m.t, lang, onSeek,
        el("span", { class: "review-speaker", text: `${m.from.name} (${roleLabel(m.from.role)})` }),
        to ? el("span", { class: "badge", text: to }) : null,
        el("span", { class: "review-text", text: m.text }),
      ),
    );
  }));
}

export function renderEvents(list, timeline, lang, onSeek) {
  fill(list, ...timeline.events.map((e) => el(
    "li",
    { class: `event-${e.kind.replace(/\./g, "-")}`, dataset: { t: String(e.t), kind: e.kind } },
    timeButton(timeline, e.t, lang, onSeek, el("span", { class: "review-text", text: describeEvent(e) })),
  )));
}

export function renderResults(list, none, timeline, results, lang, onSeek) {
  none.hidden = results.length > 0 || !list.dataset.query;
  fill(list, ...results.map((r) => el(
    "li",
    {},
    timeButton(
      timeline, r.t, lang, onSeek,
      el("span", { class: "badge", text: r.source === "chat" ? t("Chat") : t("Minutes") }),
      el("span", { class: "review-speaker", text: r.source === "chat" ? r.item.from.name : r.item.speaker || "" }),
      el("span", { class: "review-text", text: r.item.text }),
    ),
  )));
}

/**
 * Keeps a list (items with `data-t`, in time order) in step with the page's time: the last item
 * at or before it is the current one and stays in view inside the list; with `reveal`, later
 * items are hidden, so the chat replays as it was written. Work is done only when the current
 * item changes.
 */
export class Follower {
  constructor(list, { reveal = false, empty = null } = {}) {
    this.list = list;
    this.reveal = reveal;
    this.empty = empty;
    this.items = [...list.children];
    this.times = this.items.map((li) => ({ t: Number(li.dataset.t) }));
    this.index = -2;
  }

  update(now) {
    const index = lastAtOrBefore(this.times, now);
    if (index === this.index) return;
    const before = this.index;
    this.index = index;
    if (this.reveal) this.items.forEach((li, i) => { li.hidden = i > index; });
    if (this.empty) this.empty.hidden = index >= 0 || (!this.reveal && this.items.length > 0);
    if (before >= 0 && this.items[before]) this.items[before].classList.remove("current");
    const current = this.items[index];
    if (!current) return;
    current.classList.add("current");
    const top = current.offsetTop; // the list is the items' offset parent (position: relative)
    if (top < this.list.scrollTop || top + current.offsetHeight > this.list.scrollTop + this.list.clientHeight) {
      this.list.scrollTop = Math.max(0, top - this.list.clientHeight / 3);
    }
  }
}

/** A reason the server wrote in its own words, for people; what a person typed stays as it is. */
export function reasonText(reason) {
  switch (reason) {
    case "stopped by the mediator": return t("by the mediator");
    case "stopped over the API": return t("by staff, over the API");
    case "session_ended": return t("the session ended");
    case "disk_full": return t("the server's disk was full");
    case "disk_error": return t("the server could not write its files");
    case "recorder_error": return t("the recorder failed");
    case "grace period expired": return t("their connection did not come back in time");
    default: return reason;
  }
}

/** One event of the session for people: who did what, with their names. */
export function describeEvent(e) {
  const d = e.details || {};
  const actor = e.actor_name || (e.actor_kind === "system" ? t("the system") : e.actor_kind === "recorder" ? t("the recorder") : t("someone"));
  const who = d.name || t("someone");
  const role = d.role ? roleLabel(d.role) : "";
  const reason = d.reason ? t(" (%(reason)s)", { reason: reasonText(d.reason) }) : "";
  switch (e.kind) {
    case "session.live": return t("The session began (%(name)s opened it)", { name: actor });
    case "session.join":
      return d.state === "lobby"
        ? t("%(name)s (%(role)s) arrived and waited in the lobby", { name: who, role })
        : t("%(name)s (%(role)s) joined", { name: who, role });
    case "session.admit": return t("%(actor)s let %(name)s in from the lobby", { actor, name: who });
    case "session.deny": return t("%(actor)s did not let %(name)s in", { actor, name: who }) + reason;
    case "session.rejoin": return t("%(name)s came back after a drop", { name: who });
    case "session.leave": return t("%(name)s left", { name: who }) + reason;
    case "session.remove": return t("%(actor)s removed %(name)s", { actor, name: who }) + reason;
    case "session.end": return t("%(actor)s ended the session for everyone", { actor }) + reason;
    case "session.ended": return t("The session ended") + reason;
    case "session.notice_presented": return t("%(actor)s presented the rights and obligations notice", { actor });
    case "session.notice_acknowledged": return t("%(name)s acknowledged the rights and obligations notice", { name: who });
    case "recording.started": return t("%(actor)s started recording", { actor });
    case "recording.stopped": return t("Recording stopped") + reason;
    case "recording.consent":
      return d.decision === "granted"
        ? t("%(name)s agreed to be recorded", { name: who })
        : t("%(name)s refused to be recorded", { name: who });
    case "recording.interrupted": return t("Recording was interrupted") + reason;
    case "recording.resumed": return t("Recording resumed");
    case "recording.disk_full": return t("Recording stopped: the server's disk is full");
    case "recording.disk_error": return t("Recording stopped: the server could not write its files");
    case "recording.error": return t("Recording stopped: the recorder failed");
    case "recording.track_error": return t("One track could not be recorded");
    case "minutes.signed": return t("%(actor)s signed the minutes", { actor });
    case "minutes.locked": return t("Everyone has signed the minutes");
    case "agreement.signed": return t("%(actor)s signed the agreement", { actor });
    case "agreement.locked": return t("Everyone has signed the agreement");
    default: return e.kind;
  }
}
