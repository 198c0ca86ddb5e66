// Each session's minutes history on the case page: every revision kept, who saved it and when
// (Beijing time), its SHA-256 as logged in the case log, and the PDF of that revision as it
// was saved. Read on first opening, through GET /api/v1/sessions/{id}/minutes/revisions.

import { t } from "../i18n.js";
import { el } from "../room/views/dom.js";
import { when } from "./format.js";

const API = "/api/v1";

/** Who saved a revision: the person's name, else what the actor is (the system, the command line). */
export function savedBy(r) {
  if (r.actor_name) return r.actor_name;
  if ((r.actor || "").startsWith("system:")) return t("the system (%(reason)s)", { reason: r.actor.slice(7) });
  return r.actor || "—";
}

export function revisionRows(sessionId, revisions) {
  return [...revisions].reverse().map((r) => el("tr", {},
    el("td", { class: "nowrap", text: String(r.revision) }),
    el("td", { class: "nowrap", text: when(r.at) }),
    el("td", { text: savedBy(r) }),
    el("td", {}, el("code", { class: "hash", text: `${r.sha256.slice(0, 16)}…`, title: r.sha256 })),
    el("td", {}, el("a", { href: `${API}/sessions/${sessionId}/minutes.pdf?revision=${r.revision}`, text: "PDF" }))));
}

async function load(details) {
  const sessionId = details.dataset.sessionId;
  const box = details.querySelector(".minutes-revisions");
  box.textContent = t("Loading…");
  let revisions;
  try {
    const response = await fetch(`${API}/sessions/${sessionId}/minutes/revisions`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(String(response.status));
    ({ revisions } = await response.json());
  } catch {
    box.textContent = t("The minutes history could not be loaded.");
    details.dataset.loaded = "";
    return;
  }
  if (!revisions.length) {
    box.replaceChildren(el("p", { class: "empty", text: t("No minutes have been written in this session.") }));
    return;
  }
  box.replaceChildren(el("div", { class: "table-scroll" }, el("table", { class: "signatures" },
    el("thead", {}, el("tr", {},
      el("th", { text: t("Revision") }), el("th", { text: t("Saved at") }), el("th", { text: t("Saved by") }),
      el("th", { text: "SHA-256" }), el("th", { text: "" }))),
    el("tbody", {}, ...revisionRows(sessionId, revisions)))));
}

export function bindMinutesHistory(root) {
  for (const details of root.querySelectorAll("details.minutes-history")) {
    details.addEventListener("toggle", () => {
      if (!details.open || details.dataset.loaded) return;
      details.dataset.loaded = "1";
      load(details);
    });
  }
}
