// The minutes, live: loaded when this participant enters the room (and again after every
// reconnect), written by the mediator and the clerk (the expert writes their opinion), saved
// two seconds after typing stops or at once on Save, and shown read-only to everyone else as
// each revision is saved. Saving goes through minutes/savequeue.js: one save at a time, the same
// save sent again (same save_id) after a drop, a conflict shown and never overwritten.
// views/minutes.js draws it. Protocol: docs/protocol.md, "Minutes".

import { t } from "../../i18n.js";
import { SECTIONS, changes, newEntryId, normalize, withClaim } from "../../minutes/document.js";
import { MAX_FRAME_BYTES, SaveQueue, TRANSIENT, frameBytes } from "../../minutes/savequeue.js";
import { errorText } from "./errors.js";

export const AUTOSAVE_MS = 2000;
const RETRY_MS = 3000;

/** {revision, document, …} from the minutes as minutes.get, a conflict or a REST read give them. */
export function fromPublic(m) {
  const x = m || {};
  return { revision: Number(x.revision) || 0, sha256: x.sha256, document: normalize(x.document), saved_by: x.saved_by, at: x.saved_at };
}

export class MinutesController {
  constructor(page) {
    this.page = page;
    this.client = page.client;
    this.view = page.view.minutes;
    this.writable = SECTIONS.filter((s) => this.view.writes.has(s));
    this.queue = null; // made on the first load, when this participant's pid is known
    this.timer = null;
    this.retries = new Map(); // operation (load | fetch | flush) -> its own retry timer
    this.sending = false;
    this.entryAt = null; // the server time the entry being typed was started
    this.names = new Map(); // revision -> name of who saved it, from minutes.updated
    this.fetching = false; // a minutes.get for a newer revision is on its way
    this.fetchAgain = false; // and another revision was announced meanwhile
  }

  get writes() {
    return this.writable.length > 0;
  }

  get online() {
    const s = this.client.socket;
    return Boolean(s && s.connected) && this.client.state === "admitted";
  }

  bind() {
    const c = this.client;
    c.addEventListener("joined", () => this.load());
    c.addEventListener("admitted", () => this.load());
    c.addEventListener("state", () => this.showStatus());
    c.addEventListener("room-event", (e) => {
      if (e.detail.type === "minutes.updated") this.onUpdated(e.detail.data, e.detail.replayed);
    });
    const v = this.page.view;
    v.addEventListener("minutes-change", (e) => this.change(e.detail));
    v.addEventListener("minutes-entry-start", () => {
      if (this.entryAt) return;
      this.entryAt = this.client.clock.nowIso();
      this.view.setEntryTime(this.entryAt);
    });
    v.addEventListener("minutes-entry-add", (e) => this.addEntry(e.detail));
    v.addEventListener("minutes-save", () => this.saveNow());
    v.addEventListener("minutes-reapply", () => this.reapply());
    v.addEventListener("minutes-discard", () => this.discard());
    // Leaving the page with a save in the air: it is in storage, and goes out on the next visit.
    window.addEventListener("online", () => this.flush());
    this.view.setStatus("loading");
  }

  // ---- loading --------------------------------------------------------------------------------

  async load() {
    if (!this.page.admitted) return;
    let ack;
    try {
      ack = await this.client.request("minutes.get");
    } catch (err) {
      if (TRANSIENT.has(err.code)) this.later("load", () => this.load());
      else this.view.showError(errorText(err));
      return;
    }
    const minutes = fromPublic(ack.minutes);
    if (!this.queue) {
      const key = `heshi:minutes:${this.client.sessionId}:${this.client.me.pid}`;
      this.queue = new SaveQueue({ storage: safeStorage(), key, writable: this.writable });
      this.queue.load(minutes);
    } else {
      this.queue.seen(minutes);
    }
    this.draw(true);
    this.flush();
  }

  /** minutes.updated names a new revision, not its text: a save of this page's is answered by its
   *  save_id; someone else's is fetched when it is newer than what the queue holds. */
  onUpdated(data, replayed) {
    if (!this.queue) return;
    if (!replayed && data.at) this.client.clock.observe(data.at);
    if (data.by && data.by.name) this.names.set(data.revision, data.by.name);
    const before = this.queue.revision;
    this.queue.seen({ revision: data.revision, sha256: data.sha256, save_id: data.save_id, by: data.by, at: data.at });
    if (this.queue.revision !== before) this.draw(true);
    if (this.queue.wants(data.revision)) this.fetch();
    const mine = data.by && this.client.me && data.by.pid === this.client.me.pid;
    if (!mine && !this.page.view.minutesVisible) this.view.setUnread(true);
  }

