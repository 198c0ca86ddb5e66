// The room's protocol logic, with no DOM and no WebRTC: connect, join, apply sequenced
// events in order, resync after gaps, resume after drops, chat with idempotent retries,
// and moderation requests. A view (or a later mobile client) listens to its events.
//
// Protocol: docs/protocol.md. Every request goes with an acknowledgement. The order events are
// applied in is sequencer.js's business, and what they do to the room state.js's (a reducer):
// this class moves events between the socket and those two, and says what happened.
//
// The Socket.IO client and the timers are handed in (`ioFactory`, `timers`), so that this module
// loads without a browser and tests drive it with a fake socket and a clock of their own (tests/js).
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
//   room-event   {type, data, at, replayed}  every room event, applied or replayed after a drop: for
//                                       the parts that keep their own state (minutes, the notice)

import { ServerClock } from "../minutes/document.js";
import { Sequencer } from "./sequencer.js";
import {
  beingRecorded, consentNeeded, initialRoomState, mergeMessages, recorderRun, reduce, stopReasonOf,
} from "./state.js";

// How long an event waits for the ones before it (by pseq) before we ask the server: a gap
// in pseq means an event was lost or is late (several nodes do not keep order).
const GAP_WAIT_MS = 1000;
const ACK_TIMEOUT_MS = 10000;
const CHAT_RETRIES = 5;
const RETRY_MS = 2000;
// Connection refusals worth retrying: the server or its store is having a moment.
const TRANSIENT = new Set(["unavailable", "internal_error", "rate_limited", "timeout"]);
const FINAL_STATES = new Set(["left", "ended", "refused", "replaced"]);
const TIMERS = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (id) => clearTimeout(id) };

