// The case log told for people (the case page's timeline): each entry as a sentence with names,
// in a group a reader can filter by. Pure: no DOM, so tests/js/case-describe.test.mjs runs it.
// The entries are the API's (GET /api/v1/cases/{id}/events, docs/api.md), `names` its map of
// actors to names; what the viewer may not read arrives redacted and is told as such.

import { t } from "../i18n.js";

/** The groups a reader filters the timeline by, in the order the filter offers them. */
export const GROUPS = ["case", "session", "documents", "recording", "access", "chat"];

export function groupLabel(group) {
  return {
    case: t("The case"),
    session: t("Sessions and people"),
    documents: t("Minutes and agreements"),
    recording: t("Recording"),
    access: t("Who viewed what"),
    chat: t("Chat"),
  }[group] || group;
}

const ROLES = () => ({
  mediator: t("Mediator"), applicant: t("Applicant"), respondent: t("Respondent"), agent: t("Agent"),
  expert: t("Expert"), observer: t("Observer"), clerk: t("Clerk"),
});

const STATUSES = () => ({
  registered: t("registered"), accepted: t("accepted"), declined: t("declined"), mediating: t("mediating"),
  settled: t("settled"), unsettled: t("not settled"), withdrawn: t("withdrawn"), closed: t("closed"),
});

/** Who an actor is, for people: the name when the log names them, else what kind of actor it is. */
export function actorName(actor, names) {
  if (!actor) return "";
  if (names && names[actor]) return names[actor];
  const [kind, id] = String(actor).split(/:(.*)/s);
  if (kind === "system") return t("the system (%(reason)s)", { reason: id });
  if (kind === "recorder") return t("the recorder");
  return t("someone no longer on record");
}

/** The name of the participant an entry is about (its `pid`), from the names or the data. */
function participant(data, names) {
  const pid = data && data.pid;
  if (data && data.name) return data.name;
  if (typeof pid !== "string") return t("someone");
  const actor = pid.startsWith("i:") ? `invitation:${pid.slice(2)}` : pid.startsWith("a:") ? `account:${pid.slice(2)}` : null;
  return (actor && names && names[actor]) || t("someone");
}

function role(value) {
  return ROLES()[value] || value || "";
}

function reasonOf(data) {
  const r = data && (data.reason || data.note);
  return r ? t(" (reason: %(reason)s)", { reason: r }) : "";
}

// What happened rather than what someone did: told without naming who wrote the entry (the last
// signature locks a version; the delivery loop reports the court's answer).
const IMPERSONAL = new Set([
  "session.live", "session.ended", "minutes.locked", "agreement.locked", "confirmation.attempted",
  "confirmation.delivered", "confirmation.failed", "recording.segment", "recording.interrupted",
  "recording.resumed", "recording.composite", "recording.deleted", "export.built", "export.failed",
]);

/** Whether the timeline names who wrote the entry beside it. */
export function namesActor(entry) {
  return !entry.redacted && !IMPERSONAL.has(entry.kind);
}

/**
 * {group, text} for one entry. `text` does not repeat who did it (the timeline shows the
 * actor beside it) unless the entry is about someone else.
 */
