// Perfect negotiation (web/static/js/room/negotiation.js) between fake peer connections: who
// gives way when both offer, what a rollback does, and what replaces a connection.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { Negotiation, isPolite, judgeDescription, sessionOf } from "../../web/static/js/room/negotiation.js";
import { FakePeerConnection } from "./fake-peer-connection.mjs";

/** Two sides of a pair; what each sends waits in its outbox until delivered. */
function pair({ politeBeforeAnswer, impoliteBeforeAnswer } = {}) {
  const make = (name, polite, beforeAnswer) => {
    const pc = new FakePeerConnection({ name });
    const side = { name, pc, outbox: [], trace: [] };
    side.negotiation = new Negotiation({
      pc, polite, send: (m) => side.outbox.push(m), beforeAnswer, log: (...what) => side.trace.push(what.join(" ")),
    });
    return side;
  };
  return {
    polite: make("polite", true, politeBeforeAnswer),
    impolite: make("impolite", false, impoliteBeforeAnswer),
  };
}

/** Deliver what `from` has sent so far to `to`; the outcomes in order. */
async function deliver(from, to) {
  const outcomes = [];
  for (const m of from.outbox.splice(0)) outcomes.push(await to.negotiation.receive(m));
  return outcomes;
}

const description = (type, session, version = 1) => ({
  type, sdp: `v=0\r\no=- ${session} ${version} IN IP4 127.0.0.1\r\ns=-\r\n`,
});

describe("who is polite", () => {
  it("is the lower pid of a pair, and exactly one side of any pair", () => {
    assert.equal(isPolite("i:aaa", "i:bbb"), true);
    assert.equal(isPolite("i:bbb", "i:aaa"), false);
    for (const [a, b] of [["s:1", "i:9"], ["i:10", "i:9"], ["x", "y"]]) {
      assert.notEqual(isPolite(a, b), isPolite(b, a), `${a} / ${b}`);
    }
  });
});

describe("the session of an SDP", () => {
  it("is the origin line's session id, kept across versions", () => {
    assert.equal(sessionOf(description("offer", "123456789", 1).sdp), "123456789");
    assert.equal(sessionOf(description("answer", "123456789", 7).sdp), "123456789");
  });

  it("is null for no SDP or one without an origin line", () => {
    assert.equal(sessionOf(undefined), null);
    assert.equal(sessionOf(""), null);
    assert.equal(sessionOf("v=0\r\ns=-\r\n"), null);
  });
});

describe("judging a description", () => {
  const calm = { session: "1", remoteSession: null, makingOffer: false, signalingState: "stable", answerPending: false };

  it("applies an offer that arrives while nothing else is under way, on either side", () => {
    for (const polite of [true, false]) assert.equal(judgeDescription({ ...calm, type: "offer", polite }), "apply");
  });

  it("ignores a colliding offer on the impolite side and applies it on the polite side", () => {
    for (const busy of [{ makingOffer: true }, { signalingState: "have-local-offer" }]) {
      assert.equal(judgeDescription({ ...calm, ...busy, type: "offer", polite: false }), "ignore", JSON.stringify(busy));
      assert.equal(judgeDescription({ ...calm, ...busy, type: "offer", polite: true }), "apply", JSON.stringify(busy));
    }
  });

  it("takes an offer that arrives while an answer is being set as no collision", () => {
    const verdict = judgeDescription({ ...calm, signalingState: "have-local-offer", answerPending: true, type: "offer", polite: false });
    assert.equal(verdict, "apply");
  });

  it("always applies an answer of the same connection, even while making an offer", () => {
    for (const polite of [true, false]) {
      const busy = { ...calm, remoteSession: "1", makingOffer: true, signalingState: "have-local-offer" };
      assert.equal(judgeDescription({ ...busy, type: "answer", polite }), "apply");
    }
  });

  it("follows an offer of a new connection of theirs, and restarts on an answer of one", () => {
    const known = { ...calm, remoteSession: "1", session: "2" };
    assert.equal(judgeDescription({ ...known, type: "offer", polite: false }), "replace");
    assert.equal(judgeDescription({ ...known, type: "offer", polite: true, makingOffer: true }), "replace");
    assert.equal(judgeDescription({ ...known, type: "answer", polite: true }), "restart");
  });
});

