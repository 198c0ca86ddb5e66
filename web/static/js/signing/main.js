// The signing page (web/templates/sign.html): the current agreement and the current minutes, each
// in full, with a confirmation, the typed name and a drawn signature, sent to the REST API
// (docs/api.md, "Agreements and signatures") as {version_sha256, name, image}. The version's
// SHA-256 is of exactly the text shown; if the document changed meanwhile the server refuses the
// signature, and the page shows the current version and asks again.

import { documentNodes } from "../document-text.js";
import { loadCatalog, t } from "../i18n.js";
import { el } from "../room/views/dom.js";
import { SignaturePad } from "./pad.js";

const API = "/api/v1";

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "unknown";
    this.fields = e.fields || {};
  }
}


function when(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(document.documentElement.lang || undefined, {
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
  });
}

function roleName(role) {
  switch (role) {
    case "applicant": return t("Applicant");
    case "respondent": return t("Respondent");
    case "mediator": return t("Mediator");
    case "agent": return t("Agent");
    default: return role || "";
  }
}

class Page {
  constructor(root) {
    const d = root.dataset;
    this.sessionId = d.sessionId;
    this.caseId = d.caseId;
    this.role = d.role;
    this.name = d.name;
    this.csrf = d.csrf;
    this.docs = ["agreement", "minutes"].map((kind) => new Doc(this, kind, document.getElementById(`doc-${kind}`)));
  }

  async api(method, url, body) {
    const response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json", "X-CSRF-Token": this.csrf } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  async start() {
    const shown = await Promise.all(this.docs.map((doc) => doc.load().catch((err) => doc.failed(err))));
    document.getElementById("signing-loading").hidden = true;
    document.getElementById("signing-none").hidden = shown.some(Boolean);
  }
}

/** One document to sign: the agreement (its latest) or the session's minutes. */
class Doc {
  constructor(page, kind, section) {
    this.page = page;
    this.kind = kind;
    this.section = section;
    this.state = null; // {sha256, version, locked, signatures, required, missing}
    this.myKey = sessionStorage.getItem(`heshi:signer:${page.sessionId}`);
    const q = (sel) => section.querySelector(sel);
    this.form = q(".sign-form");
    this.pad = new SignaturePad(q(".pad"));
    q(".pad-clear").addEventListener("click", () => this.pad.clear());
    this.pad.addEventListener("change", () => this.pad.enough && this.error(null));
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
  }

  q(sel) {
    return this.section.querySelector(sel);
  }

  /** Fetch the current version and its text; false when there is nothing of this kind to sign. */
  async load() {
    const api = this.page.api.bind(this.page);
    let text;
    if (this.kind === "agreement") {
      const { agreements } = await api("GET", `${API}/cases/${this.page.caseId}/agreements`);
      if (!agreements || !agreements.length) return this.hide();
      const latest = [...agreements].sort((a, b) => (a.created_at < b.created_at ? 1 : -1))[0];
      const a = await api("GET", `${API}/agreements/${latest.id}`);
      const html = await api("GET", `${a.preview_url}?version=${a.version}`);
      this.state = { ...a, url: `${API}/agreements/${a.id}/signatures`, pdf: `${a.pdf_url}?version=${a.version}` };
      text = documentNodes(html);
    } else {
      const s = await api("GET", `${API}/sessions/${this.page.sessionId}/minutes/signatures`);
      if (!s.revision) return this.hide();
      const m = await api("GET", `${API}/sessions/${this.page.sessionId}/minutes`);
      if (m.sha256 !== s.sha256) return this.load(); // saved in between: read both again
      this.state = { ...s, version: s.revision, url: `${API}/sessions/${this.page.sessionId}/minutes/signatures`,
        pdf: `${API}/sessions/${this.page.sessionId}/minutes.pdf` };
      text = minutesNodes(m.document);
    }
    this.q(".doc-text").replaceChildren(...text);
    this.render();
    this.section.hidden = false;
    return true;
  }

  hide() {
    this.section.hidden = true;
    return false;
  }

  failed(err) {
    // Who may not read this kind (the API says so) simply does not see it.
    if (err.status === 403 || err.status === 404) return this.hide();
    const problem = document.getElementById("signing-problem");
    problem.textContent = t("The documents could not be loaded. Check the network and reload the page.");
    problem.hidden = false;
    return false;
  }

  /** The signer this person is: remembered from their signature, else found by role and name. */
  mine() {
    const s = this.state;
    const all = [...(s.required || [])];
    if (this.myKey) return all.find((r) => r.signer === this.myKey) || { signer: this.myKey };
    const same = all.filter((r) => r.role === this.page.role && (r.role === "mediator" || r.name === this.page.name));
    return same.length === 1 ? same[0] : null;
  }

