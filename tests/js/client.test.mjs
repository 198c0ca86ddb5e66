// RoomClient (web/static/js/room/client.js) over a fake socket and a clock the test moves: the
// join and its snapshot, events applied in pseq order, duplicates dropped, gaps filled by
// room.sync (complete or not), resume, and what may not wait behind a gap.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { RoomClient } from "../../web/static/js/room/client.js";
import { FakeSocket, ManualClock, MemoryStorage, settle } from "./fake-socket.mjs";

const SESSION = "s1";
const RESUME_KEY = `heshi:resume:${SESSION}`;
const CONSENTING = ["applicant", "respondent", "agent", "expert"];
const GAP_WAIT_MS = 1000;
const RETRY_MS = 2000;

const person = (pid, role, extra = {}) => ({
  pid, name: pid.toUpperCase(), role, state: "admitted", connected: true, publishing: false, ...extra,
});
const MEDIATOR = person("m", "mediator");
const ME = person("a", "applicant");

function room(extra = {}) {
  return { seq: 10, pseq: 3, you: ME, max_publishers: 6, participants: [MEDIATOR, ME],
           recording: { state: "off" }, consenting_roles: CONSENTING, ...extra };
}

const ev = (pseq, seq, type, data) => ({ pseq, seq, type, data, at: "2026-12-05T09:15:05+00:00" });
const joins = (pseq, seq, pid, role = "respondent") => ev(pseq, seq, "participant.joined", { participant: person(pid, role) });
const chat = (pseq, seq, id) => ev(pseq, seq, "chat.message", { id, at: `2026-12-05T09:${10 + pseq}:00Z`, text: id, from: MEDIATOR });

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const NEWS = ["state", "joined", "admitted", "roster", "participant-joined", "participant-left", "peer-reset", "chat",
              "recording", "lobby-reason"];

/** A client, its socket (once connected), its clock and storage, and what it announced. */
function setup({ snapshot = room(), answers = {}, saved = null } = {}) {
  const clock = new ManualClock();
  const storage = new MemoryStorage();
  if (saved) storage.setItem(RESUME_KEY, JSON.stringify(saved));
  const handlers = {
    "room.join": () => ({ ok: true, resume_token: "token-1", resumed: false, missed: null, room: snapshot,
                          chat: { messages: [], has_more: false }, ice_servers: [] }),
    "chat.history": () => ({ ok: true, messages: [], has_more: false }),
    ...answers,
  };
  const t = { clock, storage, handlers, socket: null, news: [] };
  t.client = new RoomClient(SESSION, {
    storage, timers: clock,
    ioFactory: () => {
      t.socket = new FakeSocket((event, payload) => {
        const handler = handlers[event];
        return handler ? handler(payload) : Promise.reject(new Error(`no answer to ${event}`));
      });
      setImmediate(() => t.socket.connect()); // io() connects by itself, once its handlers are on
      return t.socket;
    },
  });
  for (const type of NEWS) t.client.addEventListener(type, (e) => t.news.push({ type, detail: e.detail }));
  t.of = (type) => t.news.filter((n) => n.type === type).map((n) => n.detail);
  t.receive = async (...events) => {
    for (const e of events) t.socket.serverSends("room.event", e);
    await settle();
  };
  return t;
}

async function joined(options) {
  const t = setup(options);
  t.client.connect();
  await settle();
  t.news.length = 0;
  return t;
}

const pids = (client) => [...client.participants.keys()];

