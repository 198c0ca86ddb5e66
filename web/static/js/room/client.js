// The room's protocol logic, with no DOM and no WebRTC: connect, join, apply sequenced
// events in order, resync after gaps, resume after drops, chat with idempotent retries,
// and moderation requests. A view (or a later mobile client) listens to its events.
//
// Protocol: docs/protocol.md. Every request goes with an acknowledgement.
//
// Events (CustomEvent, data in `detail`):
//   state        {state, reason?}       connecting | lobby | admitted | reconnecting | replaced
//                                       | left | ended | refused
//   joined       {resumed, reconnect}   a room.join succeeded (first time or after a drop)
//   admitted     {}                     moved from the lobby into the room
//   roster       {participants, lobby}  after every change
//   lobby-reason {reason}
//   participant-joined / -left / -reconnecting / -reconnected   {participant | pid, …}
//   peer-reset   {pid}                  set up media with this participant again (sent as soon as
//                                       participant.reconnected arrives, ahead of any gap)
//   chat         {messages}             the whole list, oldest first
//   chat-pending {client_id, text, to}  / chat-failed {client_id, code}
//   mute-requested {by, kind}
//   recording    {recording, previous, stopReason, snapshot}   this participant's whole view of
//                                       recording changed (docs/protocol.md "What clients see")
//   recording-consents {consents, pending}           every answer (mediators only)
//   consent-requested {recording_id}    please ask this participant (see consentNeeded too)
//   (the end comes as `state` left | ended | refused, with {code, reason?, message?}:
//    code denied | removed | ended | a connect refusal such as unauthenticated)
//   signal       the relayed WebRTC message of another participant
//   recorder-signal  the recorder's answer (signal from "recorder"): for recorder.js, not the mesh
//   server-error {event, code, message}

import { io } from "/static/vendor/socket.io/socket.io.esm.min.js";

// How long an event waits for the ones before it (by pseq) before we ask the server: a gap
// in pseq means an event was lost or is late (several nodes do not keep order).
const GAP_WAIT_MS = 1000;
const ACK_TIMEOUT_MS = 10000;
const CHAT_RETRIES = 5;
const RETRY_MS = 2000;
// Connection refusals worth retrying: the server or its store is having a moment.
const TRANSIENT = new Set(["unavailable", "internal_error", "rate_limited", "timeout"]);
const FINAL_STATES = new Set(["left", "ended", "refused", "replaced"]);

/** The recorder's address in `signal` (docs/protocol.md, "Sending media to the recorder"). */
export const RECORDER_PID = "recorder";
/** Roles asked for consent before they are recorded; the mediator's start counts as consent, and
 *  observers send nothing (docs/protocol.md, "Who is asked, who is recorded"). */
export const CONSENTING_ROLES = new Set(["applicant", "respondent", "agent", "expert"]);
export const RECORDING_OFF = Object.freeze({
  state: "off", recording_id: null, recorder_ready: false, interrupted: false, recorded: [], your_consent: null,
});

export class RoomError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.code = code;
    Object.assign(this, extra);
  }
}

