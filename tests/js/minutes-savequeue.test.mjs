// Saving the minutes (web/static/js/minutes/savequeue.js and document.js): a dropped connection
// resends the same save, a conflict keeps the person's text and re-applies it on the current
// revision, and nothing is ever overwritten silently.

import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  ServerClock, changes, claimRows, editable, isoMicro, normalize, parseIso, rebase, withClaim,
} from "../../web/static/js/minutes/document.js";
import { MAX_FRAME_BYTES, SaveQueue, frameBytes } from "../../web/static/js/minutes/savequeue.js";

class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
  removeItem(k) { this.items.delete(k); }
}

const AT1 = "2026-12-05T09:15:05.123456+00:00";
const AT2 = "2026-12-05T09:16:00.000001+00:00";
const BASE = {
  header: {
    case_number: "QS-2026-0001",
    parties: [{ side: "applicant", name: "李秀英" }, { side: "respondent", name: "张伟" }],
  },
  parties: [
    { party_id: "p1", side: "applicant", name: "李秀英", claims: "赔偿医疗费", facts: "" },
    { party_id: "p2", side: "respondent", name: "张伟", claims: "", facts: "" },
  ],
  entries: [{ id: "e1", speaker: "王建国", text: "宣布调解开始", at: AT1 }],
  expert_opinion: "",
  result: "",
};
const MEDIATOR = ["parties", "entries", "result"];

function ids() {
  let n = 0;
  return () => `save-${++n}`;
}

function queue(storage = new MemoryStorage()) {
  const q = new SaveQueue({ storage, key: "k", newId: ids(), writable: MEDIATOR });
  q.load({ revision: 3, document: BASE });
  return q;
}

const edited = (doc, fields) => ({ ...normalize(doc), ...fields });

