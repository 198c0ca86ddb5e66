// The case page's timeline (web/templates/case_detail.html, #timeline): the case log as people
// read it, in Beijing time, with names, filtered by what the viewer may read (the API serves
// the rest redacted, and they show as such); what happened in each session beside it; and the
// download of a recording that is being prepared, followed until it is ready.

import { loadCatalog, t } from "../i18n.js";
import { el } from "../room/views/dom.js";
import { GROUPS, actorName, collapse, describe, groupLabel, namesActor, sessionSummaries } from "./describe.js";
import { roleName, when } from "./format.js";

const API = "/api/v1";
const COMPOSITE_POLL_MS = 5000;

function rowsOf(events, names, titles) {
  return events.map((e) => {
    const { group, text } = describe(e, names);
    const who = namesActor(e) ? actorName(e.actor, names) : "";
    const session = e.session_id ? titles.get(e.session_id) || "" : "";
    return { group, text, who, session, at: e.at, seq: e.seq, key: `${e.kind}|${e.actor || ""}|${e.session_id || ""}|${text}` };
  });
}

function rowNode(r) {
  const time = r.count > 1 ? `${when(r.at)} – ${when(r.until)}` : when(r.at);
  return el("li", { class: `timeline-entry group-${r.group}`, "data-group": r.group },
    el("time", { datetime: r.at, text: time }),
    el("span", { class: "timeline-text" },
      r.who ? el("strong", { text: r.who }) : null, r.who ? " " : null, r.text,
      r.count > 1 ? el("span", { class: "badge", text: t("×%(n)s", { n: r.count }) }) : null),
    r.session ? el("span", { class: "muted small timeline-session", text: r.session }) : null);
}

function showSummaries(events, names) {
  const summaries = sessionSummaries(events, names);
  for (const p of document.querySelectorAll(".session-summary")) {
    const s = summaries.get(p.dataset.sessionId);
    if (!s || !s.startedAt) continue;
    const parts = [t("Held %(start)s–%(end)s", { start: when(s.startedAt), end: s.endedAt ? when(s.endedAt).slice(-5) : t("now") })];
    if (s.minutes !== null) parts.push(t("%(n)s minutes", { n: s.minutes }));
    if (s.people.length) parts.push(t("present: %(people)s", { people: s.people.map((x) => `${x.name}（${roleName(x.role)}）`).join("、") }));
    parts.push(s.recorded ? t("recorded") : t("not recorded"));
    p.textContent = parts.join(" · ");
    p.hidden = false;
  }
}

async function loadTimeline(root) {
  const status = document.getElementById("timeline-status");
  const list = document.getElementById("timeline-list");
  const filter = document.getElementById("timeline-filter");
  let body;
  try {
    const response = await fetch(`${API}/cases/${root.dataset.caseId}/events`, { credentials: "same-origin" });
    if (response.status === 403) {
      root.hidden = true; // this role does not read the case log
      return;
    }
    if (!response.ok) throw new Error(String(response.status));
    body = await response.json();
  } catch {
    status.textContent = t("The case's history could not be loaded.");
    return;
  }
  const names = body.names || {};
  const titles = new Map([...document.querySelectorAll(".session-summary")].map((p) => [p.dataset.sessionId, p.dataset.title]));
  const rows = collapse(rowsOf(body.events, names, titles));
  const hidden = rows.filter((r) => r.group === "hidden").reduce((n, r) => n + r.count, 0);
  const shown = rows.filter((r) => r.group !== "hidden");
  list.replaceChildren(...shown.map(rowNode));
  const present = new Set(shown.map((r) => r.group));
  filter.append(...GROUPS.filter((g) => present.has(g)).map((g) => el("option", { value: g, text: groupLabel(g) })));
  filter.addEventListener("change", () => {
    for (const li of list.children) li.hidden = Boolean(filter.value) && li.dataset.group !== filter.value;
  });
  const chain = body.chain && body.chain.ok === false ? t("The chain does not verify: tell an administrator.") : "";
  status.textContent = [
    hidden ? t("%(n)s entries are not shown: your role may not read them.", { n: hidden }) : "",
    chain,
  ].filter(Boolean).join(" ");
  status.hidden = !status.textContent;
  showSummaries(body.events, names);
}

/** A download being prepared: its progress follows by itself; when it is ready, the page shows it. */
function followComposites() {
  for (const box of document.querySelectorAll(".recording-summary[data-composite-status]")) {
    const state = box.dataset.compositeStatus;
    if (state !== "queued" && state !== "running") continue;
    const poll = async () => {
      try {
        const response = await fetch(`${API}/sessions/${box.dataset.sessionId}/recording`, { credentials: "same-origin" });
        if (response.ok) {
          const c = (await response.json()).composite || {};
          if (c.status === "done" || c.status === "failed") {
            window.location.reload();
            return;
          }
          const bar = box.querySelector("progress");
          if (bar && typeof c.progress === "number") bar.value = c.progress;
          const percent = box.querySelector(".composite-percent");
          if (percent && typeof c.progress === "number") percent.textContent = `${Math.round(c.progress * 100)}%`;
        }
      } catch {
        // the next poll tries again
      }
      setTimeout(poll, COMPOSITE_POLL_MS);
    };
    setTimeout(poll, COMPOSITE_POLL_MS);
  }
}

loadCatalog();
const root = document.getElementById("timeline");
if (root) loadTimeline(root);
followComposites();
