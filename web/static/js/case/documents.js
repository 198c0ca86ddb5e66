// The case page's agreements and judicial confirmation (web/templates/case_detail.html): made
// from a template with its terms as a list, previewed, printed, who signed which version and who
// is still missing, locked or not; the request for judicial confirmation, its delivery and the
// days left of the 30. Everything through the REST API (docs/api.md), with the page's CSRF token.

import { loadCatalog, t } from "../i18n.js";
import { el } from "../room/views/dom.js";
import { roleName, when } from "./format.js";
import { bindMinutesHistory } from "./minutes-history.js";

const API = "/api/v1";
const REFRESH_MS = 10000; // how often a pending delivery's state is read again



const STATUS = {
  pending: () => t("Being delivered"),
  delivered: () => t("Delivered to the court"),
  failed: () => t("Delivery failed"),
};

class CaseDocuments {
  constructor(root) {
    const d = root.dataset;
    this.caseId = d.caseId;
    this.csrf = d.csrf;
    this.lang = d.lang === "en" ? "en" : "zh";
    this.disputeType = d.disputeType;
    this.canManage = Boolean(d.canManage);
    this.agreements = [];
    this.requests = []; // the judicial-confirmation requests, as last read
    this.refresh = null;
  }

  async api(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: {
        ...(body ? { "Content-Type": "application/json" } : {}),
        ...(method !== "GET" ? { "X-CSRF-Token": this.csrf } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = (response.headers.get("Content-Type") || "").includes("json") ? await response.json() : null;
    if (!response.ok) {
      const e = (data && data.error) || {};
      const err = new Error(e.message || `HTTP ${response.status}`);
      err.fields = e.fields || {};
      throw err;
    }
    return data;
  }

  async start() {
    if (this.canManage) this.bindForm();
    await Promise.all([this.loadAgreements(), this.loadConfirmations(), this.canManage && this.loadTemplates()]);
  }

  // ---- agreements -----------------------------------------------------------------------------

  async loadAgreements() {
    const status = document.getElementById("agreements-status");
    try {
      const { agreements } = await this.api("GET", `${API}/cases/${this.caseId}/agreements`);
      this.agreements = await Promise.all(agreements.map((a) => this.api("GET", `${API}/agreements/${a.id}`)));
    } catch {
      status.textContent = t("The agreements could not be loaded.");
      return;
    }
    status.textContent = this.agreements.length ? "" : t("No agreement yet.");
    status.hidden = this.agreements.length > 0;
    document.getElementById("agreements-list").replaceChildren(...this.agreements.map((a) => this.agreementNode(a)));
    this.updateRequestButtons();
  }

  agreementNode(a) {
    const versions = [a, ...[...(a.earlier_versions || [])].reverse()];
    const head = el("div", { class: "session-head" },
      el("h3", { text: t("Version %(version)s", { version: a.version }) }),
      el("span", { class: a.locked ? "badge session-live" : "badge", text: a.locked ? t("Locked: everyone signed") : t("Open for signatures") }));
    const links = el("p", { class: "meta" },
      el("a", { href: a.preview_url, target: "_blank", rel: "noopener", text: t("Preview") }), " · ",
      el("a", { href: a.pdf_url, text: "PDF" }), " · ", `SHA-256 ${a.sha256.slice(0, 16)}…`);
    const table = el("table", { class: "signatures" },
      el("thead", {}, el("tr", {}, el("th", { text: t("Version") }), el("th", { text: t("Signed") }), el("th", { text: t("Still to sign") }))),
      el("tbody", {}, ...versions.map((v) => el("tr", {},
        el("td", { class: "nowrap" }, `${v.version} `, el("a", { href: `${a.pdf_url}?version=${v.version}`, text: "PDF" }),
          v.locked ? el("span", { class: "block small", text: t("locked") }) : null),
        el("td", { text: (v.signatures || []).map((s) => `${s.name}（${roleName(s.signer_role)}，${when(s.at)}）`).join("；") || "—" }),
        el("td", {
          text: v.locked ? "—" : v !== a ? t("Replaced by a newer version") : (v.missing || []).map((m) => `${m.name}（${roleName(m.role)}）`).join("、") || "—",
        })))));
    const article = el("article", { class: "session agreement", "data-agreement": a.id }, head, links, el("div", { class: "table-scroll" }, table));
    if (this.canManage && a.locked) {
      const button = el("button", {
        type: "button", class: "primary small-button confirm-request", "data-version-id": a.version_id,
        text: t("Request judicial confirmation"),
      });
      button.addEventListener("click", () => this.requestConfirmation(a, button));
      article.append(button);
    }
    return article;
  }

  /** A version asked for once is not offered again: one on its way or delivered needs nothing,
   *  a failed one is sent again with its own button ("Send again"). */
  updateRequestButtons() {
    for (const button of document.querySelectorAll(".confirm-request")) {
      button.hidden = this.requests.some((r) => r.agreement_version_id === button.dataset.versionId);
    }
  }

  async loadTemplates() {
    const select = document.querySelector("#agreement-form select[name=template]");
    try {
      const { templates } = await this.api("GET", `${API}/agreement-templates`);
      const fits = templates.filter((x) => x.dispute_types.includes("*") || x.dispute_types.includes(this.disputeType));
      fits.sort((x, y) => (x.dispute_types.includes("*") ? 1 : 0) - (y.dispute_types.includes("*") ? 1 : 0));
      select.replaceChildren(...fits.map((x) => el("option", { value: x.id, text: (x.name && (x.name[this.lang] || x.name.zh)) || x.id })));
    } catch {
      select.replaceChildren();
    }
  }

  bindForm() {
    const form = document.getElementById("agreement-form");
    if (!form) return;
    const list = document.getElementById("terms-list");
    const addTerm = () => {
      const row = document.getElementById("term-row").content.firstElementChild.cloneNode(true);
      row.querySelector(".term-remove").addEventListener("click", () => row.remove());
      list.append(row);
    };
    addTerm();
    document.getElementById("term-add").addEventListener("click", addTerm);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const error = document.getElementById("agreement-error");
      error.hidden = true;
      const terms = [...list.children].map((row) => Object.fromEntries(
        ["obligation", "obligor", "amount", "deadline", "manner"].map((f) => [f, row.querySelector(`[name=${f}]`).value.trim()])));
      const body = { template: form.elements.template.value, terms };
      for (const f of ["facts", "matters"]) if (form.elements[f].value.trim()) body[f] = form.elements[f].value.trim();
      if (form.elements.session_id) body.session_id = form.elements.session_id.value;
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await this.api("POST", `${API}/cases/${this.caseId}/agreements`, body);
        document.getElementById("agreement-new").open = false;
        form.reset();
        list.replaceChildren();
        addTerm();
        await this.loadAgreements();
      } catch (err) {
        const field = Object.keys(err.fields)[0];
        error.textContent = field ? t("Check this field: %(field)s", { field: fieldName(field) }) : t("The agreement could not be made: %(reason)s", { reason: err.message });
        error.hidden = false;
      } finally {
        button.disabled = false;
      }
    });
  }

  // ---- judicial confirmation ------------------------------------------------------------------

  async loadConfirmations() {
    clearTimeout(this.refresh);
    let requests = [];
    try {
      ({ confirmation_requests: requests } = await this.api("GET", `${API}/cases/${this.caseId}/confirmation-requests`));
    } catch {
      // A failed read (the network, a restart) does not stop following a pending delivery.
      if (this.requests.some((r) => r.status === "pending")) this.refresh = setTimeout(() => this.loadConfirmations(), REFRESH_MS);
      return;
    }
    this.requests = requests;
    this.updateRequestButtons();
    // While a package is on its way, its state follows by itself.
    if (requests.some((r) => r.status === "pending")) this.refresh = setTimeout(() => this.loadConfirmations(), REFRESH_MS);
    const list = document.getElementById("confirmations-list");
    if (!requests.length) {
      list.replaceChildren(el("p", { class: "empty", text: t("Not requested yet.") }));
      return;
    }
    list.replaceChildren(...requests.map((r) => {
      const d = r.deadline || {};
      const days = d.expired ? t("The 30 days are over.") : t("%(days)s of the 30 days left (until %(day)s).", { days: d.days_left, day: d.last_day });
      const lines = [
        el("p", {}, el("strong", { text: (STATUS[r.status] || (() => r.status))() }), ` · ${when(r.created_at)}`),
        el("p", { class: "meta", text: days }),
        r.status === "delivered" ? el("p", { class: "meta", text: t("Delivered at %(time)s", { time: when(r.delivered_at) }) }) : null,
        r.status !== "delivered" && r.attempts ? el("p", { class: "meta", text: t("Attempts: %(n)s; last error: %(error)s", { n: r.attempts, error: r.last_error || "—" }) }) : null,
        this.canManage && r.status === "failed" ? this.retryButton(r) : null,
      ];
      return el("article", { class: "session confirmation", "data-status": r.status }, ...lines);
    }));
  }

  /** A failed delivery is sent again only when staff say so (the court may have refused it). */
  retryButton(r) {
    const button = el("button", { type: "button", class: "small-button", text: t("Send again") });
    button.addEventListener("click", async () => {
      const error = document.getElementById("confirmation-error");
      error.hidden = true;
      button.disabled = true;
      try {
        await this.api("POST", `${API}/confirmation-requests/${r.id}/retry`);
        await this.loadConfirmations();
      } catch (err) {
        error.textContent = t("Judicial confirmation could not be requested: %(reason)s", { reason: err.message });
        error.hidden = false;
        button.disabled = false;
      }
    });
    return el("p", {}, button);
  }

  async requestConfirmation(a, button) {
    const error = document.getElementById("confirmation-error");
    error.hidden = true;
    button.disabled = true;
    try {
      await this.api("POST", `${API}/cases/${this.caseId}/confirmation-requests`, { agreement_id: a.id, version_sha256: a.sha256 });
      await this.loadConfirmations();
    } catch (err) {
      error.textContent = t("Judicial confirmation could not be requested: %(reason)s", { reason: err.message });
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }
}

function fieldName(path) {
  const m = /^terms\.(\d+)\.(\w+)$/.exec(path);
  const names = { obligation: t("Obligation"), obligor: t("Obligor"), amount: t("Amount (yuan)"), deadline: t("Deadline"), manner: t("Manner of performance") };
  if (m) return t("term %(n)s, %(field)s", { n: Number(m[1]) + 1, field: names[m[2]] || m[2] });
  return { template: t("Template"), facts: t("Main facts"), matters: t("Matters in dispute") }[path] || path;
}

loadCatalog();
const root = document.getElementById("documents");
if (root) new CaseDocuments(root).start();
bindMinutesHistory(document);
