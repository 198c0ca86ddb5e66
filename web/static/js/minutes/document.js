// The minutes (调解笔录) as data: the document's shape, what changed between two versions of it,
// and how one person's changes are laid onto another's. Pure: no DOM, no socket, no timers, so
// node tests it (tests/js/minutes-document.test.mjs).
//
// The document is the one `minutes.get` and GET /api/v1/sessions/{id}/minutes return
// (docs/protocol.md, docs/api.md; the rules are server/domain/minutes.py):
//   header          read-only, filled by the server (case number, time, place, mediator, clerks,
//                   the case's parties, who took part with their roles)
//   claims          [{party, claims, facts}]: each party's claims and the facts they state
//   entries         [{id, speaker, text, at}]: the course of the session; `at` is the server
//                   time the entry was started, stored exactly (review turns it into an offset
//                   in the recording)
//   expert_opinion  {text, author, at} or null: written by the invited expert only
//   result          the result of the mediation
// A save sends only the sections its writer may write (the server refuses a change to any
// other): the mediator and the clerk claims, entries and result; the expert their opinion.

export const SECTIONS = ["claims", "entries", "expert_opinion", "result"];

const str = (v) => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));

/** A document with every section present and of its type, whatever the server or a draft held. */
export function normalize(doc) {
  const d = doc && typeof doc === "object" ? doc : {};
  const opinion = d.expert_opinion && typeof d.expert_opinion === "object" ? d.expert_opinion : null;
  return {
    ...d,
    header: d.header && typeof d.header === "object" ? d.header : {},
    claims: (Array.isArray(d.claims) ? d.claims : []).map((c) => ({ party: str(c.party), claims: str(c.claims), facts: str(c.facts) })),
    entries: (Array.isArray(d.entries) ? d.entries : []).map((e) => ({ ...e, id: str(e.id), speaker: str(e.speaker), text: str(e.text), at: str(e.at) })),
    expert_opinion: opinion && str(opinion.text) ? { ...opinion, text: str(opinion.text) } : null,
    result: str(d.result),
  };
}

/** The parties whose claims the minutes hold: the case's (from the header), then any other named. */
export function claimRows(doc) {
  const d = normalize(doc);
  const rows = [];
  const seen = new Set();
  for (const p of Array.isArray(d.header.parties) ? d.header.parties : []) {
    const name = str(p.name);
    if (!name || seen.has(name)) continue;
    seen.add(name);
    const c = d.claims.find((x) => x.party === name);
    rows.push({ party: name, side: str(p.side), claims: c ? c.claims : "", facts: c ? c.facts : "" });
  }
  for (const c of d.claims) if (!seen.has(c.party)) rows.push({ ...c, side: "" });
  return rows;
}

/** The document with one party's claims or facts set. */
export function withClaim(doc, party, field, value) {
  const d = normalize(doc);
  const claims = d.claims.map((c) => ({ ...c }));
  let row = claims.find((c) => c.party === party);
  if (!row) {
    row = { party, claims: "", facts: "" };
    claims.push(row);
  }
  row[field] = value;
  return { ...d, claims };
}

/** What a save sends: the sections `writable` names (all four by default), in the save's shape. */
export function editable(doc, writable = SECTIONS) {
  const d = normalize(doc);
  const out = {};
  if (writable.includes("claims")) out.claims = d.claims.filter((c) => c.party && (c.claims || c.facts));
  if (writable.includes("entries")) out.entries = d.entries.map(({ id, speaker, text, at }) => ({ id, speaker, text, at }));
  if (writable.includes("expert_opinion")) out.expert_opinion = { text: d.expert_opinion ? d.expert_opinion.text : "" };
  if (writable.includes("result")) out.result = d.result;
  return out;
}

/** Whether two documents say the same in their editable sections. */
export function sameContent(a, b, writable = SECTIONS) {
  return JSON.stringify(editable(a, writable)) === JSON.stringify(editable(b, writable));
}

/** The editable values of a document by path: "result", "expert_opinion", "claim:<party>.facts", "entry:<id>". */
export function flatten(doc) {
  const d = normalize(doc);
  const out = new Map();
  out.set("result", d.result);
  out.set("expert_opinion", d.expert_opinion ? d.expert_opinion.text : "");
  for (const c of d.claims) {
    if (c.claims) out.set(`claim:${c.party}.claims`, c.claims);
    if (c.facts) out.set(`claim:${c.party}.facts`, c.facts);
  }
  for (const e of d.entries) out.set(`entry:${e.id}`, JSON.stringify({ speaker: e.speaker, text: e.text, at: e.at }));
  return out;
}

