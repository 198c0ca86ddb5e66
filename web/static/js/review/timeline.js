// The review page's one timeline (web/templates/review.html): where each recorded track has media,
// which moment every chat message, minutes entry and event belongs to, and how the page's time
// maps to each file's media time. Pure: no DOM, so tests/js/review-timeline.test.mjs runs it.
//
// The page's time `t` is seconds from the timeline's origin: the session's real start (or its
// first media, if earlier), as GET /api/v1/sessions/{id}/review gives it (docs/review.md). Every
// time in the API is a wall-clock moment (ISO 8601, UTC); a track's `spans` say which stretch of
// wall clock each part of its file shows, from `media_start` in the file. Between spans a track
// has a gap: nothing is played there, and nothing is moved to close it.

/** Milliseconds since the epoch of an ISO time; NaN for anything else. */
export function ms(iso) {
  return typeof iso === "string" ? Date.parse(iso) : NaN;
}

/** The page's model of a review: times as seconds on one timeline, items in time order. */
export function buildTimeline(review) {
  // A session never held has no origin: its first message or event stands in (or the epoch).
  const dated = [...(review.chat || []), ...(review.events || [])].map((x) => ms(x.at)).filter(Number.isFinite);
  const origin = Number.isFinite(ms(review.origin)) ? ms(review.origin) : dated.length ? Math.min(...dated) : 0;
  const at = (iso) => (ms(iso) - origin) / 1000;
  const tracks = (review.tracks || []).map((tr) => ({
    ...tr,
    spans: (tr.spans || []).map((s) => ({ start: at(s.start), end: at(s.end), media: s.media_start })),
    gaps: (tr.gaps || []).map((g) => ({ start: at(g.start), end: at(g.end), reason: g.reason })),
  }));
  const byTime = (a, b) => a.t - b.t;
  const chat = (review.chat || []).map((m) => ({ ...m, t: at(m.at) })).sort(byTime);
  const minutes = ((review.minutes && review.minutes.entries) || [])
    .filter((e) => Number.isFinite(ms(e.at)))
    .map((e) => ({ ...e, t: at(e.at) }))
    .sort(byTime);
  const events = (review.events || []).map((e) => ({ ...e, t: at(e.at) })).sort(byTime);
  const end = Number.isFinite(ms(review.end)) ? at(review.end) : 0;
  const lastMedia = Math.max(0, ...tracks.flatMap((tr) => tr.spans.map((s) => s.end)));
  return { origin, duration: Math.max(end, lastMedia, 0), tracks, chat, minutes, events };
}

/** The span of a track that shows page time `t`, or null (before, after, or in a gap). */
export function spanAt(track, t) {
  for (const s of track.spans) if (t >= s.start && t < s.end) return s;
  return null;
}

/** Where a track's file is at page time `t`, or null when the track has no media then. */
export function mediaTimeAt(track, t) {
  const s = spanAt(track, t);
  return s ? s.media + (t - s.start) : null;
}

/** The gap of a track at page time `t` (with its reason), or null. */
export function gapAt(track, t) {
  for (const g of track.gaps) if (t >= g.start && t < g.end) return g;
  return null;
}

/** The index of the last item (sorted by `t`) at or before `t`; -1 when none is. */
export function lastAtOrBefore(items, t) {
  let lo = 0;
  let hi = items.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (items[mid].t <= t + 1e-6) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

const CLOCK = /^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$/;
const UNITS = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/**
 * A deep link's `?t=` as page time: seconds from the session's start ("95", "95.5"), a clock
 * ("1:35", "1:02:03"), units ("1m35s"), or a moment in ISO 8601 with its zone. Clamped to the
 * timeline; null for anything else.
 */
export function parseMoment(value, timeline) {
  if (typeof value !== "string") return null;
  // A "+" of a zone left unescaped in a query string arrives as a space: take it back.
  const text = value.trim().replace(/ (\d{2}:?\d{2})$/, "+$1");
  if (!text) return null;
  let seconds = null;
  if (/^\d+(?:\.\d+)?$/.test(text)) seconds = Number(text);
  else if (CLOCK.test(text)) {
    const [, h, m, s] = CLOCK.exec(text);
    seconds = Number(h || 0) * 3600 + Number(m) * 60 + Number(s);
  } else if (ISO.test(text)) {
    const when = Date.parse(text);
    if (Number.isFinite(when)) seconds = (when - timeline.origin) / 1000;
  } else if (UNITS.test(text) && /[hms]$/.test(text)) {
    const [, h, m, s] = UNITS.exec(text);
    seconds = Number(h || 0) * 3600 + Number(m || 0) * 60 + Number(s || 0);
  }
  if (seconds === null || !Number.isFinite(seconds)) return null;
  return clamp(seconds, 0, timeline.duration);
}

export function clamp(x, lo, hi) {
  return Math.min(Math.max(x, lo), Math.max(lo, hi));
}

/** Page time as a clock: "4:05", or "1:02:03" past an hour. */
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds + 1e-6));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** A moment of the timeline in Beijing time, "09:00:04" (with the date when `withDate`). */
export function beijingTime(timeline, t, lang, withDate = false) {
  const d = new Date(timeline.origin + t * 1000);
  if (Number.isNaN(d.getTime())) return "";
  const opts = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZone: "Asia/Shanghai" };
  if (withDate) Object.assign(opts, { year: "numeric", month: "2-digit", day: "2-digit" });
  return d.toLocaleString(lang === "en" ? "en-GB" : "zh-CN", opts);
}