describe("a negotiation", () => {
  it("is one offer and one answer when one side offers", async () => {
    const { polite, impolite } = pair();
    assert.equal(await impolite.negotiation.offer(), 1);
    assert.equal(impolite.pc.signalingState, "have-local-offer");
    assert.deepEqual(await deliver(impolite, polite), ["answered"]);
    assert.deepEqual(await deliver(polite, impolite), ["accepted"]);
    for (const side of [polite, impolite]) assert.equal(side.pc.signalingState, "stable", side.name);
    assert.equal(polite.negotiation.remoteSession, impolite.pc.session);
    assert.equal(impolite.negotiation.remoteSession, polite.pc.session);
    assert.equal(polite.outbox.length + impolite.outbox.length, 0);
  });

  it("puts this side's media on before it answers", async () => {
    const steps = [];
    const { polite, impolite } = pair({
      politeBeforeAnswer: async () => steps.push(`tracks attached in ${polite.pc.signalingState}`),
    });
    await impolite.negotiation.offer();
    await deliver(impolite, polite);
    assert.deepEqual(steps, ["tracks attached in have-remote-offer"]);
    assert.equal(polite.outbox[0].type, "answer");
  });

  it("settles glare: the impolite side ignores the other offer, the polite side rolls its own back and answers", async () => {
    const { polite, impolite } = pair();
    await Promise.all([polite.negotiation.offer(), impolite.negotiation.offer()]);
    const politeOffer = polite.outbox[0];
    const impoliteOffer = impolite.outbox[0];
    assert.equal(politeOffer.type, "offer");
    assert.equal(impoliteOffer.type, "offer");
    // The offers cross.
    const [atImpolite, atPolite] = await Promise.all([deliver(polite, impolite), deliver(impolite, polite)]);
    assert.deepEqual(atImpolite, ["ignored"]);
    assert.equal(impolite.negotiation.ignoreOffer, true);
    assert.deepEqual(atPolite, ["answered"]);
    assert.equal(polite.pc.rollbacks, 1, "the polite side's own offer was rolled back");
    assert.equal(polite.negotiation.ignoreOffer, false);
    // The answer settles it; nothing of the polite side's offer survives.
    assert.deepEqual(await deliver(polite, impolite), ["accepted"]);
    assert.equal(impolite.negotiation.ignoreOffer, false);
    for (const side of [polite, impolite]) assert.equal(side.pc.signalingState, "stable", side.name);
    assert.equal(impolite.pc.remoteDescription.type, "answer");
    assert.equal(polite.pc.remoteDescription, impoliteOffer);
    assert.equal(impolite.pc.rollbacks, 0);
  });

  it("ignores an offer arriving while its own is still being made, on the impolite side", async () => {
    const { polite, impolite } = pair();
    await polite.negotiation.offer();
    const making = impolite.negotiation.offer(); // not awaited: setLocalDescription is under way
    assert.equal(impolite.negotiation.makingOffer, true);
    assert.deepEqual(await deliver(polite, impolite), ["ignored"]);
    await making;
    assert.equal(impolite.negotiation.makingOffer, false);
    assert.equal(impolite.pc.signalingState, "have-local-offer");
    assert.deepEqual(await deliver(impolite, polite), ["answered"]);
    assert.deepEqual(await deliver(polite, impolite), ["accepted"]);
    for (const side of [polite, impolite]) assert.equal(side.pc.signalingState, "stable", side.name);
  });

  it("gives way on the polite side even while its own offer is being made", async () => {
    const { polite, impolite } = pair();
    await impolite.negotiation.offer();
    const making = polite.negotiation.offer();
    assert.deepEqual(await deliver(impolite, polite), ["answered"]);
    await making;
    assert.equal(polite.pc.signalingState, "stable");
  });

  it("renegotiates from either side once stable", async () => {
    const { polite, impolite } = pair();
    await impolite.negotiation.offer();
    await deliver(impolite, polite);
    await deliver(polite, impolite);
    assert.equal(await polite.negotiation.offer(), 1);
    assert.deepEqual(await deliver(polite, impolite), ["answered"]);
    assert.deepEqual(await deliver(impolite, polite), ["accepted"]);
    for (const side of [polite, impolite]) assert.equal(side.pc.signalingState, "stable", side.name);
  });
});