export function newClientId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "c" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class RoomClient extends EventTarget {
  constructor(sessionId, { url = undefined, storage = globalThis.sessionStorage, ioFactory = io } = {}) {
    super();
    this.sessionId = sessionId;
    this.url = url;
    this.storage = storage;
    this.ioFactory = ioFactory;
    this.socket = null;
    this.state = "idle";
    this.me = null;
    this.seq = 0; // the room's sequence number of the last event applied (for room.sync and resume)
    this.pseq = 0; // this participant's own sequence number of the last event applied: no gaps
    this.pending = new Map(); // pseq -> event, waiting for the ones before it
    this.gapTimer = null;
    this.syncing = false;
    this.joining = false;
    this.joins = 0;
    this.participants = new Map(); // pid -> participant (admitted members)
    this.lobby = new Map(); // pid -> participant (mediators only)
    this.lobbyReason = null;
    this.maxPublishers = null;
    this.messages = []; // chat, oldest first
    this.messageIds = new Set();
    this.hasMoreChat = false;
    this.iceServers = [];
    this.resets = new Set(); // pseqs of participant.reconnected already acted on
    this.recording = RECORDING_OFF; // this participant's view of recording (replaced, never patched)
    this.recordingConsents = { consents: {}, pending: [] }; // mediators only
  }

  // ---- events to the view ---------------------------------------------------------------

  emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setState(state, extra = {}) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", { state, ...extra });
  }

  get final() {
    return FINAL_STATES.has(this.state);
  }

  // ---- resume token (per browser tab: a reload keeps it, another tab does not) -----------

  get storageKey() {
    return `heshi:resume:${this.sessionId}`;
  }

  loadResume() {
    try {
      return JSON.parse(this.storage.getItem(this.storageKey) || "null");
    } catch {
      return null;
    }
  }

  /** True when this tab was in the room before (a reload): rejoin without asking again. */
  get wasInRoom() {
    const saved = this.loadResume();
    return Boolean(saved && saved.token);
  }

  saveResume(token) {
    if (token) this.resumeToken = token;
    if (!this.resumeToken || this.final) return;
    this.storage.setItem(this.storageKey, JSON.stringify({ token: this.resumeToken, seq: this.seq }));
  }

  forgetResume() {
    this.resumeToken = null;
    this.storage.removeItem(this.storageKey);
  }

  // ---- connection -------------------------------------------------------------------------

  connect() {
    if (this.socket) {
      this.socket.connect();
      return;
    }
    this.setState("connecting");
    const socket = this.ioFactory(this.url, {
      transports: ["websocket"],
      auth: { session_id: this.sessionId },
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
      withCredentials: true,
    });
    this.socket = socket;
    socket.on("connect", () => this.join());
    socket.on("disconnect", (reason) => this.onDisconnect(reason));
    socket.on("connect_error", (err) => this.onConnectError(err));
    socket.on("room.event", (e) => this.receive(e));
    // The recorder's answers go to the recorder connection, never to the mesh.
    socket.on("signal", (s) => this.emit(s && s.from === RECORDER_PID ? "recorder-signal" : "signal", s));
    socket.on("error", (e) => this.emit("server-error", e));
  }

  /** Take the seat back after another window of the same person took it over. */
  takeOver() {
    this.state = "connecting";
    this.emit("state", { state: "connecting" });
    this.socket.connect();
  }

  onDisconnect(reason) {
    clearTimeout(this.gapTimer);
    this.gapTimer = null;
    if (this.final || reason === "io client disconnect") return;
    if (reason === "io server disconnect") {
      // The server closes the socket after a removal or the end of the session (both announced
      // by an event that has then already arrived) or when the same person connected again
      // from another window. Socket.IO does not reconnect after this: taking the seat back
      // would only throw the other window out, so the person decides.
      setTimeout(() => {
        if (!this.final) this.setState("replaced");
      }, 1000);
      return;
    }
    this.setState("reconnecting", { reason });
  }

  onConnectError(err) {
    const data = err && err.data;
    if (data && data.code && !TRANSIENT.has(data.code)) {
      // A refusal (revoked or expired link, ended session) is final.
      this.finish(data.code === "invalid_token" ? "ended" : "refused", { code: data.code, message: data.message });
      return;
    }
    this.setState("reconnecting", { reason: String((err && err.message) || "") });
    // A refusal by the server is not retried by Socket.IO itself; transport errors are.
    if (!this.socket.active) setTimeout(() => !this.final && this.socket.connect(), RETRY_MS);
  }

  /** The end of this participant's time in the room: left, ended, refused (denied, removed, bad link). */
  finish(state, detail = {}) {
    if (this.final) return;
    this.state = state;
    this.forgetResume();
    clearTimeout(this.gapTimer);
    this.gapTimer = null;
    if (this.socket) {
      this.socket.io.opts.reconnection = false;
      this.socket.disconnect();
    }
    this.emit("state", { state, ...detail });
  }

  async request(event, payload = {}) {
    let ack;
    try {
      ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
    } catch {
      throw new RoomError("timeout", `no answer to ${event}`);
    }
    if (!ack || !ack.ok) {
      const err = (ack && ack.error) || { code: "unknown", message: "no answer" };
      throw new RoomError(err.code, err.message, err);
    }
    return ack;
  }

  async join() {
    if (this.final) return;
    const saved = this.loadResume();
    const body = saved && saved.token ? { resume_token: saved.token, last_seq: saved.seq } : {};
    this.joining = true;
    let ack;
    try {
      ack = await this.request("room.join", body);
    } catch (err) {
      this.joining = false;
      if (err.code === "refused" || err.code === "session_ended") {
        this.finish(err.code === "refused" ? "refused" : "ended", { code: err.code, message: err.message });
      } else if (TRANSIENT.has(err.code)) {
        setTimeout(() => this.socket.connected && this.join(), RETRY_MS);
      } else {
        this.emit("server-error", { event: "room.join", code: err.code, message: err.message });
      }
      return;
    }
    this.joining = false;
    // Events missed while away: the snapshot covers the roster; chat is all that is left.
    for (const e of ack.missed || []) this.sideEffects(e);
    this.applySnapshot(ack.room);
    if (ack.chat) {
      this.mergeMessages(ack.chat.messages);
      this.hasMoreChat = ack.chat.has_more;
    }
    this.iceServers = ack.ice_servers || [];
    this.saveResume(ack.resume_token);
    const reconnect = this.joins > 0;
    this.joins += 1;
    this.setState(this.me.state === "admitted" ? "admitted" : "lobby");
    this.emit("joined", { resumed: ack.resumed, reconnect, me: this.me });
    this.drain();
  }

  applySnapshot(room) {
    this.me = room.you;
    this.seq = Math.max(this.seq, room.seq);
    this.pseq = room.pseq;
    for (const pseq of [...this.pending.keys()]) if (pseq <= room.pseq) this.pending.delete(pseq);
    this.participants = new Map((room.participants || []).map((p) => [p.pid, p]));
    this.lobby = new Map((room.lobby || []).map((p) => [p.pid, p]));
    this.lobbyReason = room.lobby_reason || null;
    this.maxPublishers = room.max_publishers;
    this.emitRoster();
    if (this.lobbyReason) this.emit("lobby-reason", { reason: this.lobbyReason });
    if (room.recording_consents) this.setRecordingConsents(room.recording_consents);
    this.setRecording(room.recording || RECORDING_OFF, { snapshot: true });
  }

  emitRoster() {
    this.emit("roster", { participants: [...this.participants.values()], lobby: [...this.lobby.values()] });
  }

  // ---- sequenced events (docs/protocol.md: apply in pseq order) ----------------------------

  receive(e) {
    if (!e || typeof e.pseq !== "number") return;
    if (this.isTerminal(e)) this.terminal(e); // the socket closes right after these
    if (e.type === "participant.reconnected" && e.pseq > this.pseq) this.peerReset(e);
    if (e.pseq <= this.pseq || this.pending.has(e.pseq)) return;
    this.pending.set(e.pseq, e);
    if (!this.joining) this.drain();
  }

  drain() {
    while (this.pending.has(this.pseq + 1)) this.applyNext(this.pseq + 1);
    for (const pseq of [...this.pending.keys()]) if (pseq <= this.pseq) this.pending.delete(pseq);
    if (!this.pending.size) {
      clearTimeout(this.gapTimer);
      this.gapTimer = null;
    } else {
      this.scheduleSync(GAP_WAIT_MS);
    }
  }

  scheduleSync(delay) {
    if (this.gapTimer || this.final) return;
    this.gapTimer = setTimeout(() => this.resolveGap(), delay);
  }

  /** A gap stayed open: fetch what we missed (or, if the server's buffer is past it, the state). */
  async resolveGap() {
    this.gapTimer = null;
    if (this.final || this.syncing || this.joining || !this.socket || !this.socket.connected) return;
    this.syncing = true;
    try {
      const ack = await this.request("room.sync", { after_seq: this.seq });
      if (ack.complete) {
        for (const e of ack.events) if (e.pseq > this.pseq) this.pending.set(e.pseq, e);
        // Everything the server has for us is here: apply it in order, over any hole left.
        for (const pseq of [...this.pending.keys()].sort((a, b) => a - b)) {
          if (pseq <= this.pseq) continue;
          if (pseq > ack.room.pseq) break;
          this.applyNext(pseq);
        }
      } else {
        for (const e of ack.events) if (e.pseq > this.pseq) this.sideEffects(e);
        this.applySnapshot(ack.room);
        if (this.me.state === "admitted") this.refreshChat();
      }
    } catch {
      this.syncing = false;
      if (!this.final) this.scheduleSync(RETRY_MS);
      return;
    }
    this.syncing = false;
    this.drain();
  }

  applyNext(pseq) {
    const e = this.pending.get(pseq);
    this.pending.delete(pseq);
    this.pseq = pseq;
    this.seq = Math.max(this.seq, e.seq);
    this.apply(e);
    this.saveResume();
  }

  isMe(pid) {
    return Boolean(this.me) && pid === this.me.pid;
  }

  isTerminal(e) {
    return e.type === "session.ended" || e.type === "lobby.denied"
      || (e.type === "participant.removed" && this.isMe(e.data.pid));
  }

  terminal(e) {
    if (this.final) return;
    if (e.type === "session.ended") this.finish("ended", { code: "ended", ...e.data });
    else if (e.type === "lobby.denied") this.finish("refused", { code: "denied", ...e.data });
    else this.finish("refused", { code: "removed", ...e.data });
  }

  peerReset(e) {
    if (this.resets.has(e.pseq)) return;
    this.resets.add(e.pseq);
    if (!this.isMe(e.data.participant.pid)) this.emit("peer-reset", { pid: e.data.participant.pid });
  }

  apply(e) {
    const d = e.data || {};
    switch (e.type) {
      case "participant.joined": {
        const p = d.participant;
        this.participants.set(p.pid, p);
        this.lobby.delete(p.pid);
        if (this.isMe(p.pid)) {
          if (this.me.state !== "admitted") this.onAdmitted();
        } else {
          this.emit("participant-joined", { participant: p });
        }
        break;
      }
      case "participant.left":
        this.participants.delete(d.pid);
        this.emit("participant-left", { pid: d.pid });
        break;
      case "participant.removed":
        this.participants.delete(d.pid);
        this.lobby.delete(d.pid);
        if (!this.isMe(d.pid)) this.emit("participant-left", { pid: d.pid, removed: true, reason: d.reason });
        break;
      case "participant.reconnecting":
        this.patch(d.pid, { connected: false });
        this.emit("participant-reconnecting", { pid: d.pid });
        break;
      case "participant.reconnected":
        this.participants.set(d.participant.pid, d.participant);
        this.peerReset(e);
        this.emit("participant-reconnected", { participant: d.participant });
        break;
      case "publisher.added":
        this.patch(d.pid, { publishing: true });
        break;
      case "publisher.removed":
        this.patch(d.pid, { publishing: false });
        break;
      case "lobby.updated":
        this.lobby = new Map(d.lobby.map((p) => [p.pid, p]));
        break;
      case "lobby.status":
        this.lobbyReason = d.reason;
        this.emit("lobby-reason", { reason: d.reason });
        break;
      case "lobby.denied":
      case "session.ended":
        this.terminal(e);
        break;
      case "chat.message":
        this.mergeMessages([d]);
        break;
      case "mute.requested":
        this.emit("mute-requested", d);
        break;
      case "recording.updated":
        this.setRecording(d);
        break;
      case "recording.consents":
        this.setRecordingConsents(d);
        break;
      case "recording.consent_requested":
        this.emit("consent-requested", d);
        break;
      default:
        break;
    }
    this.emitRoster();
  }

  patch(pid, fields) {
    const p = this.participants.get(pid);
    if (p) this.participants.set(pid, { ...p, ...fields });
  }

  // What an event still means when it is replayed rather than applied (the snapshot covers the rest).
  sideEffects(e) {
    if (e.type === "chat.message") this.mergeMessages([e.data]);
  }

  /** Admitted from the lobby: room.sync brings the roster (its snapshot), chat.history the chat. */
  async onAdmitted() {
    this.me = { ...this.me, state: "admitted" };
    this.lobbyReason = null;
    let ack = null;
    try {
      ack = await this.request("room.sync", { after_seq: this.seq });
    } catch {
      // handled below
    }
    if (!ack || !ack.room) {
      // No snapshot (an older server, or the request failed): joining again with the resume
      // token returns the same seat with the roster and the chat.
      await this.join();
      return;
    }
    for (const e of ack.events) if (e.pseq > this.pseq && e.pseq <= ack.room.pseq) this.sideEffects(e);
    this.applySnapshot(ack.room);
    this.setState("admitted");
    this.emit("admitted", {});
    await this.refreshChat();
    this.drain();
  }

  // ---- recording --------------------------------------------------------------------------

  /** The whole view, as the snapshot or a recording.updated gives it. */
  setRecording(view, { snapshot = false } = {}) {
    const previous = this.recording;
    const { stop_reason: stopReason = null, ...rest } = view || {};
    this.recording = { ...RECORDING_OFF, ...rest, recorded: Array.isArray(rest.recorded) ? rest.recorded : [] };
    this.emit("recording", { recording: this.recording, previous, stopReason, snapshot });
  }

  setRecordingConsents(data) {
    this.recordingConsents = { consents: (data && data.consents) || {}, pending: (data && data.pending) || [] };
    this.emit("recording-consents", this.recordingConsents);
  }

  /** Whether this participant is asked and has not answered in the current run: show the prompt. */
  get consentNeeded() {
    const r = this.recording;
    return Boolean(this.me) && this.me.state === "admitted" && !this.final && CONSENTING_ROLES.has(this.me.role)
      && r.state !== "off" && r.your_consent === null;
  }

  /** Whether the recorder takes this participant's media now. */
  get beingRecorded() {
    return Boolean(this.me) && this.recording.state === "on" && this.recording.recorded.includes(this.me.pid);
  }

  /** Whether this participant should send to the recorder now (docs/protocol.md): the run's id if so. */
  get recorderRun() {
    const r = this.recording;
    const sending = this.beingRecorded && r.recorder_ready && this.me.state === "admitted" && !this.final;
    return sending ? r.recording_id : null;
  }

  startRecording() { return this.request("recording.start"); }
  stopRecording(reason = "") { return this.request("recording.stop", reason ? { reason } : {}); }
  /** Answer (or change) consent; `language` is the one the prompt was shown in. */
  answerRecording(consent, language = "zh") {
    return this.request("recording.consent", { consent: Boolean(consent), language: language === "en" ? "en" : "zh" });
  }

  // ---- chat -------------------------------------------------------------------------------

  async refreshChat() {
    try {
      const ack = await this.request("chat.history", { limit: 50 });
      this.mergeMessages(ack.messages);
      this.hasMoreChat = ack.has_more;
    } catch {
      // the next join brings the history again
    }
  }

  mergeMessages(list) {
    let added = false;
    for (const m of list || []) {
      if (!m || this.messageIds.has(m.id)) continue;
      this.messageIds.add(m.id);
      this.messages.push(m);
      added = true;
    }
    if (added) {
      this.messages.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
      this.emit("chat", { messages: this.messages });
    }
  }

  /** Send a message. Retries reuse `clientId`, so the server stores and delivers it once. */
  async sendChat(text, to = null, clientId = newClientId()) {
    const body = { client_id: clientId, text };
    if (to) body.to = to;
    this.emit("chat-pending", { client_id: clientId, text, to });
    let lastError;
    for (let attempt = 0; attempt < CHAT_RETRIES; attempt++) {
      try {
        const ack = await this.request("chat.send", body);
        this.mergeMessages([ack.message]);
        return ack.message;
      } catch (err) {
        lastError = err;
        if (!TRANSIENT.has(err.code) || this.final) break;
        const wait = err.code === "rate_limited" && err.retry_after ? err.retry_after * 1000 : 500 * (attempt + 1);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    this.emit("chat-failed", { client_id: clientId, code: lastError.code, message: lastError.message });
    throw lastError;
  }

  async olderMessages() {
    const before = this.messages.length ? this.messages[0].id : undefined;
    const ack = await this.request("chat.history", before ? { before, limit: 50 } : { limit: 50 });
    this.mergeMessages(ack.messages);
    this.hasMoreChat = ack.has_more;
    return ack.has_more;
  }

  // ---- requests ---------------------------------------------------------------------------

  admit(pids = null) { return this.request("lobby.admit", pids ? { pids } : {}); }
  deny(pid, reason = "") { return this.request("lobby.deny", { pid, reason }); }
  askToMute(pid, kind = "audio") { return this.request("moderation.mute", { pid, kind }); }
  remove(pid, reason = "") { return this.request("moderation.remove", { pid, reason }); }
  endSession(reason = "") { return this.request("session.end", { reason }); }
  publish() { return this.request("media.publish"); }
  unpublish() { return this.request("media.unpublish"); }
  signal(to, message) { return this.request("signal", { to, ...message }); }

  async refreshIceServers() {
    const ack = await this.request("ice.servers");
    this.iceServers = ack.ice_servers;
    return this.iceServers;
  }

  /** Give up the seat now (a reload keeps it; this does not). */
  async leave() {
    if (this.final) return;
    // Final before the request: the server closes the socket right after its answer.
    this.state = "left";
    this.forgetResume();
    clearTimeout(this.gapTimer);
    try {
      if (this.socket && this.socket.connected) await this.request("room.leave");
    } catch {
      // The seat is released after the grace period anyway.
    } finally {
      if (this.socket) {
        this.socket.io.opts.reconnection = false;
        this.socket.disconnect();
      }
      this.emit("state", { state: "left" });
    }
  }
}