  /** Fetch the current minutes after an announced revision; one request at a time. */
  async fetch() {
    // Away from the room (a drop, or the session ended), the next join loads the minutes anyway.
    if (!this.online) return;
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = true;
    try {
      const ack = await this.client.request("minutes.get");
      const before = this.queue.revision;
      this.queue.seen(fromPublic(ack.minutes));
      if (this.queue.revision !== before || this.queue.conflict) this.draw(true);
    } catch (err) {
      if (TRANSIENT.has(err.code)) this.later("fetch", () => this.fetch());
    } finally {
      this.fetching = false;
    }
    if (this.fetchAgain) {
      this.fetchAgain = false;
      this.fetch();
    }
  }

  // ---- editing --------------------------------------------------------------------------------

  change(ch) {
    const q = this.queue;
    if (!q || !this.writes) return;
    const d = q.draft;
    switch (ch.kind) {
      case "claim": q.edit(withClaim(d, ch.key, ch.field, ch.value)); break;
      case "result": q.edit({ ...d, result: ch.value }); break;
      case "opinion": q.edit({ ...d, expert_opinion: ch.value }); break;
      case "entry-text": q.edit({ ...d, entries: d.entries.map((e) => (e.id === ch.id ? { ...e, text: ch.value } : e)) }); break;
      case "entry-remove":
        q.edit({ ...d, entries: d.entries.filter((e) => e.id !== ch.id) });
        this.draw(false);
        break;
      default: return;
    }
    this.schedule();
  }

  addEntry({ speaker, text }) {
    const q = this.queue;
    if (!q) return;
    const at = this.entryAt || this.client.clock.nowIso();
    this.entryAt = null;
    q.edit({ ...q.draft, entries: [...q.draft.entries, { id: newEntryId(), speaker, text, at }] });
    this.draw(false);
    this.saveNow();
  }

  // ---- saving ---------------------------------------------------------------------------------

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), AUTOSAVE_MS);
    this.showStatus();
  }

  saveNow() {
    clearTimeout(this.timer);
    this.flush();
  }

  /** Try `operation` again later; each operation has its own timer, so that a failed read does
   *  not cancel a save waiting to be sent again. */
  later(operation, fn) {
    clearTimeout(this.retries.get(operation));
    this.retries.set(operation, setTimeout(fn, RETRY_MS));
  }

  async flush() {
    const q = this.queue;
    if (!q || this.sending || !this.writes) return this.showStatus();
    if (!this.online) return this.showStatus(); // sent again on the next join
    const save = q.take();
    if (!save) return this.showStatus();
    if (frameBytes(save) > MAX_FRAME_BYTES) {
      // Never sent: the server could not even read it. The text stays, for the person to shorten.
      const err = { code: "payload_too_large", message: "the minutes are too large to send" };
      q.failed(save.save_id, err);
      this.view.showError(errorText(err));
      return this.showStatus();
    }
    this.sending = true;
    this.showStatus();
    try {
      const ack = await this.client.request("minutes.save", save);
      q.saved(save.save_id, ack);
      this.view.showError(null);
    } catch (err) {
      if (err.code === "conflict" && err.current) {
        q.conflicted(save.save_id, err);
        q.current(fromPublic(err.current));
        this.draw(false);
      } else {
        q.failed(save.save_id, err);
        if (TRANSIENT.has(err.code)) this.later("flush", () => this.flush());
        else this.view.showError(errorText(err));
      }
    } finally {
      this.sending = false;
    }
    this.showStatus();
    if (!q.conflict && q.dirty) this.schedule(); // typed meanwhile: the next save, on its own base
  }

  reapply() {
    const overlaps = this.queue.reapply();
    if (overlaps === null) return;
    this.draw(true);
    if (overlaps.length) this.page.view.toast(t("Where you both changed the same text, yours was kept: check it before saving."));
    this.saveNow();
  }

  discard() {
    this.queue.discard();
    this.draw(true);
  }

  // ---- drawing --------------------------------------------------------------------------------

  draw(force) {
    const q = this.queue;
    if (!q) return;
    this.view.render(q.draft, { force });
    const c = q.conflict;
    this.view.showConflict(c && {
      who: this.names.get(c.current_revision) || "",
      at: c.current ? c.current.at : null,
      changes: c.current ? changes(c.base, c.current.document) : [],
      ready: Boolean(c.current),
    });
    this.showStatus();
  }

  showStatus() {
    if (!this.queue) return;
    this.view.setStatus(this.queue.status(this.online));
  }

  /** The people one may name as the speaker of an entry: everyone in the room. */
  render(people) {
    this.view.setSpeakers(people.map((p) => ({ name: p.name, role: p.role })));
  }
}

function safeStorage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}