describe("an unanswered offer", () => {
  it("is rolled back and made again, with a new number", async () => {
    const { impolite } = pair();
    const first = await impolite.negotiation.offer();
    impolite.outbox.length = 0; // lost on the way
    const second = await impolite.negotiation.offerAgain(first);
    assert.equal(second, first + 1);
    assert.equal(impolite.pc.rollbacks, 1);
    assert.equal(impolite.pc.signalingState, "have-local-offer");
    assert.equal(impolite.outbox.length, 1);
    assert.equal(impolite.outbox[0].type, "offer");
  });

  it("is not made again once answered, nor when a later offer has been made", async () => {
    const { polite, impolite } = pair();
    const first = await impolite.negotiation.offer();
    await deliver(impolite, polite);
    await deliver(polite, impolite);
    assert.equal(await impolite.negotiation.offerAgain(first), 0, "answered");
    const second = await impolite.negotiation.offer();
    assert.equal(await impolite.negotiation.offerAgain(first), 0, "superseded");
    assert.equal(impolite.pc.rollbacks, 0);
    assert.equal(impolite.negotiation.offers, second);
  });

  it("throws when the rollback fails, so that the caller replaces the connection", async () => {
    const { impolite } = pair();
    const first = await impolite.negotiation.offer();
    impolite.pc.failNext = { method: "setLocalDescription", message: "rollback refused" };
    await assert.rejects(impolite.negotiation.offerAgain(first), /rollback refused/);
  });
});

describe("failures", () => {
  it("reports an offer that cannot be taken as failed", async () => {
    const { polite, impolite } = pair();
    await impolite.negotiation.offer();
    polite.pc.failNext = { method: "setRemoteDescription", message: "bad SDP" };
    assert.deepEqual(await deliver(impolite, polite), ["failed"]);
    assert.equal(polite.outbox.length, 0, "no answer sent");
    assert.equal(polite.negotiation.remoteSession, null);
  });

  it("reports an offer whose answer cannot be made as failed", async () => {
    const { polite, impolite } = pair({ politeBeforeAnswer: async () => { throw new Error("no transceiver"); } });
    await impolite.negotiation.offer();
    assert.deepEqual(await deliver(impolite, polite), ["failed"]);
    assert.equal(polite.outbox.length, 0);
  });

  it("reports an answer to no offer of ours as stale, and is ready for the next offer", async () => {
    const { polite, impolite } = pair();
    await impolite.negotiation.offer();
    await deliver(impolite, polite);
    const answer = polite.outbox[0];
    await deliver(polite, impolite);
    assert.equal(await impolite.negotiation.receive(answer), "stale", "the same answer twice");
    assert.equal(impolite.negotiation.answerPending, false);
    await polite.negotiation.offer();
    assert.deepEqual(await deliver(polite, impolite), ["answered"]);
  });

  it("reports an offer that cannot be made as none", async () => {
    const { impolite } = pair();
    impolite.pc.failNext = { method: "setLocalDescription", message: "closed" };
    assert.equal(await impolite.negotiation.offer(), 0);
    assert.equal(impolite.negotiation.makingOffer, false);
    assert.equal(impolite.outbox.length, 0);
  });
});

describe("a new connection of the other side", () => {
  it("replaces ours when it offers, and restarts ours when it answers", async () => {
    const { polite, impolite } = pair();
    await impolite.negotiation.offer();
    await deliver(impolite, polite);
    await deliver(polite, impolite);
    // The impolite side reloaded: its new connection offers.
    const reloaded = new FakePeerConnection({ name: "reloaded" });
    await reloaded.setLocalDescription();
    assert.equal(await polite.negotiation.receive(reloaded.localDescription), "replace");
    assert.equal(polite.pc.signalingState, "stable", "nothing was set on the old connection");
    // Our offer reached their new connection, which answered.
    await polite.negotiation.offer();
    const fresh = new FakePeerConnection({ name: "fresh" });
    await fresh.setRemoteDescription(polite.outbox.pop());
    await fresh.setLocalDescription();
    assert.equal(await polite.negotiation.receive(fresh.localDescription), "restart");
  });
});

describe("candidates", () => {
  it("are dropped before a remote description and added after", async () => {
    const { polite, impolite } = pair();
    const candidate = { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0" };
    assert.equal(await polite.negotiation.addCandidate(candidate), false);
    await impolite.negotiation.offer();
    await deliver(impolite, polite);
    assert.equal(await polite.negotiation.addCandidate(candidate), true);
    assert.deepEqual(polite.pc.candidates, [candidate]);
  });
});
