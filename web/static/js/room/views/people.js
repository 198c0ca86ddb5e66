// Who is in the session and who waits to join, with the mediator's actions on them: admit,
// deny, ask to mute, remove. It draws what the people controller (controllers/people.js)
// tells it.
//
// Intents: admit {pid|null: everyone waiting} · deny {pid} · ask-mute {pid} · remove {pid}

import { t } from "../../i18n.js";
import { $, el, fill, listen, qualityLabel, reconcile, roleLabel, unchanged } from "./dom.js";

export class PeopleView {
  constructor({ intent }) {
    this.intent = intent;
    listen("admit-all", "click", () => this.intent("admit", { pid: null }));
  }

  setWaitingCount(n) {
    const badge = $("people-badge");
    badge.textContent = String(n);
    badge.hidden = n === 0;
  }

  /** people: [{pid, name, role, me, state, quality, micOn}]; waiting: [{pid, name, role}] */
  renderPeople(people, waiting, { moderator }) {
    $("roster-h").textContent = t("In the session (%(num)s)", { num: people.length });
    reconcile($("roster"), people, (p) => p.pid, () => el("li", { class: "person" }), (li, p) => {
      if (unchanged(li, p)) return; // keeps keyboard focus on a button that stays
      const status = [];
      if (p.reconnecting) status.push(t("Reconnecting…"));
      else if (!p.me && p.quality) status.push(qualityLabel(p.quality));
      if (p.micOn === false) status.push(t("Microphone off"));
      if (p.audioOnly) status.push(t("Audio only"));
      const actions = moderator && !p.me ? el("div", { class: "person-actions" },
        p.canPublish ? el("button", { type: "button", class: "small-button", onclick: () => this.intent("ask-mute", { pid: p.pid }),
          text: t("Ask to mute"), "aria-label": t("Ask %(name)s to mute", { name: p.name }) }) : null,
        el("button", { type: "button", class: "small-button danger", onclick: () => this.intent("remove", { pid: p.pid }),
          text: t("Remove"), "aria-label": t("Remove %(name)s", { name: p.name }) })) : null;
      fill(li,
        el("div", { class: "person-main" },
          el("span", { class: "person-name", text: p.me ? t("%(name)s (you)", { name: p.name }) : p.name }),
          el("span", { class: "badge", text: roleLabel(p.role) })),
        status.length ? el("p", { class: "person-status", text: status.join(" · ") }) : null,
        actions);
    });
    const section = $("waiting-section");
    if (!section) return;
    section.hidden = !moderator || !waiting.length;
    $("waiting-h").textContent = t("Waiting to join (%(num)s)", { num: waiting.length });
    const notice = $("lobby-notice");
    notice.hidden = !waiting.length;
    $("lobby-notice-h").textContent = waiting.length === 1
      ? t("%(name)s is waiting to join", { name: waiting[0].name })
      : t("%(num)s people are waiting to join", { num: waiting.length });
    $("admit-all").hidden = waiting.length < 2;
    for (const id of ["waiting-list", "lobby-notice-list"]) {
      reconcile($(id), waiting, (p) => p.pid, () => el("li", { class: "waiting" }), (li, p) => {
        if (unchanged(li, p)) return;
        fill(li,
          el("span", { class: "person-main" }, el("span", { class: "person-name", text: p.name }),
            el("span", { class: "badge", text: roleLabel(p.role) })),
          el("span", { class: "waiting-actions" },
            el("button", { type: "button", class: "primary small-button", onclick: () => this.intent("admit", { pid: p.pid }),
              text: t("Admit"), "aria-label": t("Admit %(name)s", { name: p.name }) }),
            el("button", { type: "button", class: "danger small-button", onclick: () => this.intent("deny", { pid: p.pid }),
              text: t("Deny"), "aria-label": t("Deny %(name)s", { name: p.name }) })));
      });
    }
  }
}