describe("joining", () => {
  it("takes the room from the join's snapshot, with the consenting roles the server names", async () => {
    const t = setup({ snapshot: room({ consenting_roles: ["expert", "applicant"] }) });
    t.client.connect();
    await settle();
    assert.deepEqual(t.socket.sent("room.join"), [{}]);
    assert.equal(t.client.state, "admitted");
    assert.equal(t.client.me.pid, "a");
    assert.deepEqual(pids(t.client), ["m", "a"]);
    assert.equal(t.client.seq, 10);
    assert.equal(t.client.pseq, 3);
    assert.deepEqual([...t.client.consentingRoles], ["expert", "applicant"]);
    assert.deepEqual(JSON.parse(t.storage.getItem(RESUME_KEY)), { token: "token-1", seq: 10 });
    assert.equal(t.of("joined").length, 1);
  });

  it("resumes with the saved token and last seq, and keeps the chat it missed", async () => {
    const t = setup({ saved: { token: "token-0", seq: 7 } });
    t.handlers["room.join"] = () => ({
      ok: true, resume_token: "token-1", resumed: true, missed: [chat(3, 9, "missed"), joins(2, 8, "x")], room: room(),
      chat: { messages: [chat(1, 5, "older").data], has_more: false }, ice_servers: [],
    });
    assert.equal(t.client.wasInRoom, true);
    t.client.connect();
    await settle();
    assert.deepEqual(t.socket.sent("room.join"), [{ resume_token: "token-0", last_seq: 7 }]);
    assert.deepEqual(t.client.messages.map((m) => m.id), ["older", "missed"]);
    assert.deepEqual(pids(t.client), ["m", "a"], "the roster is the snapshot's, not the replayed events'");
  });

  it("holds events that arrive during the join until its snapshot, and drops those it covers", async () => {
    const t = setup();
    const join = deferred();
    t.handlers["room.join"] = () => join.promise;
    t.client.connect();
    await settle();
    await t.receive(joins(3, 10, "x"), joins(4, 11, "r"));
    assert.deepEqual(pids(t.client), [], "nothing is applied before the snapshot");
    join.resolve({ ok: true, resume_token: "token-1", resumed: false, missed: null, room: room(),
                   chat: { messages: [], has_more: false }, ice_servers: [] });
    await settle();
    assert.deepEqual(pids(t.client), ["m", "a", "r"]);
    assert.equal(t.client.pseq, 4);
  });
});

describe("sequenced events", () => {
  it("are applied in pseq order, whatever order they arrive in", async () => {
    const t = await joined();
    await t.receive(ev(5, 13, "participant.left", { pid: "r" }));
    assert.equal(t.client.pseq, 3, "5 waits for 4");
    await t.receive(joins(4, 12, "r"));
    assert.equal(t.client.pseq, 5);
    assert.deepEqual(pids(t.client), ["m", "a"]);
    assert.deepEqual(t.news.filter((n) => n.type.startsWith("participant-")).map((n) => n.type),
      ["participant-joined", "participant-left"]);
    assert.deepEqual(t.socket.sent("room.sync"), []);
    assert.equal(t.clock.pending, 0, "no gap left to wait on");
  });

  it("are applied once, however often they arrive", async () => {
    const t = await joined();
    await t.receive(chat(5, 13, "b"), chat(5, 13, "b"), chat(4, 12, "a"), chat(4, 12, "a"), chat(5, 13, "b"));
    await t.receive(joins(6, 14, "r"), joins(6, 14, "r"));
    assert.deepEqual(t.client.messages.map((m) => m.id), ["a", "b"]);
    assert.equal(t.of("chat").length, 2);
    assert.equal(t.of("participant-joined").length, 1);
    assert.equal(t.client.pseq, 6);
  });

  it("that the snapshot covers are not applied again", async () => {
    const t = await joined();
    await t.receive(joins(2, 8, "x"), joins(3, 10, "y"));
    assert.deepEqual(pids(t.client), ["m", "a"]);
    assert.equal(t.of("participant-joined").length, 0);
  });

  it("move the saved resume point along", async () => {
    const t = await joined();
    await t.receive(chat(4, 17, "a"));
    assert.deepEqual(JSON.parse(t.storage.getItem(RESUME_KEY)), { token: "token-1", seq: 17 });
  });

  it("without a pseq are ignored", async () => {
    const t = await joined();
    await t.receive({ seq: 11, type: "participant.left", data: { pid: "m" } }, null);
    assert.deepEqual(pids(t.client), ["m", "a"]);
  });
});

