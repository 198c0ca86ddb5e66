// The case log told for people (web/static/js/case/describe.js, web/static/js/case/timeline.js):
// sentences with names, redacted entries told as such, what happened in each session, and runs
// of alike entries shown once.

import assert from "node:assert/strict";
import { describe as suite, it } from "node:test";

import { setCatalog } from "../../web/static/js/i18n.js";
import { actorName, collapse, describe, namesActor, sessionSummaries } from "../../web/static/js/case/describe.js";

const NAMES = { "account:m1": "王建国", "invitation:i1": "李秀英" };
const S = "session-1";

function entry(kind, data = {}, extra = {}) {
  return { kind, data, actor: "account:m1", session_id: S, at: "2026-12-04T01:30:00.000000+00:00", redacted: false, ...extra };
}

suite("describing the case log for people", () => {
  it("names people through the names map, and the participant an entry is about through its pid", () => {
    setCatalog({});
    assert.equal(actorName("account:m1", NAMES), "王建国");
    assert.equal(actorName("system:cli", NAMES), "the system (cli)");
    assert.equal(actorName("recorder:r1", NAMES), "the recorder");
    assert.equal(actorName("account:gone", NAMES), "someone no longer on record");
    assert.equal(describe(entry("session.admit", { pid: "i:i1" }), NAMES).text, "let 李秀英 in from the lobby");
    assert.equal(describe(entry("session.leave", { pid: "i:unknown" }), NAMES).text, "someone left");
  });

  it("tells each part of the case in its group, in the viewer's language", () => {
    setCatalog({ "moved the case to “%(status)s”": "将案件状态改为“%(status)s”", settled: "调解成功" });
    const moved = describe(entry("case.transitioned", { from: "mediating", to: "settled", note: "" }), NAMES);
    assert.deepEqual(moved, { group: "case", text: "将案件状态改为“调解成功”" });
    setCatalog({});
    assert.equal(describe(entry("recording.consent", { pid: "i:i1", name: "李秀英", decision: "refused" })).text,
      "李秀英 refused to be recorded");
    assert.equal(describe(entry("minutes.signed", { revision: 3 })).group, "documents");
    assert.equal(describe(entry("recording.accessed", {})).group, "access");
    assert.equal(describe(entry("recording.accessed", { refused: "expired" })).text, "was refused the recording (expired)");
    assert.equal(describe(entry("session.remove", { pid: "i:i1", reason: "扰乱秩序" }), NAMES).text,
      "removed 李秀英 from the session (reason: 扰乱秩序)");
  });

  it("tells a redacted entry as one the viewer may not read, with nothing of its content", () => {
    const told = describe({ kind: "chat.message", redacted: true, seq: 7 }, NAMES);
    assert.equal(told.group, "hidden");
    assert.ok(!told.text.includes("chat"));
  });

  it("tells an unknown kind by its name rather than hiding it", () => {
    assert.equal(describe(entry("something.new")).text, "something.new");
  });
});

suite("what happened in each session", () => {
  it("says when it ran, who came in the order they came, how long, and whether it was recorded", () => {
    const events = [
      entry("session.join", { pid: "a:m1", name: "王建国", role: "mediator", state: "admitted" }, { at: "2026-12-04T01:30:00+00:00" }),
      entry("session.live", {}, { at: "2026-12-04T01:30:05+00:00" }),
      entry("session.join", { pid: "i:i1", name: "李秀英", role: "applicant", state: "lobby" }, { at: "2026-12-04T01:31:00+00:00" }),
      entry("session.rejoin", { pid: "i:i1" }, { at: "2026-12-04T01:40:00+00:00" }),
      entry("session.join", { pid: "i:i1", name: "李秀英", role: "applicant", state: "admitted" }, { at: "2026-12-04T01:41:00+00:00" }),
      entry("recording.started", {}, { at: "2026-12-04T01:35:00+00:00" }),
      entry("session.ended", {}, { at: "2026-12-04T02:40:05+00:00" }),
      entry("session.join", { pid: "x", name: "别的会话" }, { session_id: "other" }),
      { kind: "session.join", redacted: true, session_id: null },
    ];
    const s = sessionSummaries(events, NAMES).get(S);
    assert.equal(s.startedAt, "2026-12-04T01:30:05+00:00");
    assert.equal(s.minutes, 70);
    assert.deepEqual(s.people, [{ name: "王建国", role: "mediator" }, { name: "李秀英", role: "applicant" }]);
    assert.equal(s.recorded, true);
    assert.equal(sessionSummaries([entry("session.scheduled", { title: "x" })]).get(S).startedAt, null);
  });
});

suite("runs of alike entries", () => {
  it("are one row with a count and the first and last time; a different entry between breaks the run", () => {
    const rows = ["a", "a", "a", "b", "a"].map((key, i) => ({ key, at: `t${i}` }));
    assert.deepEqual(collapse(rows).map((r) => [r.key, r.count, r.at, r.until]), [
      ["a", 3, "t0", "t2"], ["b", 1, "t3", "t3"], ["a", 1, "t4", "t4"],
    ]);
    assert.deepEqual(collapse([]), []);
  });
});

suite("who is named beside an entry", () => {
  it("is whoever acted, but not for what happened by itself or for a redacted entry", () => {
    assert.equal(namesActor(entry("agreement.signed", { version: 1 })), true);
    assert.equal(namesActor(entry("agreement.locked", { version: 1 })), false);
    assert.equal(namesActor(entry("confirmation.delivered")), false);
    assert.equal(namesActor({ kind: "agreement.signed", redacted: true }), false);
  });
});
