// The review page's timeline and playback (web/static/js/review/timeline.js, player.js): where each
// track's file is at every moment, gaps kept as gaps, deep links, search, the one clock, and media
// elements kept in step with it. No browser: media elements are small fakes with the same fields.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Playback } from "../../web/static/js/review/player.js";
import {
  MasterClock, bars, beijingTime, buildTimeline, correction, formatClock, gapAt, lastAtOrBefore, mediaTimeAt,
  parseMoment, search, spanAt,
} from "../../web/static/js/review/timeline.js";

const T0 = Date.parse("2026-11-29T01:00:00.000000+00:00"); // 09:00 in Beijing
const iso = (seconds) => new Date(T0 + seconds * 1000).toISOString().replace("Z", "000+00:00");

/** A review as the API gives it: the mediator recorded 3–6 s and 10–12 s, the applicant 4–6 s. */
function review() {
  return {
    origin: iso(0),
    end: iso(14),
    tracks: [
      {
        id: "mv", pid: "a:m", name: "王建国", role: "mediator", kind: "video", url: "/api/v1/media/x.y",
        spans: [
          { start: iso(3), end: iso(6), media_start: 0 },
          { start: iso(10), end: iso(12), media_start: 7 },
        ],
        gaps: [{ start: iso(6), end: iso(10), reason: "not_recorded" }],
      },
      {
        id: "aa", pid: "i:a", name: "李秀英", role: "applicant", kind: "audio", url: "/api/v1/media/z.w",
        spans: [{ start: iso(4), end: iso(6), media_start: 0 }],
        gaps: [],
      },
    ],
    chat: [
      { id: "c2", at: iso(5.5), from: { pid: "a:m", name: "王建国", role: "mediator" }, to: "i:a", text: "请准备维修发票" },
      { id: "c1", at: iso(5), from: { pid: "i:a", name: "李秀英", role: "applicant" }, to: null, text: "我同意先测量" },
    ],
    minutes: {
      entries: [
        { id: "e2", speaker: "调解员", text: "双方同意先请物业测量", at: iso(10.5) },
        { id: "e1", speaker: "申请人", text: "楼上漏水已三个月", at: iso(4.5) },
        { id: "bad", speaker: "?", text: "no time", at: null },
      ],
    },
    events: [{ seq: 9, at: iso(0), kind: "session.live", details: {} }],
  };
}

describe("the review's timeline", () => {
  const tl = buildTimeline(review());

  it("counts seconds from the origin and sorts what happened by time", () => {
    assert.equal(tl.origin, T0);
    assert.equal(tl.duration, 14);
    assert.deepEqual(tl.tracks[0].spans, [{ start: 3, end: 6, media: 0 }, { start: 10, end: 12, media: 7 }]);
    assert.deepEqual(tl.chat.map((m) => [m.id, m.t]), [["c1", 5], ["c2", 5.5]]);
    assert.deepEqual(tl.minutes.map((e) => [e.id, e.t]), [["e1", 4.5], ["e2", 10.5]], "an entry without a time is left out");
    assert.equal(tl.events[0].t, 0);
  });

  it("maps the page's time to each file's media time, and a gap to nothing", () => {
    const [video, audio] = tl.tracks;
    assert.equal(mediaTimeAt(video, 2.9), null, "before the track starts");
    assert.equal(mediaTimeAt(video, 3), 0);
    assert.equal(mediaTimeAt(video, 4.5), 1.5);
    assert.equal(mediaTimeAt(video, 6), null, "the gap starts where the span ends");
    assert.equal(mediaTimeAt(video, 8), null);
    assert.equal(gapAt(video, 8).reason, "not_recorded");
    assert.equal(gapAt(video, 4), null);
    assert.equal(mediaTimeAt(video, 10.5), 7.5, "after the gap, where the file resumes");
    assert.equal(mediaTimeAt(video, 12), null, "after the track ends");
    assert.equal(mediaTimeAt(audio, 4.5), 0.5);
    assert.equal(spanAt(audio, 3.99), null);
  });

  it("takes a session never held from its first message, and an empty one from nothing", () => {
    const unheld = buildTimeline({ origin: null, end: null, tracks: [], chat: [], events: [{ at: iso(2), kind: "session.join" }] });
    assert.equal(unheld.origin, T0 + 2000);
    assert.equal(unheld.events[0].t, 0);
    assert.equal(unheld.duration, 0);
    const empty = buildTimeline({ origin: null, end: null });
    assert.deepEqual([empty.origin, empty.duration, empty.tracks, empty.minutes], [0, 0, [], []]);
  });

  it("finds the last item at or before a moment", () => {
    assert.equal(lastAtOrBefore(tl.minutes, 4), -1);
    assert.equal(lastAtOrBefore(tl.minutes, 4.5), 0);
    assert.equal(lastAtOrBefore(tl.minutes, 10.49), 0);
    assert.equal(lastAtOrBefore(tl.minutes, 99), 1);
    assert.equal(lastAtOrBefore([], 3), -1);
  });

  it("draws each track's media and gaps as parts of the whole", () => {
    const { spans, gaps } = bars(tl.tracks[0], tl.duration);
    assert.deepEqual(spans.map((s) => [s.left, s.width].map((x) => Math.round(x * 1000) / 1000)), [[0.214, 0.214], [0.714, 0.143]]);
    assert.deepEqual(gaps.map((g) => g.reason), ["not_recorded"]);
  });
});