  render() {
    const s = this.state;
    this.q(".doc-version").textContent = t("Version %(version)s · SHA-256 %(sha)s…", { version: s.version, sha: s.sha256.slice(0, 12) });
    fillLinks(this.q(".doc-links"), s.pdf);
    const signed = (s.signatures || []).map((x) => t("%(name)s (%(role)s) signed at %(time)s", { name: x.name, role: roleName(x.signer_role), time: when(x.at) }));
    const missing = (s.missing || []).map((x) => `${x.name}（${roleName(x.role)}）`);
    const lines = [];
    if (s.locked) lines.push(t("Everyone has signed: this version is locked."));
    if (signed.length) lines.push(signed.join("；"));
    if (missing.length) lines.push(t("Still to sign: %(names)s", { names: missing.join("、") }));
    const me = this.mine();
    const mineSigned = me && (s.signatures || []).find((x) => x.signer === me.signer);
    if (mineSigned) lines.unshift(t("You signed this version at %(time)s.", { time: when(mineSigned.at) }));
    const state = this.q(".doc-state");
    state.replaceChildren(...lines.map((line) => el("span", { class: "block", text: line })));
    // Nothing more to do here: signed already, locked, or not someone who signs this document.
    const canSign = !s.locked && !mineSigned && (me === null ? (s.missing || []).length > 0 : (s.missing || []).some((x) => x.signer === me.signer));
    this.form.hidden = !canSign;
    if (canSign) requestAnimationFrame(() => this.pad.resize());
  }

  error(text) {
    const node = this.q(".sign-error");
    node.textContent = text || "";
    node.hidden = !text;
  }

  async submit() {
    const confirm = this.form.elements.confirm;
    const name = this.form.elements.name.value.trim();
    if (!confirm.checked) return this.error(t("Tick the box to confirm that you have read it."));
    if (!name) {
      this.form.elements.name.focus();
      return this.error(t("Type your name."));
    }
    const image = this.pad.toPng();
    if (!image) return this.error(t("Sign in the box first: draw your signature with your finger or the mouse."));
    this.error(null);
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    const signedSha = this.state.sha256;
    try {
      const answer = await this.page.api("POST", this.state.url, { version_sha256: signedSha, name, image });
      if (answer.signature && answer.signature.signer) {
        this.myKey = answer.signature.signer;
        sessionStorage.setItem(`heshi:signer:${this.page.sessionId}`, this.myKey);
      }
      await this.load();
    } catch (err) {
      if (err.status === 409) {
        await this.load();
        if (this.state.sha256 !== signedSha) {
          // A new version: show it, and ask again for the confirmation (the drawing may stay).
          this.q(".doc-changed").hidden = false;
          confirm.checked = false;
          this.section.scrollIntoView({ block: "start" });
        } else {
          this.error(t("You have already signed this version."));
        }
      } else if (err.status === 422 && err.fields.image) {
        this.error(t("The signature could not be used. Clear it and sign again."));
      } else if (err.status === 422 && err.fields.name) {
        this.error(t("Type your name."));
      } else {
        this.error(t("Your signature did not reach the server. Check the network and try again."));
      }
    } finally {
      button.disabled = false;
    }
  }
}

function fillLinks(node, pdf) {
  node.replaceChildren(el("a", { href: pdf, target: "_blank", rel: "noopener", text: t("Download as PDF") }));
}

/** The minutes, as text to read: header, parties' claims and facts, the course, opinion, result. */
function minutesNodes(doc) {
  const d = doc || {};
  const h = d.header || {};
  const out = [];
  const facts = el("dl", { class: "facts" });
  const add = (label, value) => value && facts.append(el("dt", { text: label }), el("dd", { text: value }));
  add(t("Case number"), h.case_number);
  add(t("Time"), when(h.started_at || h.scheduled_at));
  add(t("Place"), h.mode === "in_person" ? h.place : t("Online video mediation"));
  add(t("Mediator"), h.mediator);
  add(t("Clerk"), (h.clerks || []).join("、"));
  out.push(facts);
  out.push(el("h3", { text: t("Claims and facts stated by the parties") }));
  for (const p of d.parties || []) {
    out.push(el("h4", { text: `${roleName(p.side)} ${p.name}` }),
      el("p", { text: `${t("Claims")}：${p.claims || "—"}` }), el("p", { text: `${t("Facts stated")}：${p.facts || "—"}` }));
  }
  out.push(el("h3", { text: t("Course of the mediation") }));
  const list = el("ol", { class: "minutes-entries" });
  for (const e of d.entries || []) {
    list.append(el("li", { class: "entry" }, el("p", { class: "entry-head" }, el("time", { datetime: e.at, text: when(e.at) }), " ",
      el("strong", { text: e.speaker || "" })), el("p", { class: "entry-text", text: e.text })));
  }
  out.push(list);
  if (d.expert_opinion) out.push(el("h3", { text: t("Expert's opinion") }), el("p", { class: "minutes-text", text: d.expert_opinion }));
  out.push(el("h3", { text: t("Result") }), el("p", { class: "minutes-text", text: d.result || "—" }));
  return out;
}

loadCatalog();
const root = document.getElementById("signing");
if (root) {
  const page = new Page(root);
  window.heshiSigning = page; // for support and the browser tests
  page.start();
}