export function describe(entry, names = {}) {
  if (entry.redacted) return { group: "hidden", text: t("An entry you may not read (it still counts in the chain)") };
  const d = entry.data || {};
  const who = participant(d, names);
  const n = d.version || d.revision;
  switch (entry.kind) {
    case "case.created": return { group: "case", text: t("registered the case") };
    case "case.transitioned":
      return { group: "case", text: t("moved the case to “%(status)s”", { status: STATUSES()[d.to] || d.to }) + reasonOf(d) };
    case "case.hold_set": return { group: "case", text: t("put the case on legal hold") + reasonOf(d) };
    case "case.hold_released": return { group: "case", text: t("released the legal hold") + reasonOf(d) };
    case "party.added": return { group: "case", text: t("added a party: %(name)s", { name: d.name || "" }) };
    case "session.scheduled": return { group: "session", text: t("scheduled the session “%(title)s”", { title: d.title || "" }) };
    case "session.live": return { group: "session", text: t("the session began") };
    case "session.ended": return { group: "session", text: t("the session ended") + reasonOf(d) };
    case "session.end": return { group: "session", text: t("ended the session for everyone") + reasonOf(d) };
    case "session.join":
      return { group: "session", text: d.state === "lobby"
        ? t("%(name)s (%(role)s) arrived and waited in the lobby", { name: who, role: role(d.role) })
        : t("%(name)s (%(role)s) joined", { name: who, role: role(d.role) }) };
    case "session.rejoin": return { group: "session", text: t("%(name)s came back after a drop", { name: who }) };
    case "session.leave": return { group: "session", text: t("%(name)s left", { name: who }) + reasonOf(d) };
    case "session.admit": return { group: "session", text: t("let %(name)s in from the lobby", { name: who }) };
    case "session.deny": return { group: "session", text: t("did not let %(name)s in", { name: who }) + reasonOf(d) };
    case "session.remove": return { group: "session", text: t("removed %(name)s from the session", { name: who }) + reasonOf(d) };
    case "session.notice_presented": return { group: "documents", text: t("presented the rights and obligations notice") };
    case "session.notice_acknowledged": return { group: "documents", text: t("%(name)s acknowledged the notice", { name: who }) };
    case "invitation.issued":
      return { group: "session", text: t("invited %(name)s as %(role)s", { name: d.display_name || "", role: role(d.role) }) };
    case "invitation.opened": return { group: "session", text: t("opened their invitation link") };
    case "invitation.revoked": return { group: "session", text: t("withdrew an invitation") + reasonOf(d) };
    case "chat.message": return { group: "chat", text: d.to ? t("sent a private chat message") : t("sent a chat message") };
    case "recording.started": return { group: "recording", text: t("started recording") };
    case "recording.stopped": return { group: "recording", text: t("stopped recording") + reasonOf(d) };
    case "recording.consent":
      return { group: "recording", text: d.decision === "granted"
        ? t("%(name)s agreed to be recorded", { name: who }) : t("%(name)s refused to be recorded", { name: who }) };
    case "recording.segment": return { group: "recording", text: t("a recorded file was stored") };
    case "recording.interrupted": return { group: "recording", text: t("recording was interrupted") };
    case "recording.resumed": return { group: "recording", text: t("recording resumed") };
    case "recording.composite": return { group: "recording", text: t("the one-file download was made") };
    case "recording.deleted": return { group: "recording", text: t("a recorded file was deleted at the end of its retention") };
    case "recording.accessed":
      return { group: "access", text: d.refused ? t("was refused the recording (%(reason)s)", { reason: d.refused }) : t("watched or downloaded the recording") };
    case "recording.reviewed":
      return { group: "access", text: d.refused ? t("was refused the review (%(reason)s)", { reason: d.refused }) : t("reviewed the recorded session") };
    case "minutes.saved": return { group: "documents", text: t("saved the minutes (revision %(n)s)", { n }) };
    case "minutes.signed": return { group: "documents", text: t("signed the minutes (revision %(n)s)", { n }) };
    case "minutes.locked": return { group: "documents", text: t("the minutes were signed by everyone (revision %(n)s)", { n }) };
    case "agreement.created": return { group: "documents", text: t("made the agreement") };
    case "agreement.revised": return { group: "documents", text: t("changed the agreement (version %(n)s)", { n }) };
    case "agreement.signed": return { group: "documents", text: t("signed the agreement (version %(n)s)", { n }) };
    case "agreement.locked": return { group: "documents", text: t("the agreement was signed by everyone (version %(n)s)", { n }) };
    case "confirmation.requested": return { group: "documents", text: t("asked the court for judicial confirmation") };
    case "confirmation.attempted": return { group: "documents", text: t("tried to deliver the package to the court") };
    case "confirmation.delivered": return { group: "documents", text: t("the package reached the court") };
    case "confirmation.failed": return { group: "documents", text: t("the package could not be delivered to the court") };
    case "export.requested": return { group: "access", text: t("asked for an evidence export") };
    case "export.built": return { group: "access", text: t("the evidence export was made") };
    case "export.failed": return { group: "access", text: t("the evidence export failed") };
    case "export.downloaded": return { group: "access", text: t("downloaded the evidence export") };
    default: return { group: "case", text: entry.kind };
  }
}

/**
 * What happened in each session, from its entries: when it actually ran, who came (in the order
 * they came), how long, and whether it was recorded. Keyed by session id.
 */
export function sessionSummaries(events, names = {}) {
  const out = new Map();
  const of = (id) => {
    if (!out.has(id)) out.set(id, { startedAt: null, endedAt: null, people: [], recorded: false });
    return out.get(id);
  };
  for (const e of events) {
    if (e.redacted || !e.session_id) continue;
    const s = of(e.session_id);
    if (e.kind === "session.live" && !s.startedAt) s.startedAt = e.at;
    if (e.kind === "session.ended" || e.kind === "session.end") s.endedAt = e.at;
    if (e.kind === "session.join") {
      const name = participant(e.data || {}, names);
      if (!s.people.some((p) => p.name === name)) s.people.push({ name, role: (e.data || {}).role || "" });
    }
    if (e.kind === "recording.started") s.recorded = true;
  }
  for (const s of out.values()) {
    s.minutes = s.startedAt && s.endedAt ? Math.max(0, Math.round((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 60000)) : null;
  }
  return out;
}

/**
 * Runs of alike rows (the same `key`: kind, actor, session and sentence, such as a recording's
 * many stored files) as one row with a count and the time of the first (`at`) and the last (`until`).
 */
export function collapse(rows) {
  const out = [];
  for (const row of rows) {
    const last = out[out.length - 1];
    if (last && last.key === row.key) {
      last.count += 1;
      last.until = row.at;
    } else {
      out.push({ ...row, count: 1, until: row.at });
    }
  }
  return out;
}