describe("a gap", () => {
  it("is waited on for a second, then filled from room.sync after the seq of the last event applied", async () => {
    const t = await joined();
    await t.receive(chat(4, 12, "a"), chat(6, 15, "c"));
    assert.equal(t.client.pseq, 4);
    t.handlers["room.sync"] = () => ({ ok: true, complete: true, seq: 15, events: [chat(5, 14, "b"), chat(6, 15, "c")],
                                       room: room({ seq: 15, pseq: 6 }) });
    await t.clock.advance(GAP_WAIT_MS - 1);
    assert.deepEqual(t.socket.sent("room.sync"), [], "not before a second");
    await t.clock.advance(1);
    assert.deepEqual(t.socket.sent("room.sync"), [{ after_seq: 12 }]);
    assert.deepEqual(t.client.messages.map((m) => m.id), ["a", "b", "c"]);
    assert.equal(t.client.pseq, 6);
    assert.equal(t.client.seq, 15);
    assert.equal(t.clock.pending, 0);
  });

  it("closed by the missing event in time needs no room.sync", async () => {
    const t = await joined();
    await t.receive(chat(5, 13, "b"));
    await t.clock.advance(GAP_WAIT_MS / 2);
    await t.receive(chat(4, 12, "a"));
    await t.clock.advance(GAP_WAIT_MS);
    assert.deepEqual(t.socket.sent("room.sync"), []);
    assert.equal(t.client.pseq, 5);
  });

  it("the server cannot fill is stepped over up to its snapshot, and later events still wait their turn", async () => {
    const t = await joined();
    await t.receive(chat(5, 14, "b"), chat(8, 18, "e"));
    t.handlers["room.sync"] = () => ({ ok: true, complete: true, seq: 15, events: [chat(6, 15, "c")],
                                       room: room({ seq: 15, pseq: 6 }) });
    await t.clock.advance(GAP_WAIT_MS);
    assert.deepEqual(t.client.messages.map((m) => m.id), ["b", "c"], "4 no longer exists; 8 is after the snapshot");
    assert.equal(t.client.pseq, 6);
    await t.receive(chat(7, 17, "d"));
    assert.deepEqual(t.client.messages.map((m) => m.id), ["b", "c", "d", "e"]);
    assert.equal(t.client.pseq, 8);
  });

  it("beyond the server's buffer is replaced by its snapshot, keeping the chat of the events and fetching the rest", async () => {
    const t = await joined();
    await t.receive(chat(6, 20, "held"), joins(12, 40, "late"));
    t.handlers["room.sync"] = () => ({
      ok: true, complete: false, seq: 30, events: [chat(9, 29, "replayed"), joins(8, 28, "z")],
      room: room({ seq: 30, pseq: 10, participants: [MEDIATOR, ME, person("e", "expert")] }),
    });
    t.handlers["chat.history"] = () => ({ ok: true, messages: [chat(2, 5, "history").data], has_more: false });
    await t.clock.advance(GAP_WAIT_MS);
    assert.deepEqual(t.socket.sent("room.sync"), [{ after_seq: 10 }]);
    assert.deepEqual(pids(t.client), ["m", "a", "e"], "the snapshot's roster");
    assert.equal(t.client.pseq, 10);
    assert.deepEqual(t.socket.sent("chat.history"), [{ limit: 50 }]);
    assert.deepEqual(t.client.messages.map((m) => m.id).sort(), ["history", "replayed"], "not the event the snapshot covers");
    await t.receive(joins(11, 41, "r"));
    assert.deepEqual(pids(t.client), ["m", "a", "e", "r", "late"]);
  });

  it("whose room.sync fails is asked about again later", async () => {
    const t = await joined();
    await t.receive(chat(5, 13, "b"));
    let calls = 0;
    t.handlers["room.sync"] = () => {
      calls += 1;
      if (calls === 1) return Promise.reject(new Error("timeout"));
      return { ok: true, complete: true, seq: 13, events: [chat(4, 12, "a"), chat(5, 13, "b")], room: room({ seq: 13, pseq: 5 }) };
    };
    await t.clock.advance(GAP_WAIT_MS);
    assert.equal(calls, 1);
    assert.equal(t.client.pseq, 3);
    await t.clock.advance(RETRY_MS);
    assert.equal(calls, 2);
    assert.deepEqual(t.client.messages.map((m) => m.id), ["a", "b"]);
  });
});

