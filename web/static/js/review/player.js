// Plays every recorded track of a session together (web/templates/review.html): one master clock
// (timeline.js's MasterClock), and each <video>/<audio> kept in step with it. On every tick each
// element is told where its file should be (mediaTimeAt): seeked when it is more than a few
// tenths of a second off, nudged by its playback rate when it drifts less, paused where its track
// has a gap. While an element that should be playing is still loading or seeking, the clock waits
// for it (up to HOLD_MS; a track that stays stuck is left behind rather than stopping the others).

import { MasterClock, correction, mediaTimeAt } from "./timeline.js";

const TICK_MS = 200;
const HOLD_MS = 3000;
const HAVE_METADATA = 1;
const HAVE_FUTURE_DATA = 3;

export class Playback {
  /**
   * @param timeline buildTimeline()'s model
   * @param onTick called with the page time after every tick (and after play, pause, seek)
   * @param onMediaError called with a track id whose element failed (an expired URL, say)
   */
  constructor(timeline, { onTick = () => {}, onMediaError = () => {}, onState = () => {}, now = () => performance.now() } = {}) {
    this.timeline = timeline;
    this.clock = new MasterClock(now, timeline.duration);
    this.now = now;
    this.onTick = onTick;
    this.onMediaError = onMediaError;
    this.onState = onState;
    this.entries = new Map(); // track id -> {track, el, late, gap}
    this.forceSeek = true;
    this.heldSince = null;
    this.timer = null;
  }

  /** Keep `el` in step with `track`; replaces an element the track had. */
  attach(track, el) {
    this.detach(track.id);
    const entry = { track, el, late: false, gap: false };
    el.addEventListener("error", () => this.onMediaError(track.id));
    el.addEventListener("loadedmetadata", () => {
      this.forceSeek = true;
      this.tick();
    });
    this.entries.set(track.id, entry);
    this.forceSeek = true;
  }

  detach(trackId) {
    const entry = this.entries.get(trackId);
    if (!entry) return;
    entry.el.pause();
    this.entries.delete(trackId);
  }

  get position() {
    return this.clock.position;
  }

  get playing() {
    return this.clock.playing;
  }

  start() {
    if (!this.timer) this.timer = setInterval(() => this.tick(), TICK_MS);
    this.tick();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    for (const { el } of this.entries.values()) el.pause();
  }

  play() {
    this.clock.play();
    this.onState(true);
    this.tick();
  }

  pause() {
    this.clock.pause();
    this.onState(false);
    this.forceSeek = true; // show every track exactly where the clock stopped
    this.tick();
  }

  toggle() {
    if (this.clock.playing) this.pause();
    else this.play();
  }

  /** Move the page's clock to `t` and every track with it. */
  seek(t) {
    this.clock.seek(t);
    this.heldSince = null;
    for (const entry of this.entries.values()) entry.late = false;
    this.forceSeek = true;
    this.tick();
  }

  tick() {
    const clock = this.clock;
    if (clock.playing && clock.ended) {
      clock.pause();
      this.onState(false);
    }
    const t = clock.position;
    const force = this.forceSeek;
    this.forceSeek = false;
    const stalled = [];
    for (const entry of this.entries.values()) {
      const { el, track } = entry;
      if (!el.getAttribute("src")) continue; // not loaded (video in the audio-only mode)
      const desired = mediaTimeAt(track, t);
      entry.gap = desired === null;
      if (desired === null) {
        if (!el.paused) el.pause();
        continue;
      }
      if (el.readyState < HAVE_METADATA) {
        if (clock.playing && !entry.late) stalled.push(entry);
        this.forceSeek = true; // seek it once it knows its length
        continue;
      }
      const c = correction(el.currentTime, desired, clock.playing ? 0.3 : 0.02);
      if ((c.seek || force) && !(el.seeking && !force)) el.currentTime = desired;
      if (clock.playing) {
        el.playbackRate = c.seek ? 1 : c.rate;
        if (el.paused) el.play().catch(() => {});
        if (!entry.late && (el.seeking || el.readyState < HAVE_FUTURE_DATA)) stalled.push(entry);
        else if (entry.late && !el.seeking && el.readyState >= HAVE_FUTURE_DATA) entry.late = false;
      } else {
        el.playbackRate = 1;
        if (!el.paused) el.pause();
      }
    }
    this.hold(stalled);
    this.onTick(clock.position);
  }

  /** Wait for stalled tracks, but not for ever: after HOLD_MS they are left to catch up alone. */
  hold(stalled) {
    if (!stalled.length || !this.clock.playing) {
      this.heldSince = null;
      this.clock.hold(false);
      return;
    }
    if (this.heldSince === null) this.heldSince = this.now();
    if (this.now() - this.heldSince > HOLD_MS) {
      for (const entry of stalled) entry.late = true;
      this.heldSince = null;
      this.clock.hold(false);
      return;
    }
    this.clock.hold(true);
  }

  /** Which tracks are in a gap now (the view marks their tiles). */
  gaps() {
    return new Map([...this.entries].map(([id, e]) => [id, e.gap]));
  }
}
