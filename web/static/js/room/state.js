// The room as this participant sees it, and how each event changes it: a pure reducer, with no
// DOM, no Socket.IO and no timers, so that it runs (and is tested) anywhere. client.js keeps the
// state and says what changed; the state is never patched in place (new Maps, new objects).
//
// reduce(state, event) takes the room.event form of docs/protocol.md, `{type, data}`, and one
// local form: `{type: "snapshot", data: room}` for the `room` of a room.join or room.sync ack.

export const RECORDING_OFF = Object.freeze({
  state: "off", recording_id: null, recorder_ready: false, interrupted: false, recorded: [], your_consent: null,
});

const NO_CONSENTS = Object.freeze({ consents: {}, pending: [] });

/** The order people are listed in: the mediator first, observers last. */
export const ROLE_ORDER = ["mediator", "expert", "applicant", "respondent", "agent", "observer"];

export function initialRoomState() {
  return {
    me: null, // this participant, {pid, name, role, state, connected, publishing}
    participants: new Map(), // pid -> participant (admitted members)
    lobby: new Map(), // pid -> participant (mediators only)
    lobbyReason: null,
    maxPublishers: null,
    recording: RECORDING_OFF, // this participant's view of recording (replaced, never patched)
    recordingConsents: NO_CONSENTS, // mediators only
    consentingRoles: new Set(), // the roles asked for consent, as the server's snapshot names them
  };
}

/** A recording view as the snapshot or recording.updated gives it, without the stop's reason. */
export function normalizeRecording(view) {
  const { stop_reason: _stopReason, ...rest } = view || {};
  return { ...RECORDING_OFF, ...rest, recorded: Array.isArray(rest.recorded) ? rest.recorded : [] };
}

/** Why recording stopped, when a recording.updated reports a stop; null otherwise. */
export function stopReasonOf(view) {
  return view && view.stop_reason !== undefined ? view.stop_reason : null;
}

export function normalizeConsents(data) {
  return { consents: (data && data.consents) || {}, pending: (data && data.pending) || [] };
}

function byPid(list) {
  return new Map((list || []).map((p) => [p.pid, p]));
}

function without(map, ...pids) {
  if (!pids.some((pid) => map.has(pid))) return map;
  const next = new Map(map);
  for (const pid of pids) next.delete(pid);
  return next;
}

function withEntry(map, p) {
  const next = new Map(map);
  next.set(p.pid, p);
  return next;
}

function patched(map, pid, fields) {
  const p = map.get(pid);
  return p ? withEntry(map, { ...p, ...fields }) : map;
}

function isMe(state, pid) {
  return Boolean(state.me) && state.me.pid === pid;
}

function fromSnapshot(state, room) {
  return {
    ...state,
    me: room.you,
    participants: byPid(room.participants),
    lobby: byPid(room.lobby),
    lobbyReason: room.lobby_reason || null,
    maxPublishers: room.max_publishers,
    // Only mediators' snapshots carry the answers: keep what we had otherwise.
    recordingConsents: room.recording_consents ? normalizeConsents(room.recording_consents) : state.recordingConsents,
    recording: normalizeRecording(room.recording || RECORDING_OFF),
    consentingRoles: Array.isArray(room.consenting_roles) ? new Set(room.consenting_roles) : state.consentingRoles,
  };
}

/** The state after `event`; the same object when the event changes nothing this state holds. */
export function reduce(state, event) {
  const d = (event && event.data) || {};
  switch (event && event.type) {
    case "snapshot":
      return fromSnapshot(state, d);
    case "participant.joined": {
      const p = d.participant;
      const next = { ...state, participants: withEntry(state.participants, p), lobby: without(state.lobby, p.pid) };
      // Admitted from the lobby: this participant is in the room now, and waits no more.
      if (isMe(state, p.pid) && state.me.state !== "admitted") {
        next.me = { ...state.me, state: "admitted" };
        next.lobbyReason = null;
      }
      return next;
    }
    case "participant.left":
      return { ...state, participants: without(state.participants, d.pid) };
    case "participant.removed":
      return { ...state, participants: without(state.participants, d.pid), lobby: without(state.lobby, d.pid) };
    case "participant.reconnecting":
      return { ...state, participants: patched(state.participants, d.pid, { connected: false }) };
    case "participant.reconnected":
      return { ...state, participants: withEntry(state.participants, d.participant) };
    case "publisher.added":
      return { ...state, participants: patched(state.participants, d.pid, { publishing: true }) };
    case "publisher.removed":
      return { ...state, participants: patched(state.participants, d.pid, { publishing: false }) };
    case "lobby.updated":
      return { ...state, lobby: byPid(d.lobby) };
    case "lobby.status":
      return { ...state, lobbyReason: d.reason };
    case "recording.updated":
      return { ...state, recording: normalizeRecording(d) };
    case "recording.consents":
      return { ...state, recordingConsents: normalizeConsents(d) };
    default:
      // chat.message, mute.requested, recording.consent_requested, lobby.denied, session.ended:
      // news to act on, not state (client.js handles them).
      return state;
  }
}

// ---- what follows from the state -------------------------------------------------------------

/** Whether this participant is asked and has not answered in the current run: show the prompt. */
export function consentNeeded(state, { final = false } = {}) {
  const r = state.recording;
  return Boolean(state.me) && state.me.state === "admitted" && !final && state.consentingRoles.has(state.me.role)
    && r.state !== "off" && r.your_consent === null;
}

/** Whether the recorder takes this participant's media now. */
export function beingRecorded(state) {
  return Boolean(state.me) && state.recording.state === "on" && state.recording.recorded.includes(state.me.pid);
}

/** The recording run this participant should send to now (docs/protocol.md), or null. */
export function recorderRun(state, { final = false } = {}) {
  const r = state.recording;
  const sending = beingRecorded(state) && r.recorder_ready && state.me.state === "admitted" && !final;
  return sending ? r.recording_id : null;
}

/** The members in the order the page lists them: by role, then name; this participant last. */
export function orderedParticipants(state) {
  const me = state.me && state.me.pid;
  return [...state.participants.values()].sort((a, b) => {
    if ((a.pid === me) !== (b.pid === me)) return a.pid === me ? 1 : -1;
    const r = ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role);
    return r || a.name.localeCompare(b.name);
  });
}

/** Chat messages with `incoming` merged in: each id once, oldest first. `added` says whether any was new. */
export function mergeMessages(messages, incoming) {
  const ids = new Set(messages.map((m) => m.id));
  const fresh = [];
  for (const m of incoming || []) {
    if (!m || ids.has(m.id)) continue;
    ids.add(m.id);
    fresh.push(m);
  }
  if (!fresh.length) return { messages, added: false };
  const all = [...messages, ...fresh];
  all.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return { messages: all, added: true };
}