describe("what does not wait behind a gap", () => {
  it("a participant who reconnected gets media set up again at once, and once", async () => {
    const t = await joined();
    const back = ev(5, 13, "participant.reconnected", { participant: MEDIATOR });
    await t.receive(back);
    assert.deepEqual(t.of("peer-reset"), [{ pid: "m" }], "ahead of the gap");
    await t.receive(back, chat(4, 12, "a"));
    assert.equal(t.client.pseq, 5);
    assert.deepEqual(t.of("peer-reset"), [{ pid: "m" }], "not again when applied, nor for a duplicate");
  });

  it("the end of the session ends it at once, and no room.sync follows", async () => {
    const t = await joined();
    await t.receive(ev(6, 20, "session.ended", { reason: "settled" }));
    assert.equal(t.client.state, "ended");
    assert.deepEqual(t.of("state").at(-1), { state: "ended", code: "ended", reason: "settled" });
    assert.equal(t.storage.getItem(RESUME_KEY), null, "the seat is not resumed");
    assert.equal(t.socket.io.opts.reconnection, false);
    await t.clock.advance(GAP_WAIT_MS * 5);
    assert.deepEqual(t.socket.sent("room.sync"), []);
  });

  it("this participant's removal is final; another's is news", async () => {
    const t = await joined();
    await t.receive(ev(4, 12, "participant.removed", { pid: "m", reason: "rude" }));
    assert.deepEqual(t.of("participant-left"), [{ pid: "m", removed: true, reason: "rude" }]);
    await t.receive(ev(9, 30, "participant.removed", { pid: "a", reason: "" }));
    assert.equal(t.client.state, "refused");
    assert.equal(t.of("state").at(-1).code, "removed");
  });
});

describe("admission from the lobby", () => {
  it("turns this participant admitted, then fetches the room and the chat", async () => {
    const lobbyRoom = room({ you: { ...ME, state: "lobby" }, participants: undefined, recording: undefined,
                             lobby_reason: "waiting_for_admission" });
    const t = await joined({ snapshot: lobbyRoom });
    assert.equal(t.client.state, "lobby");
    assert.equal(t.client.lobbyReason, "waiting_for_admission");
    const sync = deferred();
    t.handlers["room.sync"] = () => sync.promise;
    await t.receive(joins(4, 12, "a", "applicant"));
    assert.equal(t.client.me.state, "admitted");
    assert.equal(t.client.lobbyReason, null);
    assert.deepEqual(t.socket.sent("room.sync"), [{ after_seq: 12 }]);
    assert.equal(t.of("admitted").length, 0, "not before the room is known");
    sync.resolve({ ok: true, complete: true, seq: 12, events: [], room: room({ seq: 12, pseq: 4 }) });
    await settle();
    assert.equal(t.of("admitted").length, 1);
    assert.equal(t.client.state, "admitted");
    assert.deepEqual(pids(t.client), ["m", "a"]);
    assert.deepEqual(t.socket.sent("chat.history"), [{ limit: 50 }]);
  });
});

describe("recording", () => {
  const waiting = { state: "waiting_for_consent", recording_id: "r1", recorder_ready: false, recorded: [], your_consent: null };

  it("asks for consent the roles the server names, and no others", async () => {
    assert.equal((await joined({ snapshot: room({ recording: waiting }) })).client.consentNeeded, true);
    const t = await joined({ snapshot: room({ recording: waiting, consenting_roles: ["expert"] }) });
    assert.equal(t.client.consentNeeded, false);
  });

  it("announces each new view with the one before it and why it stopped", async () => {
    const t = await joined();
    await t.receive(ev(4, 12, "recording.updated", { ...waiting, state: "on", recorded: ["a"], recorder_ready: true }));
    assert.equal(t.client.recorderRun, "r1");
    await t.receive(ev(5, 13, "recording.updated", { state: "off", recording_id: null, stop_reason: "disk_full" }));
    const [on, off] = t.of("recording");
    assert.equal(on.previous.state, "off");
    assert.equal(on.recording.state, "on");
    assert.equal(off.previous.state, "on");
    assert.equal(off.stopReason, "disk_full");
    assert.equal(off.snapshot, false);
    assert.equal(t.client.recorderRun, null);
  });
});