describe("the save queue", () => {
  it("has nothing to send until the draft changes", () => {
    const q = queue();
    assert.equal(q.take(), null);
    assert.equal(q.status(true), "saved");
  });

  it("sends one save of the draft, based on the loaded revision", () => {
    const q = queue();
    q.edit(edited(BASE, { result: "达成协议" }));
    assert.equal(q.status(true), "unsaved");
    const save = q.take();
    assert.equal(save.save_id, "save-1");
    assert.equal(save.base_revision, 3);
    assert.equal(save.document.result, "达成协议");
    assert.deepEqual(Object.keys(save.document).sort(), ["entries", "parties", "result"], "only what the mediator writes");
    assert.equal(q.status(true), "saving");
  });

  it("sends the very same save again after a drop, never a new id", () => {
    const q = queue();
    q.edit(edited(BASE, { result: "达成协议" }));
    const first = q.take();
    // The connection drops before the answer; the person keeps typing.
    q.failed(first.save_id, { code: "timeout" });
    q.edit(edited(BASE, { result: "达成协议，当场履行" }));
    assert.equal(q.status(false), "offline");
    const again = q.take();
    assert.deepEqual(again, first);
    q.saved(first.save_id, { revision: 4 });
    // Only then the typing since, based on the revision the answer named.
    const next = q.take();
    assert.equal(next.save_id, "save-2");
    assert.equal(next.base_revision, 4);
    assert.equal(next.document.result, "达成协议，当场履行");
    q.saved(next.save_id, { revision: 5 });
    assert.equal(q.status(true), "saved");
    assert.equal(q.take(), null);
  });

  it("survives a reload: the pending save and the draft come back from storage", () => {
    const storage = new MemoryStorage();
    const q = queue(storage);
    q.edit(edited(BASE, { result: "达成协议" }));
    const save = q.take();
    q.edit(edited(BASE, { result: "达成协议。" }));
    const again = new SaveQueue({ storage, key: "k", newId: () => "other", writable: MEDIATOR });
    again.load({ revision: 3, document: BASE });
    assert.deepEqual(again.take(), save);
    assert.equal(again.draft.result, "达成协议。");
    again.saved(save.save_id, { revision: 4 });
    assert.equal(again.take().document.result, "达成协议。");
  });

  it("forgets storage once everything is saved", () => {
    const storage = new MemoryStorage();
    const q = queue(storage);
    q.edit(edited(BASE, { result: "x" }));
    q.saved(q.take().save_id, { revision: 4 });
    assert.equal(storage.getItem("k"), null);
  });

  it("drops a save refused for good but keeps the text", () => {
    const q = queue();
    q.edit(edited(BASE, { result: "x".repeat(10) }));
    const save = q.take();
    q.failed(save.save_id, { code: "invalid_input", message: "too long" });
    assert.equal(q.status(true), "error");
    assert.equal(q.draft.result, "x".repeat(10));
    assert.equal(q.take().save_id, "save-2", "a new save once sent again");
  });

  it("shows another person's revision when nothing of one's own is unsaved", () => {
    const q = queue();
    q.seen({ revision: 4, document: edited(BASE, { result: "他人写的" }), by: { name: "记录人" } });
    assert.equal(q.revision, 4);
    assert.equal(q.draft.result, "他人写的");
    assert.equal(q.status(true), "saved");
  });

  it("wants the text of an announced revision, then shows it once fetched", () => {
    const q = queue();
    q.seen({ revision: 4, sha256: "a".repeat(64), by: { name: "记录人" } }); // minutes.updated: no text
    assert.equal(q.revision, 3, "an announcement alone changes nothing shown");
    assert.equal(q.wants(4), true);
    assert.equal(q.wants(3), false);
    q.seen({ revision: 4, document: edited(BASE, { result: "他人写的" }) }); // minutes.get's answer
    assert.equal(q.revision, 4);
    assert.equal(q.draft.result, "他人写的");
    assert.equal(q.wants(4), false);
  });

  it("answers its own save from the announcement, and wants nothing more", () => {
    const q = queue();
    q.edit(edited(BASE, { result: "我的" }));
    const save = q.take();
    q.seen({ revision: 4, save_id: save.save_id }); // the ack was lost; the event names the save
    assert.equal(q.pending, null);
    assert.equal(q.revision, 4);
    assert.equal(q.draft.result, "我的");
    assert.equal(q.wants(4), false);
  });

  it("during a conflict, a fetched newer revision becomes the one to re-apply on", () => {
    const q = queue();
    q.edit(edited(BASE, { result: "我的" }));
    const save = q.take();
    q.conflicted(save.save_id, { current_revision: 4 });
    q.current({ revision: 4, document: edited(BASE, { result: "第四版" }) });
    q.seen({ revision: 5 });
    assert.equal(q.wants(5), true);
    q.seen({ revision: 5, document: edited(BASE, { result: "第五版" }) });
    assert.equal(q.conflict.current.revision, 5);
    assert.equal(q.wants(5), false);
    q.reapply();
    assert.equal(q.revision, 5);
    assert.equal(q.draft.result, "我的");
  });

  it("measures a save's frame in UTF-8 bytes, as the server's 256 KiB limit counts them", () => {
    const small = { save_id: "s1", base_revision: 3, document: { result: "达成" } };
    assert.equal(frameBytes(small), new TextEncoder().encode(JSON.stringify(["minutes.save", small])).length + 8);
    const big = { save_id: "s2", base_revision: 3, document: { result: "记".repeat(90_000) } }; // 270 KB
    assert.ok(frameBytes(big) > MAX_FRAME_BYTES && MAX_FRAME_BYTES < 256 * 1024);
    const q = queue();
    q.edit(edited(BASE, { result: "记".repeat(90_000) }));
    const save = q.take();
    q.failed(save.save_id, { code: "payload_too_large" }); // what the controller does instead of sending
    assert.equal(q.pending, null);
    assert.equal(q.status(true), "error");
    assert.equal(q.draft.result.length, 90_000, "the text stays, to be shortened");
  });

  it("wants nothing before it is loaded", () => {
    const q = new SaveQueue({ newId: () => "x" });
    assert.equal(q.wants(7), false);
  });

  it("never replaces unsaved text with another person's revision", () => {
    const q = queue();
    q.edit(edited(BASE, { result: "我的" }));
    q.seen({ revision: 4, document: edited(BASE, { result: "他人的" }) });
    assert.equal(q.draft.result, "我的");
    assert.equal(q.revision, 3);
  });

  it("takes its own broadcast as the answer when it comes first", () => {
    const q = queue();
    q.edit(edited(BASE, { result: "我的" }));
    const save = q.take();
    q.seen({ revision: 4, save_id: save.save_id, document: save.document });
    assert.equal(q.pending, null);
    assert.equal(q.revision, 4);
    q.saved(save.save_id, { revision: 4 }); // the ack, late: nothing more happens
    assert.equal(q.status(true), "saved");
  });

  it("on a conflict keeps the person's text, waits, and re-applies it on the current revision", () => {
    const q = queue();
    const mine = edited(BASE, {
      result: "达成协议",
      entries: [...BASE.entries, { id: "e2", speaker: "李秀英", text: "我要求赔偿", at: AT2 }],
    });
    q.edit(mine);
    const save = q.take();
    q.conflicted(save.save_id, { current_revision: 4, changes: [{ revision: 4, by: { name: "陈记录" } }] });
    assert.equal(q.status(true), "conflict");
    assert.equal(q.draft.result, "达成协议", "the text stays");
    assert.equal(q.take(), null, "nothing is sent until the person decides");
    const theirs = edited(BASE, { expert_opinion: "伤残等级十级", result: "未达成" });
    q.current({ revision: 4, document: theirs });
    const overlaps = q.reapply();
    assert.deepEqual(overlaps, ["result"]);
    assert.equal(q.draft.expert_opinion, "伤残等级十级", "their change is kept");
    assert.equal(q.draft.result, "达成协议", "mine is re-applied");
    assert.equal(q.draft.entries.length, 2);
    const next = q.take();
    assert.equal(next.base_revision, 4);
    assert.notEqual(next.save_id, save.save_id);
  });

  it("can give up its own changes for the current revision", () => {
    const q = queue();
    q.edit(edited(BASE, { result: "我的" }));
    q.conflicted(q.take().save_id, { current_revision: 4 });
    q.current({ revision: 4, document: edited(BASE, { result: "他人的" }) });
    q.discard();
    assert.equal(q.draft.result, "他人的");
    assert.equal(q.status(true), "saved");
  });

  it("ignores answers to saves it does not hold", () => {
    const q = queue();
    q.saved("nope", { revision: 9 });
    q.conflicted("nope", { current_revision: 9 });
    assert.equal(q.revision, 3);
    assert.equal(q.conflict, null);
  });
});