describe("a deep link's ?t=", () => {
  const tl = buildTimeline(review());

  it("takes seconds from the start, a clock, units, or a moment with its zone", () => {
    assert.equal(parseMoment("5", tl), 5);
    assert.equal(parseMoment("10.5", tl), 10.5);
    assert.equal(parseMoment("0:07", tl), 7);
    assert.equal(parseMoment("0:00:12", tl), 12);
    assert.equal(parseMoment("12s", tl), 12);
    assert.equal(parseMoment(iso(4.5), tl), 4.5);
    assert.equal(parseMoment("2026-11-29T09:00:10.5+08:00", tl), 10.5, "Beijing time");
    assert.equal(parseMoment("2026-11-29T01:00:03Z", tl), 3);
  });

  it("takes back the + of a zone that arrived as a space from an unescaped query string", () => {
    assert.equal(parseMoment(iso(4.5).replace("+", " "), tl), 4.5);
  });

  it("stays on the timeline and ignores anything else", () => {
    assert.equal(parseMoment("99", tl), 14);
    assert.equal(parseMoment("2026-11-29T00:59:00Z", tl), 0);
    for (const bad of [null, undefined, "", " ", "abc", "-5", "1:2:3:4", "5x", "2026-11-29", "2026-11-29T09:00:00", "1e3"]) {
      assert.equal(parseMoment(bad, tl), null, String(bad));
    }
  });
});

describe("what the page writes", () => {
  it("writes page time as a clock", () => {
    assert.equal(formatClock(0), "0:00");
    assert.equal(formatClock(65.9), "1:05");
    assert.equal(formatClock(3723), "1:02:03");
    assert.equal(formatClock(-3), "0:00");
  });

  it("writes moments in Beijing time", () => {
    const tl = buildTimeline(review());
    assert.equal(beijingTime(tl, 4.5, "zh"), "09:00:04");
    assert.match(beijingTime(tl, 0, "en", true), /29\/11\/2026.*09:00:00/);
  });
});

describe("search", () => {
  const tl = buildTimeline(review());

  it("finds every word in the chat and the minutes, in time order", () => {
    assert.deepEqual(search(tl, "测量").map((r) => [r.source, r.item.id]), [["chat", "c1"], ["minutes", "e2"]]);
    assert.deepEqual(search(tl, "调解员 物业").map((r) => r.item.id), ["e2"], "the speaker counts");
    assert.deepEqual(search(tl, "李秀英").map((r) => r.item.id), ["c1"], "the sender counts");
    assert.deepEqual(search(tl, "  "), []);
    assert.deepEqual(search(tl, "没有"), []);
  });

  it("ignores case and full-width forms", () => {
    const t2 = buildTimeline({ ...review(), chat: [{ id: "x", at: iso(1), from: { name: "A" }, text: "ＳＨＡ-256 Hash" }] });
    assert.deepEqual(search(t2, "sha-256 hash").map((r) => r.item.id), ["x"]);
  });
});

describe("keeping a media element in step", () => {
  it("seeks when it is far off, nudges its rate when it drifts a little, leaves it alone when close", () => {
    assert.deepEqual(correction(0, 5), { seek: true, to: 5, rate: 1 });
    assert.deepEqual(correction(NaN, 5), { seek: true, to: 5, rate: 1 });
    assert.deepEqual(correction(5.02, 5), { seek: false, to: 5, rate: 1 });
    const behind = correction(4.8, 5);
    assert.equal(behind.seek, false);
    assert.ok(behind.rate > 1 && behind.rate <= 1.1);
    assert.ok(correction(5.2, 5).rate < 1);
  });
});

describe("the master clock", () => {
  it("runs while playing, stops when paused or held, and stays on the timeline", () => {
    let now = 1000;
    const clock = new MasterClock(() => now, 14);
    assert.equal(clock.position, 0);
    clock.play();
    now += 2500;
    assert.equal(clock.position, 2.5);
    clock.hold(true);
    now += 1000;
    assert.equal(clock.position, 2.5, "held: waiting for media");
    clock.hold(false);
    now += 500;
    assert.equal(clock.position, 3);
    clock.pause();
    now += 5000;
    assert.equal(clock.position, 3);
    clock.seek(13.5);
    clock.play();
    now += 2000;
    assert.equal(clock.position, 14);
    assert.ok(clock.ended);
    clock.play(); // at the end, play starts again from the beginning
    assert.equal(clock.position, 0);
    clock.seek(-4);
    assert.equal(clock.position, 0);
  });
});

