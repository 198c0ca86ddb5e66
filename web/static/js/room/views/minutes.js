// The minutes tab: the header the server fills, each party's claims and facts, the course of the
// session, the expert's opinion and the result — as fields for those who write them, as text for
// everyone else — with the saving status and, after a conflict, what the other person changed.
//
// A field someone is typing in is never redrawn under their fingers: new values go into fields
// that do not have the focus, or into all of them when `force` says the draft itself changed
// (a re-applied conflict, another person's revision shown).
//
// Intents: minutes-change {kind: "claim"|"result"|"opinion"|"entry-text"|"entry-remove", …}
//          · minutes-entry-start · minutes-entry-add {speaker, text} · minutes-save
//          · minutes-reapply · minutes-discard

import { t } from "../../i18n.js";
import { claimRows } from "../../minutes/document.js";
import { $, el, fill, listen, reconcile, roleLabel } from "./dom.js";

export function timeOfDay(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString(document.documentElement.lang || undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

function dateTime(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(document.documentElement.lang || undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
  });
}

const STATUS = {
  saved: () => t("Saved"),
  unsaved: () => t("Not saved yet"),
  saving: () => t("Saving…"),
  offline: () => t("Offline: will be saved when the connection is back"),
  conflict: () => t("Conflict"),
  error: () => t("Not saved"),
  loading: () => t("Loading…"),
};

function fieldLabel(change) {
  if (change.kind === "entry") {
    const speaker = (change.after || change.before || {}).speaker || "";
    if (change.change === "added") return t("New entry by %(speaker)s", { speaker });
    if (change.change === "removed") return t("Entry of %(speaker)s removed", { speaker });
    return t("Entry of %(speaker)s changed", { speaker });
  }
  if (change.kind === "party") {
    return change.field === "claims" ? t("Claims of %(party)s", { party: change.party }) : t("Facts stated by %(party)s", { party: change.party });
  }
  return change.field === "result" ? t("Result") : t("Expert's opinion");
}

function preview(change) {
  const v = change.after === null || change.after === undefined ? change.before : change.after;
  const text = typeof v === "object" && v ? v.text : v;
  return text ? `“${text.length > 80 ? text.slice(0, 80) + "…" : text}”` : "";
}

export class MinutesView {
  constructor({ intent }) {
    this.intent = intent;
    this.root = $("panel-minutes");
    this.writes = new Set(((this.root && this.root.dataset.writes) || "").split(" ").filter(Boolean));
    this.bind();
  }

  get writesEntries() {
    return this.writes.has("entries");
  }

  bind() {
    listen("minutes-save", "click", () => this.intent("minutes-save"));
    listen("minutes-reapply", "click", () => this.intent("minutes-reapply"));
    listen("minutes-discard", "click", () => this.intent("minutes-discard"));
    listen("minutes-result", "input", (e) => this.intent("minutes-change", { kind: "result", value: e.target.value }));
    listen("minutes-opinion", "input", (e) => this.intent("minutes-change", { kind: "opinion", value: e.target.value }));
    listen("minutes-entry-text", "input", (e) => {
      if (e.target.value.trim()) this.intent("minutes-entry-start");
    });
    listen("minutes-entry-text", "keydown", (e) => {
      // Enter adds the entry (Shift+Enter a new line); never while an input method composes.
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        $("minutes-entry-form").requestSubmit();
      }
    });
    listen("minutes-entry-form", "submit", (e) => {
      e.preventDefault();
      const text = $("minutes-entry-text").value.trim();
      if (!text) return;
      this.intent("minutes-entry-add", { speaker: $("minutes-speaker").value, text });
      $("minutes-entry-text").value = "";
      this.setEntryTime(null);
    });
    if (this.root) {
      this.root.addEventListener("input", (e) => {
        const target = e.target;
        if (target.dataset.claimKey) {
          this.intent("minutes-change", { kind: "claim", key: target.dataset.claimKey, field: target.dataset.claimField, value: target.value });
        } else if (target.dataset.entryId) {
          this.intent("minutes-change", { kind: "entry-text", id: target.dataset.entryId, value: target.value });
        }
      });
      this.root.addEventListener("click", (e) => {
        const button = e.target.closest("[data-remove-entry]");
        if (button) this.intent("minutes-change", { kind: "entry-remove", id: button.dataset.removeEntry });
      });
    }
  }

  // ---- status ---------------------------------------------------------------------------------

  setStatus(status) {
    const node = $("minutes-status");
    if (!node) return;
    node.textContent = (STATUS[status] || STATUS.saved)();
    node.dataset.status = status;
  }

  setUnread(on) {
    const badge = $("minutes-badge");
    if (!badge) return;
    badge.hidden = !on;
    badge.textContent = on ? "•" : "";
  }

  setEntryTime(iso) {
    const node = $("minutes-entry-time");
    if (node) node.textContent = iso ? t("Time of this entry: %(time)s", { time: timeOfDay(iso) }) : "";
  }

  showError(text) {
    const node = $("minutes-error");
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }

  /** After a conflict: who saved meanwhile, and what they changed. `conflict` null hides it. */
  showConflict(conflict) {
    const box = $("minutes-conflict");
    if (!box) return;
    const appearing = box.hidden && Boolean(conflict);
    box.hidden = !conflict;
    if (!conflict) return;
    if (appearing) box.scrollIntoView({ block: "nearest" });
    const { who, at, changes, ready } = conflict;
    $("minutes-conflict-who").textContent = who
      ? t("%(name)s saved a newer version at %(time)s. What they changed:", { name: who, time: timeOfDay(at) })
      : t("A newer version was saved. What changed:");
    fill($("minutes-conflict-list"), ...(changes.length ? changes : [null]).map((c) => (c
      ? el("li", {}, el("strong", { text: fieldLabel(c) }), " ", preview(c))
      : el("li", { text: t("Nothing you can see changed.") }))));
    $("minutes-reapply").disabled = !ready;
    $("minutes-discard").disabled = !ready;
  }

  // ---- the document ---------------------------------------------------------------------------

  setSpeakers(names) {
    const select = $("minutes-speaker");
    if (!select) return;
    const current = select.value;
    const sig = JSON.stringify(names);
    if (select.dataset.sig === sig) return;
    select.dataset.sig = sig;
    fill(select, ...names.map((p) => el("option", { value: p.name, text: p.role ? `${p.name}（${roleLabel(p.role)}）` : p.name })));
    if (names.some((p) => p.name === current)) select.value = current;
  }

  /** Draw the document; `force` also rewrites fields that have the focus. */
  render(doc, { force = false } = {}) {
    this.renderHeader(doc.header || {});
    this.renderClaims(doc, force);
    this.renderEntries(doc.entries, force);
    this.setField("minutes-opinion", "minutes-opinion-text", doc.expert_opinion, force);
    const author = doc.expert_opinion_by && doc.expert_opinion_by.name;
    const opinionText = $("minutes-opinion-text");
    if (opinionText && author) opinionText.title = author;
    this.setField("minutes-result", "minutes-result-text", doc.result, force);
  }

  setField(inputId, textId, value, force) {
    const input = $(inputId);
    if (input) {
      if ((force || document.activeElement !== input) && input.value !== value) input.value = value;
      return;
    }
    const text = $(textId);
    if (text) {
      text.textContent = value || "—";
      text.classList.toggle("empty", !value);
    }
  }

  renderHeader(h) {
    const dl = $("minutes-header");
    if (!dl) return;
    const rows = [];
    const add = (label, value) => {
      if (value) rows.push(el("dt", { text: label }), el("dd", { text: value }));
    };
    add(t("Case number"), h.case_number);
    add(t("Time"), dateTime(h.started_at || h.scheduled_at));
    add(t("Place"), h.mode === "in_person" ? h.place : t("Online video mediation"));
    add(t("Mediator"), h.mediator);
    add(t("Clerk"), (h.clerks || []).join("、"));
    add(t("Present"), (h.participants || []).map((p) => `${p.name}（${roleLabel(p.role)}）`).join("、"));
    fill(dl, ...rows);
  }

  renderClaims(doc, force) {
    const box = $("minutes-claims");
    if (!box) return;
    const rows = claimRows(doc);
    const editing = this.writes.has("parties");
    reconcile(box, rows, (r) => r.key, (r) => {
      const node = el("div", { class: "minutes-claim" });
      const title = el("h4", {}, r.side ? el("span", { class: "badge", text: roleLabel(r.side) }) : null, " ", r.name);
      if (!editing) {
        node.append(title, el("p", { class: "minutes-label", text: t("Claims") }), el("p", { class: "minutes-text", "data-f": "claims" }),
          el("p", { class: "minutes-label", text: t("Facts stated") }), el("p", { class: "minutes-text", "data-f": "facts" }));
        return node;
      }
      const field = (f, label) => el("label", {}, label,
        el("textarea", { rows: 2, maxlength: 10000, "data-claim-party": r.name, "data-claim-key": r.key, "data-claim-field": f }));
      node.append(title, field("claims", t("Claims")), field("facts", t("Facts stated")));
      return node;
    }, (node, r) => {
      for (const f of ["claims", "facts"]) {
        const input = node.querySelector(`[data-claim-field="${f}"]`);
        if (input) {
          if ((force || document.activeElement !== input) && input.value !== r[f]) input.value = r[f];
        } else {
          const p = node.querySelector(`[data-f="${f}"]`);
          p.textContent = r[f] || "—";
          p.classList.toggle("empty", !r[f]);
        }
      }
    });
    if (!rows.length) fill(box, el("p", { class: "empty", text: t("No parties named.") }));
  }

  renderEntries(entries, force) {
    const list = $("minutes-entries");
    if (!list) return;
    $("minutes-no-entries").hidden = entries.length > 0;
    const editing = this.writesEntries;
    reconcile(list, entries, (e) => e.id, (e) => {
      const head = el("p", { class: "entry-head" }, el("time", { datetime: e.at, text: timeOfDay(e.at) }), " ",
        el("strong", { class: "entry-speaker" }));
      if (!editing) return el("li", { class: "entry" }, head, el("p", { class: "entry-text" }));
      return el("li", { class: "entry" }, head,
        el("label", { class: "visually-hidden", for: `entry-${e.id}`, text: t("Text of the entry") }),
        el("textarea", { id: `entry-${e.id}`, rows: 2, maxlength: 10000, "data-entry-id": e.id }),
        el("button", { type: "button", class: "small-button danger", "data-remove-entry": e.id, text: t("Delete") }));
    }, (node, e) => {
      node.querySelector(".entry-speaker").textContent = e.speaker || t("(no speaker)");
      const input = node.querySelector("textarea");
      if (input) {
        if ((force || document.activeElement !== input) && input.value !== e.text) input.value = e.text;
      } else {
        node.querySelector(".entry-text").textContent = e.text;
      }
    });
  }
}
