// Saving the minutes without ever losing an edit: a pure queue, with no socket and no timers
// (the minutes controller drives it; tests/js/minutes-savequeue.test.mjs drives it without a browser).
//
// The rules (docs/protocol.md, `minutes.save`):
// - A save is {save_id, base_revision, document}. Once made it never changes: when its answer
//   does not come (a dropped connection, a reload), the very same save is sent again, so the
//   server, which keeps one revision per save_id, stores it once.
// - One save at a time. The next one is made only when the one before is answered, because its
//   base_revision is the revision that answer names. Typing in between goes into the draft.
// - A save based on an old revision gets a `conflict`: the queue keeps the person's text and
//   holds everything until they have seen what changed and chosen to re-apply their changes on
//   the current revision (or to take the current one). Never a silent overwrite.
// - The queue (pending save and draft) is written to `storage` after every change, so a reload
//   or a crashed tab resends it too.

import { SECTIONS, editable, normalize, rebase, sameContent } from "./document.js";

// Errors after which the same save is sent again later; any other refusal drops the save (the
// text stays in the draft, and a new save, with a new id, goes once the person has changed it).
export const TRANSIENT = new Set(["timeout", "unavailable", "internal_error", "rate_limited", "disconnected", "not_admitted"]);

// Engine.IO drops a frame over 256 KiB and closes the connection (docs/protocol.md): a save that
// large would be sent again after every reconnect, dropping the person's connection each time.
// It is refused here instead, with room to spare for the frame's envelope.
export const MAX_FRAME_BYTES = 250 * 1024;

/** The size in bytes of the Socket.IO frame that sends `save` (UTF-8, as a browser sends it). */
export function frameBytes(save) {
  return new TextEncoder().encode(JSON.stringify(["minutes.save", save])).length + 8;
}