/** A media element as the player uses it. */
class FakeMedia {
  constructor(src = "/api/v1/media/t.m") {
    this.attrs = { src };
    this.currentTime = 0;
    this.paused = true;
    this.readyState = 4;
    this.seeking = false;
    this.playbackRate = 1;
    this.listeners = {};
    this.seeks = [];
  }

  getAttribute(name) {
    return this.attrs[name] ?? null;
  }

  addEventListener(type, fn) {
    (this.listeners[type] ||= []).push(fn);
  }

  emit(type) {
    for (const fn of this.listeners[type] || []) fn();
  }

  play() {
    this.paused = false;
    return Promise.resolve();
  }

  pause() {
    this.paused = true;
  }
}

function withSeeks(media) {
  let value = media.currentTime;
  Object.defineProperty(media, "currentTime", {
    get: () => value,
    set: (v) => {
      value = v;
      media.seeks.push(v);
    },
  });
  return media;
}

describe("the playback", () => {
  function setup() {
    let now = 0;
    const tl = buildTimeline(review());
    const ticks = [];
    const errors = [];
    const playback = new Playback(tl, { now: () => now, onTick: (t) => ticks.push(t), onMediaError: (id) => errors.push(id) });
    const video = withSeeks(new FakeMedia());
    const audio = withSeeks(new FakeMedia());
    playback.attach(tl.tracks[0], video);
    playback.attach(tl.tracks[1], audio);
    return { tl, playback, video, audio, ticks, errors, advance: (ms) => { now += ms; } };
  }

  it("puts every element where the clock says when seeking, and pauses those in a gap", () => {
    const { playback, video, audio, ticks } = setup();
    playback.seek(4.5);
    assert.equal(video.currentTime, 1.5);
    assert.equal(audio.currentTime, 0.5);
    assert.equal(ticks.at(-1), 4.5);
    playback.seek(8);
    assert.equal(video.currentTime, 1.5, "in the gap: left where it was, and paused");
    assert.ok(video.paused);
    assert.deepEqual([...playback.gaps()], [["mv", true], ["aa", true]]);
    playback.seek(10.5);
    assert.equal(video.currentTime, 7.5);
  });

  it("plays the elements that have media now, and follows the clock as it runs", () => {
    const { playback, video, audio, advance } = setup();
    playback.seek(3.5);
    playback.play();
    assert.equal(video.paused, false, "the mediator's video has media at 3.5 s");
    assert.equal(audio.paused, true, "the applicant's audio starts at 4 s");
    advance(1000); // the elements run on their own; say they kept time
    video.currentTime = 1.5;
    playback.tick();
    assert.equal(playback.position, 4.5);
    assert.equal(audio.paused, false);
    assert.equal(audio.currentTime, 0.5, "seeked into place as its span began");
    assert.equal(video.playbackRate, 1);
    advance(1000);
    video.currentTime = 2.3; // drifted 0.2 s behind: nudged, not seeked
    const seeks = video.seeks.length;
    playback.tick();
    assert.equal(video.seeks.length, seeks);
    assert.ok(video.playbackRate > 1);
    playback.pause();
    assert.ok(video.paused && audio.paused);
    assert.equal(video.currentTime, 2.5, "paused: exactly where the clock stopped");
  });

  it("waits for an element that is still loading, but not for ever", () => {
    const { playback, video, advance } = setup();
    playback.seek(4);
    video.readyState = 2; // has the current frame, not enough to play on
    playback.play();
    advance(1000);
    playback.tick();
    assert.equal(playback.position, 4, "held while the video catches up");
    advance(2500);
    playback.tick();
    advance(1000);
    playback.tick();
    assert.ok(playback.position > 4, "after three seconds the others go on without it");
  });

  it("leaves out an element without a source (video in the audio-only mode)", () => {
    const { playback, video, audio } = setup();
    video.attrs.src = null;
    playback.seek(4.5);
    assert.deepEqual(video.seeks, []);
    assert.equal(audio.currentTime, 0.5);
  });

  it("reports an element's failure, and puts it back in place once it has loaded again", () => {
    const { playback, video, errors } = setup();
    playback.seek(5);
    video.emit("error");
    assert.deepEqual(errors, ["mv"]);
    video.currentTime = 0;
    video.emit("loadedmetadata");
    assert.equal(video.currentTime, 2);
  });

  it("stops at the end", () => {
    const { playback, advance } = setup();
    playback.seek(13);
    playback.play();
    advance(2000);
    playback.tick();
    assert.equal(playback.playing, false);
    assert.equal(playback.position, 14);
  });
});
