// The order room events are applied in (web/static/js/room/sequencer.js): by pseq, each once,
// with gaps held until filled or replayed.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Sequencer } from "../../web/static/js/room/sequencer.js";

const ev = (pseq, seq = pseq * 10, type = "chat.message") => ({ pseq, seq, type, data: { id: `m${pseq}` } });

/** Everything that is ready, in order. */
function drain(s) {
  const out = [];
  for (let e = s.next(); e; e = s.next()) out.push(e.pseq);
  return out;
}

describe("a sequencer", () => {
  it("hands events over in pseq order, and remembers the room seq of the last one", () => {
    const s = new Sequencer();
    assert.equal(s.accept(ev(1)), true);
    assert.equal(s.accept(ev(2)), true);
    assert.deepEqual(drain(s), [1, 2]);
    assert.equal(s.pseq, 2);
    assert.equal(s.seq, 20);
    assert.equal(s.waiting, false);
  });

  it("holds an event that arrives early until the one before it comes", () => {
    const s = new Sequencer();
    s.accept(ev(3));
    s.accept(ev(2));
    assert.deepEqual(drain(s), []);
    assert.equal(s.waiting, true);
    assert.equal(s.pseq, 0);
    s.accept(ev(1));
    assert.deepEqual(drain(s), [1, 2, 3]);
    assert.equal(s.waiting, false);
  });

  it("refuses duplicates, whether still held or already applied", () => {
    const s = new Sequencer();
    s.accept(ev(2));
    assert.equal(s.accept(ev(2)), false, "held");
    s.accept(ev(1));
    drain(s);
    assert.equal(s.accept(ev(1)), false, "applied");
    assert.equal(s.accept(ev(2)), false, "applied");
    assert.deepEqual(drain(s), []);
  });

  it("refuses what is not a sequenced event", () => {
    const s = new Sequencer();
    for (const bad of [null, undefined, {}, { pseq: "1" }, { type: "x" }]) assert.equal(s.accept(bad), false);
    assert.equal(s.waiting, false);
  });

  it("keeps the highest room seq, even when a later pseq carries a lower one", () => {
    const s = new Sequencer();
    s.accept(ev(1, 50));
    s.accept(ev(2, 40));
    drain(s);
    assert.equal(s.seq, 50);
  });
});

describe("a snapshot", () => {
  it("covers everything up to its pseq: older held events are dropped, later ones wait on", () => {
    const s = new Sequencer();
    for (const pseq of [2, 3, 5]) s.accept(ev(pseq));
    s.restart({ seq: 30, pseq: 3 });
    assert.equal(s.pseq, 3);
    assert.equal(s.seq, 30);
    assert.deepEqual([...s.pending.keys()], [5]);
    assert.equal(s.waiting, true, "4 is missing");
    s.accept(ev(4));
    assert.deepEqual(drain(s), [4, 5]);
  });

  it("never moves the room seq back", () => {
    const s = new Sequencer();
    s.accept(ev(1, 90));
    drain(s);
    s.restart({ seq: 60, pseq: 1 });
    assert.equal(s.seq, 90);
  });

  it("makes events it covers duplicates", () => {
    const s = new Sequencer();
    s.restart({ seq: 70, pseq: 7 });
    assert.equal(s.accept(ev(7)), false);
    assert.equal(s.accept(ev(8)), true);
  });
});

describe("a replay after a complete room.sync", () => {
  it("fills a gap with the events the server sent, in order, each once", () => {
    const s = new Sequencer();
    s.accept(ev(1));
    drain(s);
    s.accept(ev(4));
    s.accept(ev(3));
    const replayed = [...s.replay([ev(2), ev(3), ev(4)], 4)].map((e) => e.pseq);
    assert.deepEqual(replayed, [2, 3, 4]);
    assert.equal(s.pseq, 4);
    assert.equal(s.waiting, false);
  });

  it("goes over a hole the server cannot fill, up to the snapshot's pseq and no further", () => {
    const s = new Sequencer();
    s.accept(ev(3));
    s.accept(ev(6));
    const replayed = [...s.replay([ev(4)], 4)].map((e) => e.pseq);
    assert.deepEqual(replayed, [3, 4], "1 and 2 are gone for good");
    assert.equal(s.pseq, 4);
    assert.deepEqual([...s.pending.keys()], [6], "after the snapshot: still held");
  });

  it("ignores replayed events already applied", () => {
    const s = new Sequencer();
    for (const pseq of [1, 2]) s.accept(ev(pseq));
    drain(s);
    const replayed = [...s.replay([ev(1), ev(2), ev(3)], 3)].map((e) => e.pseq);
    assert.deepEqual(replayed, [3]);
  });

  it("does not yield an event that was applied meanwhile", () => {
    const s = new Sequencer();
    const replay = s.replay([ev(1), ev(2), ev(3)], 3);
    assert.equal(replay.next().value.pseq, 1);
    assert.equal(s.next().pseq, 2, "applied by someone else between two steps");
    assert.deepEqual([...replay].map((e) => e.pseq), [3]);
  });
});