/**
 * What changed from `before` to `after`, one item per field or entry:
 * {path, kind: "field" | "claim" | "entry", field, party?, id?, change: "added" | "removed" | "edited", before, after}.
 * `before`/`after` are text (an entry's is {speaker, text, at}, or null).
 */
export function changes(before, after) {
  const a = flatten(before);
  const b = flatten(after);
  const out = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(path);
    const y = b.get(path);
    if (x === y) continue;
    const change = !x ? "added" : !y ? "removed" : "edited";
    if (path.startsWith("entry:")) {
      out.push({ path, kind: "entry", id: path.slice(6), change, before: x ? JSON.parse(x) : null, after: y ? JSON.parse(y) : null });
    } else if (path.startsWith("claim:")) {
      const dot = path.lastIndexOf(".");
      out.push({ path, kind: "claim", party: path.slice(6, dot), field: path.slice(dot + 1), change, before: x || "", after: y || "" });
    } else {
      out.push({ path, kind: "field", field: path, change, before: x || "", after: y || "" });
    }
  }
  return out;
}

/**
 * Lay `mine`'s changes (made on `base`) onto `current` (the revision someone else saved meanwhile).
 * Fields and entries only I changed take my value; those only they changed keep theirs; those we
 * both changed differently take mine too (the person re-applying decides, after seeing theirs),
 * and are listed in `overlaps` so the page can say so. Returns {document, overlaps: [path]}.
 */
export function rebase(base, mine, current) {
  const m = normalize(mine);
  const c = normalize(current);
  const mineChanged = changes(base, m);
  const theirs = new Map(changes(base, c).map((ch) => [ch.path, ch]));
  const overlaps = [];
  let out = { ...c, claims: c.claims.map((x) => ({ ...x })), entries: c.entries.map((e) => ({ ...e })) };
  const byId = new Map(out.entries.map((e) => [e.id, e]));
  for (const ch of mineChanged) {
    const t = theirs.get(ch.path);
    if (t && JSON.stringify(t.after) !== JSON.stringify(ch.after)) overlaps.push(ch.path);
    if (ch.kind === "field" && ch.field === "result") out.result = m.result;
    else if (ch.kind === "field") out.expert_opinion = m.expert_opinion;
    else if (ch.kind === "claim") out = withClaim(out, ch.party, ch.field, ch.after);
    else if (ch.change === "removed") byId.delete(ch.id);
    else byId.set(ch.id, { ...(byId.get(ch.id) || {}), id: ch.id, ...ch.after });
  }
  out.entries = [...byId.values()].sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : 0));
  return { document: out, overlaps };
}

/** A new entry's id: the server keeps the client's, so an entry is the same one across edits. */
export function newEntryId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return "e" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- times ------------------------------------------------------------------------------------

/** A time in the protocol's form: ISO 8601, UTC, six digits of microseconds, "+00:00". */
export function isoMicro(ms) {
  const d = new Date(Math.floor(ms));
  const micro = String(Math.round((ms - Math.floor(ms)) * 1000)).padStart(3, "0").slice(0, 3);
  return `${d.toISOString().slice(0, 23)}${micro}+00:00`;
}

/** Milliseconds since the epoch of a protocol time (microseconds kept as a fraction); NaN if none. */
export function parseIso(iso) {
  if (typeof iso !== "string") return NaN;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)?$/.exec(iso);
  if (!m) return Date.parse(iso);
  const frac = (m[2] || "").padEnd(6, "0");
  const whole = Date.parse(`${m[1]}${m[3] || "Z"}`);
  return whole + Number(frac) / 1000;
}

/**
 * The server's clock as this page estimates it. Every server time that arrives live (room events,
 * acks, minutes.updated) is a lower bound of the server's clock at arrival: the message took some
 * time to come. The largest `server - local` seen is the closest estimate.
 */
export class ServerClock {
  constructor(now = () => Date.now()) {
    this.localNow = now;
    this.offset = null; // ms to add to the local clock
  }

  /** A server time that just arrived. */
  observe(iso) {
    const server = parseIso(iso);
    if (!Number.isFinite(server)) return;
    const offset = server - this.localNow();
    if (this.offset === null || offset > this.offset) this.offset = offset;
  }

  get known() {
    return this.offset !== null;
  }

  /** Now by the server's clock, in ms (the local clock until a server time has arrived). */
  now() {
    return this.localNow() + (this.offset || 0);
  }

  nowIso() {
    return isoMicro(this.now());
  }
}