describe("changes between two versions of the minutes", () => {
  it("names fields, parties' claims and entries", () => {
    const after = edited(BASE, {
      result: "达成协议",
      parties: [{ ...BASE.parties[0], facts: "2026年3月受伤" }, BASE.parties[1]],
      entries: [{ ...BASE.entries[0], text: "宣布调解开始并告知权利义务" }, { id: "e2", speaker: "张伟", text: "同意", at: AT2 }],
    });
    const list = changes(BASE, after);
    const byPath = Object.fromEntries(list.map((c) => [c.path, c]));
    assert.equal(byPath.result.change, "added");
    assert.equal(byPath["party:id:p1.facts"].change, "added");
    assert.equal(byPath["party:id:p1.facts"].party, "李秀英");
    assert.equal(byPath["entry:e1"].change, "edited");
    assert.equal(byPath["entry:e2"].change, "added");
    assert.equal(byPath["entry:e2"].after.speaker, "张伟");
    assert.equal(list.length, 4);
  });

  it("rebase removes the entries one removed and keeps the others' new ones, in time order", () => {
    const mine = edited(BASE, { entries: [] });
    const theirs = edited(BASE, { entries: [...BASE.entries, { id: "e2", speaker: "张伟", text: "同意", at: AT2 }] });
    const { document, overlaps } = rebase(BASE, mine, theirs);
    assert.deepEqual(document.entries.map((e) => e.id), ["e2"]);
    assert.deepEqual(overlaps, []);
  });

  it("lists every party of the case, with or without claims yet", () => {
    const rows = claimRows(withClaim(BASE, "id:p2", "facts", "没有看到"));
    assert.deepEqual(rows.map((r) => [r.name, r.side, r.claims, r.facts]), [
      ["李秀英", "applicant", "赔偿医疗费", ""],
      ["张伟", "respondent", "", "没有看到"],
    ]);
  });

  it("takes the case's parties from the header until the document lists them", () => {
    const doc = { header: { parties: [{ id: "p9", side: "applicant", name: "甲" }] } };
    const rows = claimRows(withClaim(doc, "id:p9", "claims", "返还"));
    assert.deepEqual(rows.map((r) => [r.party_id, r.claims]), [["p9", "返还"]]);
  });

  it("an expert's save carries their opinion only", () => {
    const doc = edited(BASE, { expert_opinion: "十级伤残", expert_opinion_by: { name: "赵" } });
    assert.deepEqual(editable(doc, ["expert_opinion"]), { expert_opinion: "十级伤残" });
  });
});

describe("the server's clock", () => {
  it("keeps microseconds in the protocol's form", () => {
    assert.ok(Math.abs((parseIso(AT1) % 1000) - 123.456) < 0.001);
    assert.equal(isoMicro(parseIso(AT1)), AT1);
    assert.equal(isoMicro(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), "2026-01-02T03:04:05.006000+00:00");
  });

  it("estimates the server's time from the least delayed message", () => {
    let local = 1_000_000;
    const clock = new ServerClock(() => local);
    assert.equal(clock.known, false);
    assert.equal(clock.now(), local);
    clock.observe(isoMicro(local + 4000)); // the server is 5 s ahead; this one took 1 s to arrive
    clock.observe(isoMicro(local + 4900)); // this one 0.1 s
    clock.observe(isoMicro(local + 3000));
    local += 10_000;
    assert.equal(clock.known, true);
    assert.equal(Math.round(clock.now()), local + 4900);
  });
});