/**
 * What a media element should do to follow the page's clock: `seek` to `to` when it is further
 * than `threshold` seconds off, else run at a rate that closes a small drift within a few seconds.
 * (Media elements drift apart by tens of milliseconds a minute; seeking on every tick would stall
 * them, so small drifts are closed by the rate, as BigBlueButton's playback keeps its media in step.)
 */
export function correction(current, desired, threshold = 0.3) {
  const drift = current - desired;
  if (!Number.isFinite(current) || Math.abs(drift) > threshold) return { seek: true, to: desired, rate: 1 };
  if (Math.abs(drift) < 0.04) return { seek: false, to: desired, rate: 1 };
  return { seek: false, to: desired, rate: clamp(1 - drift / 2, 0.9, 1.1) };
}

/** Chat messages and minutes entries whose text (or speaker) holds every word of `query`. */
export function search(timeline, query) {
  const words = normalise(query).split(/\s+/).filter(Boolean);
  if (!words.length) return [];
  const hit = (text) => {
    const n = normalise(text);
    return words.every((w) => n.includes(w));
  };
  const out = [];
  for (const m of timeline.chat) {
    if (hit(`${m.text} ${m.from && m.from.name}`)) out.push({ source: "chat", t: m.t, item: m });
  }
  for (const e of timeline.minutes) {
    if (hit(`${e.text} ${e.speaker}`)) out.push({ source: "minutes", t: e.t, item: e });
  }
  return out.sort((a, b) => a.t - b.t);
}

function normalise(text) {
  return String(text || "").normalize("NFKC").toLowerCase();
}

/** Stretches of the timeline as fractions (0–1) of its length, for drawing a track's bar. */
export function bars(track, duration) {
  const d = duration > 0 ? duration : 1;
  const part = (a, b) => ({ left: clamp(a / d, 0, 1), width: clamp((b - a) / d, 0, 1) });
  return {
    spans: track.spans.map((s) => part(s.start, s.end)),
    gaps: track.gaps.map((g) => ({ ...part(g.start, g.end), reason: g.reason })),
  };
}

/**
 * The page's one clock: page time that runs while playing, from an injected `now()` (ms), so that
 * it is tested without waiting. Media elements follow it; it never follows them, so a track that
 * stalls or has a gap cannot drag the others along. `hold()` stops it while media catch up.
 */
export class MasterClock {
  constructor(now, duration) {
    this.now = now;
    this.duration = duration;
    this.playing = false;
    this.held = false;
    this.base = 0;
    this.since = now();
  }

  get position() {
    if (!this.playing || this.held) return this.base;
    return clamp(this.base + (this.now() - this.since) / 1000, 0, this.duration);
  }

  get ended() {
    return this.position >= this.duration;
  }

  play() {
    if (this.ended) this.base = 0; // from the start again
    else if (this.playing) return;
    this.since = this.now();
    this.playing = true;
  }

  pause() {
    this.base = this.position;
    this.playing = false;
  }

  seek(t) {
    this.base = clamp(t, 0, this.duration);
    this.since = this.now();
  }

  hold(on) {
    if (on === this.held) return;
    this.base = this.position;
    this.since = this.now();
    this.held = on;
  }
}