/** The recorder's address in `signal` (docs/protocol.md, "Sending media to the recorder"). */
export const RECORDER_PID = "recorder";

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
  constructor(sessionId, { ioFactory, url = undefined, storage = globalThis.sessionStorage, timers = TIMERS } = {}) {
    super();
    this.sessionId = sessionId;
    this.url = url;
    this.storage = storage;
    this.ioFactory = ioFactory; // socket.io-client's io()
    this.timers = timers; // {setTimeout, clearTimeout}
    this.socket = null;
    this.state = "idle";
    this.room = initialRoomState(); // state.js: replaced by reduce(), never patched
    this.sequence = new Sequencer();
    this.gapTimer = null;
    this.syncing = false;
    this.joining = false;
    this.joins = 0;
    this.messages = []; // chat, oldest first
    this.hasMoreChat = false;
    this.iceServers = [];
    this.resets = new Set(); // pseqs of participant.reconnected already acted on
    this.clock = new ServerClock(); // the server's time, from the times of events as they arrive
  }

  // ---- the room as this participant sees it (state.js) -------------------------------------

  get me() { return this.room.me; }
  get participants() { return this.room.participants; }
  get lobby() { return this.room.lobby; }
  get lobbyReason() { return this.room.lobbyReason; }
  get maxPublishers() { return this.room.maxPublishers; }
  get recording() { return this.room.recording; }
  get recordingConsents() { return this.room.recordingConsents; }
  /** The roles asked for consent before they are recorded, as the server's snapshot names them. */
  get consentingRoles() { return this.room.consentingRoles; }
  /** The room's sequence number of the last event applied (for room.sync and resume). */
  get seq() { return this.sequence.seq; }
  /** This participant's own sequence number of the last event applied. */
  get pseq() { return this.sequence.pseq; }

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
    if (!this.ioFactory) throw new Error("RoomClient needs ioFactory (socket.io-client's io)");
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
    this.timers.clearTimeout(this.gapTimer);
    this.gapTimer = null;
    if (this.final || reason === "io client disconnect") return;
    if (reason === "io server disconnect") {
      // The server closes the socket after a removal or the end of the session (both announced
      // by an event that has then already arrived) or when the same person connected again
      // from another window. Socket.IO does not reconnect after this: taking the seat back
      // would only throw the other window out, so the person decides.
      this.timers.setTimeout(() => {
        if (!this.final) this.setState("replaced");
      }, 1000);
      return;
    }
    this.setState("reconnecting", { reason });
  }

  onConnectError(err) {
    const data = err && err.data;
    if (data && data.code && !TRANSIENT.has(data.code)) {
      // A refusal (revoked or expired link, ended session) is final. A session that ended while
      // this device was away says so (`reason`), so that a party is offered its documents.
      const code = data.code === "invalid_token" && data.reason === "session_ended" ? "session_ended" : data.code;
      this.finish(data.code === "invalid_token" ? "ended" : "refused", { code, message: data.message });
      return;
    }
    this.setState("reconnecting", { reason: String((err && err.message) || "") });
    // A refusal by the server is not retried by Socket.IO itself; transport errors are.
    if (!this.socket.active) this.timers.setTimeout(() => !this.final && this.socket.connect(), RETRY_MS);
  }

  /** The end of this participant's time in the room: left, ended, refused (denied, removed, bad link). */
  finish(state, detail = {}) {
    if (this.final) return;
    this.state = state;
    this.forgetResume();
    this.timers.clearTimeout(this.gapTimer);
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
        this.timers.setTimeout(() => this.socket.connected && this.join(), RETRY_MS);
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
    const previous = this.room.recording;
    this.sequence.restart(room);
    this.room = reduce(this.room, { type: "snapshot", data: room });
    this.emitRoster();
    if (this.lobbyReason) this.emit("lobby-reason", { reason: this.lobbyReason });
    if (room.recording_consents) this.emit("recording-consents", this.recordingConsents);
    this.emit("recording", { recording: this.recording, previous, stopReason: stopReasonOf(room.recording), snapshot: true });
  }

  emitRoster() {
    this.emit("roster", { participants: [...this.participants.values()], lobby: [...this.lobby.values()] });
  }

  // ---- sequenced events (docs/protocol.md: apply in pseq order) ----------------------------

  receive(e) {
    if (!e || typeof e.pseq !== "number") return;
    if (typeof e.at === "string") this.clock.observe(e.at);
    if (this.isTerminal(e)) this.terminal(e); // the socket closes right after these
    if (e.type === "participant.reconnected" && e.pseq > this.pseq) this.peerReset(e);
    if (!this.sequence.accept(e)) return; // a duplicate, or applied already
    if (!this.joining) this.drain();
  }

  drain() {
    for (let e = this.sequence.next(); e; e = this.sequence.next()) this.applied(e);
    if (!this.sequence.waiting) {
      this.timers.clearTimeout(this.gapTimer);
      this.gapTimer = null;
    } else {
      this.scheduleSync(GAP_WAIT_MS);
    }
  }

  scheduleSync(delay) {
    if (this.gapTimer || this.final) return;
    this.gapTimer = this.timers.setTimeout(() => this.resolveGap(), delay);
  }

  /** A gap stayed open: fetch what we missed (or, if the server's buffer is past it, the state). */
  async resolveGap() {
    this.gapTimer = null;
    if (this.final || this.syncing || this.joining || !this.socket || !this.socket.connected) return;
    this.syncing = true;
    try {
      const ack = await this.request("room.sync", { after_seq: this.seq });
      if (ack.complete) {
        // Everything the server has for us is here: apply it in order, over any hole left.
        for (const e of this.sequence.replay(ack.events, ack.room.pseq)) this.applied(e);
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

  /** An event whose turn it is (the sequencer has marked it applied). */
  applied(e) {
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

  /** Apply one event: the reducer changes the state; what it means is announced here. */
  apply(e) {
    const d = e.data || {};
    const before = this.room;
    this.room = reduce(before, e);
    switch (e.type) {
      case "participant.joined":
        if (!this.isMe(d.participant.pid)) this.emit("participant-joined", { participant: d.participant });
        else if (before.me.state !== "admitted") this.onAdmitted();
        break;
      case "participant.left":
        this.emit("participant-left", { pid: d.pid });
        break;
      case "participant.removed":
        if (!this.isMe(d.pid)) this.emit("participant-left", { pid: d.pid, removed: true, reason: d.reason });
        break;
      case "participant.reconnecting":
        this.emit("participant-reconnecting", { pid: d.pid });
        break;
      case "participant.reconnected":
        this.peerReset(e);
        this.emit("participant-reconnected", { participant: d.participant });
        break;
      case "lobby.status":
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
        this.emit("recording", { recording: this.recording, previous: before.recording, stopReason: stopReasonOf(d), snapshot: false });
        break;
      case "recording.consents":
        this.emit("recording-consents", this.recordingConsents);
        break;
      case "recording.consent_requested":
        this.emit("consent-requested", d);
        break;
      default:
        break;
    }
    this.emit("room-event", { type: e.type, data: d, at: e.at, replayed: false });
    this.emitRoster();
  }

  // What an event still means when it is replayed rather than applied (the snapshot covers the rest).
  sideEffects(e) {
    if (e.type === "chat.message") this.mergeMessages([e.data]);
    this.emit("room-event", { type: e.type, data: e.data || {}, at: e.at, replayed: true });
  }

  /** Admitted from the lobby: room.sync brings the roster (its snapshot), chat.history the chat. */
  async onAdmitted() {
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

  /** The whole view, as a recording.updated gives it (support and the browser tests call this too). */
  setRecording(view, { snapshot = false } = {}) {
    const previous = this.recording;
    this.room = reduce(this.room, { type: "recording.updated", data: view });
    this.emit("recording", { recording: this.recording, previous, stopReason: stopReasonOf(view), snapshot });
  }

  /** Whether this participant is asked and has not answered in the current run: show the prompt. */
  get consentNeeded() {
    return consentNeeded(this.room, { final: this.final });
  }

  /** Whether the recorder takes this participant's media now. */
  get beingRecorded() {
    return beingRecorded(this.room);
  }

  /** Whether this participant should send to the recorder now (docs/protocol.md): the run's id if so. */
  get recorderRun() {
    return recorderRun(this.room, { final: this.final });
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
    const { messages, added } = mergeMessages(this.messages, list);
    if (!added) return;
    this.messages = messages;
    this.emit("chat", { messages });
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
        await new Promise((r) => this.timers.setTimeout(r, wait));
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
    this.timers.clearTimeout(this.gapTimer);
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
