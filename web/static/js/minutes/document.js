// The minutes (调解笔录) as data: the document's shape, what changed between two versions of it,
// and how one person's changes are laid onto another's. Pure: no DOM, no socket, no timers, so
// node tests it (tests/js/minutes-document.test.mjs).
//
// The document is the one `minutes.get` and GET /api/v1/sessions/{id}/minutes return as
// `document` (docs/protocol.md, docs/api.md; the rules are server/domain/minutes.py):
//   header             read-only, filled by the server (case number, time, place, mediator,
//                      clerks, who took part with their roles)
//   parties            [{party_id, side, name, claims, facts}]: each party's claims and the facts
//                      they state (the server lists the case's parties to begin with)
//   entries            [{id, speaker, text, at}]: the course of the session; `at` is the server
//                      time the entry was started, stored exactly (review turns it into an
//                      offset in the recording)
//   expert_opinion     text, written by the invited expert only; `expert_opinion_by` (read-only)
//                      says who wrote it and when
//   result             the result of the mediation
// A save sends only the sections its writer may write (the server refuses a change to any
// other): the mediator and the clerk parties, entries and result; the expert their opinion.

export const SECTIONS = ["parties", "entries", "expert_opinion", "result"];

const str = (v) => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));

/** A document with every section present and of its type, whatever the server or a draft held. */
export function normalize(doc) {
  const d = doc && typeof doc === "object" ? doc : {};
  const opinion = d.expert_opinion && typeof d.expert_opinion === "object" ? d.expert_opinion.text : d.expert_opinion;
  return {
    ...d,
    header: d.header && typeof d.header === "object" ? d.header : {},
    parties: (Array.isArray(d.parties) ? d.parties : []).map((p) => ({
      party_id: p.party_id || null, side: str(p.side), name: str(p.name), claims: str(p.claims), facts: str(p.facts),
    })),
    entries: (Array.isArray(d.entries) ? d.entries : []).map((e) => ({ id: str(e.id), speaker: str(e.speaker), text: str(e.text), at: str(e.at) })),
    expert_opinion: str(opinion),
    expert_opinion_by: d.expert_opinion_by && typeof d.expert_opinion_by === "object" ? d.expert_opinion_by : null,
    result: str(d.result),
  };
}

/** How a party is known in the document: by the case's party id, else by name. */
export function partyKey(p) {
  return p.party_id ? `id:${p.party_id}` : `name:${p.name}`;
}

/** The parties whose claims the minutes hold: the document's, else the case's from the header. */
export function claimRows(doc) {
  const d = normalize(doc);
  if (d.parties.length) return d.parties.map((p) => ({ ...p, key: partyKey(p) }));
  return (Array.isArray(d.header.parties) ? d.header.parties : []).map((p) => {
    const row = { party_id: p.id || null, side: str(p.side), name: str(p.name), claims: "", facts: "" };
    return { ...row, key: partyKey(row) };
  });
}

/** The document with one party's claims or facts set (`key` as partyKey gives it). */
export function withClaim(doc, key, field, value) {
  const d = normalize(doc);
  const parties = claimRows(d).map(({ key: _k, ...p }) => p);
  const row = parties.find((p) => partyKey(p) === key);
  if (row) row[field] = value;
  return { ...d, parties };
}

/** What a save sends: the sections `writable` names (all four by default), in the save's shape. */
export function editable(doc, writable = SECTIONS) {
  const d = normalize(doc);
  const out = {};
  if (writable.includes("parties")) out.parties = d.parties.map(({ party_id: id, side, name, claims, facts }) => ({ party_id: id, side, name, claims, facts }));
  if (writable.includes("entries")) out.entries = d.entries.map(({ id, speaker, text, at }) => ({ id, speaker, text, at }));
  if (writable.includes("expert_opinion")) out.expert_opinion = d.expert_opinion;
  if (writable.includes("result")) out.result = d.result;
  return out;
}

/** Whether two documents say the same in their editable sections. */
export function sameContent(a, b, writable = SECTIONS) {
  return JSON.stringify(editable(a, writable)) === JSON.stringify(editable(b, writable));
}

/** The editable values of a document by path: "result", "expert_opinion", "party:<key>.facts", "entry:<id>". */
export function flatten(doc) {
  const d = normalize(doc);
  const out = new Map();
  out.set("result", d.result);
  out.set("expert_opinion", d.expert_opinion);
  for (const p of d.parties) {
    out.set(`party:${partyKey(p)}.claims`, p.claims);
    out.set(`party:${partyKey(p)}.facts`, p.facts);
  }
  for (const e of d.entries) out.set(`entry:${e.id}`, JSON.stringify({ speaker: e.speaker, text: e.text, at: e.at }));
  return out;
}

/**
 * What changed from `before` to `after`, one item per field or entry:
 * {path, kind: "field" | "party" | "entry", field, party?, key?, id?, change: "added" | "removed" | "edited", before, after}.
 * `before`/`after` are text (an entry's is {speaker, text, at}, or null).
 */
export function changes(before, after) {
  const a = flatten(before);
  const b = flatten(after);
  const names = new Map();
  for (const d of [normalize(before), normalize(after)]) for (const p of d.parties) names.set(partyKey(p), p.name);
  const out = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(path);
    const y = b.get(path);
    if ((x || "") === (y || "")) continue;
    const change = !x ? "added" : !y ? "removed" : "edited";
    if (path.startsWith("entry:")) {
      out.push({ path, kind: "entry", id: path.slice(6), change, before: x ? JSON.parse(x) : null, after: y ? JSON.parse(y) : null });
    } else if (path.startsWith("party:")) {
      const dot = path.lastIndexOf(".");
      const key = path.slice(6, dot);
      out.push({ path, kind: "party", key, party: names.get(key) || "", field: path.slice(dot + 1), change, before: x || "", after: y || "" });
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
  let out = { ...c, parties: c.parties.map((x) => ({ ...x })), entries: c.entries.map((e) => ({ ...e })) };
  const byId = new Map(out.entries.map((e) => [e.id, e]));
  for (const ch of mineChanged) {
    const t = theirs.get(ch.path);
    if (t && JSON.stringify(t.after) !== JSON.stringify(ch.after)) overlaps.push(ch.path);
    if (ch.kind === "field" && ch.field === "result") out.result = m.result;
    else if (ch.kind === "field") out.expert_opinion = m.expert_opinion;
    else if (ch.kind === "party") out = withClaim(out, ch.key, ch.field, ch.after);
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