export function newSaveId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "s" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class SaveQueue {
  constructor({ storage = null, key = "heshi:minutes", newId = newSaveId, writable = SECTIONS } = {}) {
    this.storage = storage;
    this.writable = writable; // the sections this person writes, and so sends
    this.key = key;
    this.newId = newId;
    this.revision = null; // the revision `base` is; null until the minutes are loaded
    this.base = normalize(null); // the document at `revision`, as the server has it
    this.draft = normalize(null); // what the person sees and edits
    this.pending = null; // the save sent and not answered: {save_id, base_revision, document}
    this.conflict = null; // {save_id, current_revision, changes, mine, base, current?}
    this.error = null; // {code, message} of the last save refused for good
    this.latest = null; // the newest minutes.updated seen, {revision, document, by, at}
    this.loaded = false;
  }

  // ---- what the page shows --------------------------------------------------------------------

  /** Whether the draft holds changes not yet in a save. */
  get dirty() {
    const sent = this.pending ? normalize({ ...this.base, ...this.pending.document }) : this.base;
    return this.loaded && !sameContent(this.draft, sent, this.writable);
  }

  /** saved | unsaved | saving | offline | conflict | error */
  status(online) {
    if (this.conflict) return "conflict";
    if ((this.pending || this.dirty) && !online) return "offline";
    if (this.pending) return "saving";
    if (this.error && this.dirty) return "error";
    if (this.dirty) return "unsaved";
    return "saved";
  }

  // ---- loading --------------------------------------------------------------------------------

  /**
   * The minutes as the server has them ({revision, document}). A queue kept in storage from
   * before a reload wins: its pending save is sent again with its own id, its draft stays.
   */
  load(minutes) {
    const saved = this.restore();
    this.loaded = true;
    if (saved && saved.revision !== null && (saved.pending || !sameContent(saved.draft, saved.base, this.writable))) {
      this.revision = saved.revision;
      this.base = normalize(saved.base);
      this.draft = normalize(saved.draft);
      this.pending = saved.pending;
      // The header and anything else read-only come from the server.
      this.draft = { ...this.draft, header: normalize(minutes.document).header };
      if (minutes.revision > this.revision) this.seen(minutes);
      return;
    }
    this.adopt(minutes);
  }

  adopt(minutes) {
    this.revision = minutes.revision;
    this.base = normalize(minutes.document);
    this.draft = normalize(minutes.document);
    this.error = null;
    this.persist();
  }

  // ---- editing and saving ---------------------------------------------------------------------

  /** The person changed the draft. */
  edit(document) {
    this.draft = normalize(document);
    this.persist();
  }

  /**
   * The save to send now, or null: the pending one again (same id) when there is one, else a new
   * one of the draft when it changed. Nothing while a conflict waits for the person.
   */
  take() {
    if (!this.loaded || this.conflict) return null;
    if (this.pending) return this.pending;
    if (!this.dirty) return null;
    this.pending = { save_id: this.newId(), base_revision: this.revision, document: editable(this.draft, this.writable) };
    this.error = null;
    this.persist();
    return this.pending;
  }

  /** The answer to a save: {revision, sha256}. */
  saved(saveId, { revision }) {
    if (!this.pending || this.pending.save_id !== saveId) return;
    this.base = normalize({ ...this.base, ...this.pending.document });
    this.revision = revision;
    this.pending = null;
    this.error = null;
    this.catchUp();
    this.persist();
  }

  /** A save refused because its base is old: {current_revision, changes}. The draft stays. */
  conflicted(saveId, { current_revision: currentRevision, changes = null } = {}) {
    if (!this.pending || this.pending.save_id !== saveId) return;
    this.conflict = {
      save_id: saveId, current_revision: currentRevision, changes, mine: this.draft, base: this.base, current: null,
    };
    this.pending = null;
    this.persist();
  }

  /** Any other refusal: a transient one keeps the save for sending again, a final one drops it. */
  failed(saveId, error) {
    if (!this.pending || this.pending.save_id !== saveId) return;
    if (TRANSIENT.has(error && error.code)) return;
    this.pending = null;
    this.error = { code: (error && error.code) || "unknown", message: (error && error.message) || "" };
    this.persist();
  }

  // ---- others' saves and conflicts ------------------------------------------------------------

  /**
   * A minutes.updated: someone (perhaps this page, by its save_id) saved a revision. With nothing
   * of one's own unsaved it simply shows; otherwise the person's next save meets a conflict.
   */
  seen(update) {
    if (!update || typeof update.revision !== "number") return;
    const l = this.latest;
    // A fetched revision's text replaces its announcement (minutes.updated carries no document).
    if (!l || update.revision > l.revision || (update.revision === l.revision && update.document && !l.document)) {
      this.latest = update;
    }
    if (this.pending && update.save_id && update.save_id === this.pending.save_id) {
      this.saved(update.save_id, update);
      return;
    }
    if (this.conflict && update.document && update.revision >= this.conflict.current_revision) {
      this.conflict = { ...this.conflict, current_revision: update.revision, current: update };
    }
    this.catchUp();
    this.persist();
  }

  /**
   * Whether a revision announced by minutes.updated is newer than any text this queue holds: the
   * announcement names the revision only, and the controller then fetches it (minutes.get).
   */
  wants(revision) {
    if (this.revision === null || typeof revision !== "number") return false; // the load brings it
    const l = this.latest;
    const c = this.conflict;
    const held = Math.max(
      this.revision,
      l && l.document ? l.revision : -1,
      c && c.current ? c.current.revision : -1,
    );
    return revision > held;
  }

  /** Take the newest revision seen when nothing of one's own waits. */
  catchUp() {
    const l = this.latest;
    if (!l || !l.document || this.revision === null || l.revision <= this.revision) return;
    if (this.pending || this.conflict || this.dirty) return;
    this.revision = l.revision;
    this.base = normalize(l.document);
    this.draft = normalize(l.document);
  }

  /** The current revision, fetched after a conflict ({revision, document, by?, at?}). */
  current(minutes) {
    if (!this.conflict) return;
    if (this.conflict.current && this.conflict.current.revision > minutes.revision) return;
    this.conflict = { ...this.conflict, current_revision: minutes.revision, current: minutes };
    this.persist();
  }

  /**
   * The person re-applies their changes on the current revision: the draft becomes the current
   * revision with their changes laid on it; the next take() sends it, based on that revision.
   * Returns the fields both sides changed (the person's text won them), or null.
   */
  reapply() {
    const c = this.conflict;
    if (!c || !c.current) return null;
    const { document, overlaps } = rebase(c.base, c.mine, c.current.document);
    this.revision = c.current.revision;
    this.base = normalize(c.current.document);
    this.draft = normalize(document);
    this.conflict = null;
    this.persist();
    return overlaps;
  }

  /** The person gives up their changes for the current revision. */
  discard() {
    const c = this.conflict;
    if (!c || !c.current) return;
    this.conflict = null;
    this.adopt(c.current);
  }

  // ---- storage --------------------------------------------------------------------------------

  persist() {
    if (!this.storage || !this.loaded) return;
    try {
      if (!this.pending && !this.conflict && !this.dirty) {
        this.storage.removeItem(this.key);
        return;
      }
      const c = this.conflict;
      this.storage.setItem(this.key, JSON.stringify({
        revision: this.revision,
        base: c ? c.base : this.base,
        draft: c ? c.mine : this.draft,
        pending: this.pending,
      }));
    } catch {
      // Storage full or refused (a private window): the queue still lives in this page.
    }
  }

  restore() {
    if (!this.storage) return null;
    try {
      const saved = JSON.parse(this.storage.getItem(this.key) || "null");
      return saved && typeof saved === "object" ? saved : null;
    } catch {
      return null;
    }
  }
}
