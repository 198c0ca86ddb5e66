// The room page: wires the protocol client (client.js), this browser's camera and microphone
// (media.js), the peer connections (mesh.js) and the recorder connection (recorder.js) to the
// view (view.js). The rules of what to show live here; the view only draws them.

import { loadCatalog, t } from "../i18n.js";
import { CONSENTING_ROLES, RECORDER_PID, RoomClient } from "./client.js";
import { LocalMedia } from "./media.js";
import { Mesh } from "./mesh.js";
import { RecorderLink } from "./recorder.js";
import { RoomView } from "./view.js";

const ROLE_ORDER = ["mediator", "expert", "applicant", "respondent", "agent", "observer"];
// Voice activity: about -40 dBov (mesh "levels" are the RMS of the received audio level since
// the last look, linear, 1 = 0 dBov).
const SPEAKING_LEVEL = 0.01;
const LOCAL_SPEAKING_LEVEL = 0.05; // LocalMedia.level(): 5 × RMS
const SPEAKING_HOLD_MS = 800; // the marker stays a moment after a sound, so it does not flicker

function problemText(problems, audioOnly) {
  const a = problems.audio;
  const v = audioOnly ? null : problems.video;
  if (a === "unsupported" || v === "unsupported") {
    return t("This browser cannot use the camera and microphone on this page. Open the link in an up-to-date browser such as Chrome, Edge, Firefox or Safari. You can still join to watch, listen and chat.");
  }
  if (a === "denied" && v === "denied") {
    return t("Access to the camera and microphone was refused. To be seen and heard, allow them in the browser's site settings (next to the address bar), then reload the page. You can still join to watch, listen and chat.");
  }
  if (a === "missing" && v === "missing") {
    return t("No camera or microphone was found. You can still join to watch, listen and chat.");
  }
  const parts = [];
  if (a === "denied") parts.push(t("Access to the microphone was refused: the others will not hear you."));
  if (a === "missing") parts.push(t("No microphone was found: the others will not hear you."));
  if (a === "busy") parts.push(t("The microphone is being used by another program. Close it and reload the page."));
  if (v === "denied") parts.push(t("Access to the camera was refused: the others will hear you but not see you."));
  if (v === "missing") parts.push(t("No camera was found: you will join with audio only."));
  if (v === "busy") parts.push(t("The camera is being used by another program. Close it and reload the page."));
  return parts.join(" ");
}

/** What a failed request means, in the reader's language (the server's message is English). */
function errorText(err) {
  switch (err && err.code) {
    case "unknown_participant": return t("That person is no longer in the session.");
    case "rate_limited": return t("Too many requests: wait a moment and try again.");
    case "timeout": return t("The server did not answer. Check the network and try again.");
    case "forbidden": return t("You are not allowed to do that.");
    case "session_ended": return t("The session has ended");
    default: return t("That did not work. Try again.");
  }
}

/** Why a recording stopped, for the mediator, when it was not their doing; null otherwise. */
function recordingStopText(reason) {
  switch (reason) {
    case "disk_full":
      return t("Recording stopped: the server's disk is full. What was recorded until then is kept. Tell the system administrator.");
    case "disk_error":
      return t("Recording stopped: the server could not write the recording. What was recorded until then is kept. Tell the system administrator.");
    case "recorder_error":
      return t("Recording stopped: the recorder failed. What was recorded until then is kept. You can start recording again.");
    default:
      return null;
  }
}

class RoomPage {
  constructor(root) {
    const data = root.dataset;
    this.sessionId = data.sessionId;
    this.grants = new Set((data.grants || "").split(" ").filter(Boolean));
    this.canPublish = this.grants.has("publish");
    this.canModerate = this.grants.has("moderate");
    this.canRecord = this.grants.has("control_recording");
    this.lang = data.lang === "en" ? "en" : "zh"; // the language the consent prompt is shown in
    this.videoMaxKbps = Number(data.videoMaxKbps) || 500;
    this.view = new RoomView(root);
    this.media = new LocalMedia();
    this.client = new RoomClient(this.sessionId);
    this.mesh = null;
    this.recorder = new RecorderLink({
      sendSignal: (message) => this.client.signal(RECORDER_PID, message),
      iceServers: () => this.client.iceServers,
      videoMaxKbps: this.videoMaxKbps,
    });
    this.recordBusy = false; // a start or stop request is under way
    this.consentBusy = false; // an answer is on its way
    this.consentDismissed = null; // the run whose prompt was closed without an answer
    this.prefsKey = `heshi:prefs:${this.sessionId}`;
    const prefs = this.loadPrefs();
    this.audioOnly = Boolean(prefs.audioOnly);
    this.micOn = prefs.micOn !== false;
    this.cameraOn = prefs.cameraOn !== false;
    this.media.audioDeviceId = prefs.audio || "";
    this.media.videoDeviceId = prefs.video || "";
    this.publishing = false;
    this.names = new Map();
    this.quality = new Map();
    this.peerStates = new Map();
    this.remoteStates = new Map();
    this.speaking = new Set();
    this.lastSound = new Map(); // pid -> when a sound was last heard from them
    this.unsent = new Map(); // client id -> {text, to}: messages not acknowledged yet
    this.selfStream = null;
    this.earlySignals = [];
    this.meshReady = false;
    this.meterTimer = null;
    this.renderQueued = false;
  }

  // ---- preferences kept across a reload of this tab ------------------------------------------

  loadPrefs() {
    try {
      return JSON.parse(sessionStorage.getItem(this.prefsKey) || "{}") || {};
    } catch {
      return {};
    }
  }

  savePrefs() {
    sessionStorage.setItem(this.prefsKey, JSON.stringify({
      audioOnly: this.audioOnly, micOn: this.micOn, cameraOn: this.cameraOn,
      audio: this.media.audioDeviceId, video: this.media.videoDeviceId,
    }));
  }

  // ---- start ------------------------------------------------------------------------------

  async start() {
    this.bindView();
    this.bindClient();
    this.media.addEventListener("change", () => this.localMediaChanged());
    this.view.audioOnlyChoice = this.audioOnly;
    this.view.show("prejoin");
    const rejoin = this.client.wasInRoom;
    if (rejoin) this.view.setJoinStatus(t("Returning to your seat…"));
    await this.openMedia();
    if (rejoin) {
      // A reload (or a return after a crash) goes back to the same seat without asking again.
      this.join();
    } else {
      this.view.setJoinEnabled(true);
      this.meterTimer = setInterval(() => this.view.setMeter(this.media.level()), 100);
    }
  }

  async openMedia() {
    if (!this.canPublish) return;
    const problems = await this.media.open({ audio: true, video: !this.audioOnly && this.cameraOn });
    this.media.setMic(this.micOn);
    await this.refreshDevices();
    this.view.setProblem(problemText(problems, this.audioOnly || !this.cameraOn));
    this.localMediaChanged();
  }

  async refreshDevices() {
    try {
      const devices = await this.media.devices();
      this.view.setDevices(devices, { audio: this.media.audioDeviceId, video: this.media.videoDeviceId },
                           this.media.problems);
    } catch {
      // device names are a convenience
    }
  }

  localMediaChanged() {
    const tracks = [this.media.audioTrack, this.media.videoTrack].filter(Boolean);
    this.selfStream = new MediaStream(tracks);
    this.view.setPreview(this.selfStream, {
      hasVideo: Boolean(this.media.videoTrack), hasAudio: Boolean(this.media.audioTrack),
      problem: Boolean(this.media.problems.video) && !this.audioOnly,
    });
    if (this.mesh && this.publishing) {
      this.mesh.setTrack("audio", this.media.audioTrack);
      this.mesh.setTrack("video", this.media.videoTrack);
    }
    this.syncRecorder();
    this.queueRender();
  }

  join() {
    clearInterval(this.meterTimer);
    this.view.setJoinEnabled(false);
    this.view.setJoinStatus(t("Connecting…"));
    this.media.resumeAudio();
    this.savePrefs();
    this.client.connect();
  }

  // ---- the protocol client ----------------------------------------------------------------------

  bindClient() {
    const c = this.client;
    c.addEventListener("state", (e) => this.onState(e.detail));
    c.addEventListener("joined", (e) => this.onJoined(e.detail));
    c.addEventListener("admitted", () => this.enterRoom({ fresh: false }));
    c.addEventListener("roster", () => {
      this.rememberNames();
      this.syncPeers();
      this.queueRender();
    });
    c.addEventListener("lobby-reason", (e) => this.view.setLobbyReason(e.detail.reason));
    c.addEventListener("peer-reset", (e) => {
      if (this.mesh && this.admitted) this.mesh.remoteRestarted(e.detail.pid);
    });
    c.addEventListener("participant-joined", (e) => this.view.toast(t("%(name)s joined", { name: e.detail.participant.name })));
    c.addEventListener("participant-left", (e) => {
      const name = this.names.get(e.detail.pid) || t("Someone");
      this.view.toast(e.detail.removed ? t("%(name)s was removed", { name }) : t("%(name)s left", { name }));
      if (this.mesh) this.mesh.closePeer(e.detail.pid);
    });
    c.addEventListener("chat", (e) => {
      for (const m of e.detail.messages) {
        this.names.set(m.from.pid, m.from.name);
        this.unsent.delete(m.client_id);
      }
      this.view.renderChat(e.detail.messages, { myPid: c.me && c.me.pid, nameOf: (pid) => this.nameOf(pid) });
    });
    c.addEventListener("chat-pending", (e) => {
      const { client_id: clientId, text, to } = e.detail;
      this.unsent.set(clientId, { text, to });
      this.view.addPending({ clientId, text, to, toName: to ? this.nameOf(to) : "" });
    });
    c.addEventListener("chat-failed", (e) => this.view.failPending(e.detail.client_id));
    c.addEventListener("mute-requested", (e) => this.onMuteRequested(e.detail));
    c.addEventListener("signal", (e) => {
      // The server relays signals only between admitted members: one may arrive before the
      // event that admits us has been applied, or even before the answer to room.join.
      // Until this side knows what it sends, signals wait, so that the first answer carries our media.
      if (this.client.final) return;
      if (this.mesh && this.meshReady) this.mesh.handleSignal(e.detail);
      else this.earlySignals.push(e.detail);
    });
    c.addEventListener("recording", (e) => this.onRecording(e.detail));
    c.addEventListener("recording-consents", () => this.queueRender());
    c.addEventListener("consent-requested", () => {
      this.consentDismissed = null;
      this.updateConsent();
    });
    // The recorder's answers: for the recorder connection only, never the mesh.
    c.addEventListener("recorder-signal", (e) => this.recorder.handleSignal(e.detail));
    c.addEventListener("server-error", (e) => console.warn("server error", e.detail));
  }

  get admitted() {
    return this.client.me && this.client.me.state === "admitted" && !this.client.final;
  }

  nameOf(pid) {
    return this.names.get(pid) || t("Someone");
  }

  rememberNames() {
    for (const p of this.client.participants.values()) this.names.set(p.pid, p.name);
    for (const p of this.client.lobby.values()) this.names.set(p.pid, p.name);
  }

  onState({ state, code, reason, message }) {
    switch (state) {
      case "connecting":
        if (this.view.screen === "prejoin") this.view.setJoinStatus(t("Connecting…"));
        break;
      case "reconnecting":
        if (this.view.screen === "prejoin") {
          this.view.setJoinStatus(t("Cannot reach the server. Check the network; trying again…"));
        } else {
          this.view.setConnection(t("The connection to the server was lost. Reconnecting…"));
        }
        break;
      case "lobby":
        this.view.setConnection(null);
        this.view.show("lobby");
        break;
      case "admitted":
        this.view.setConnection(null);
        break;
      case "replaced":
        this.stopMedia(false);
        this.view.showEnded({
          title: t("This session is open in another window"),
          text: t("You opened this session in another window or on another device. Only one of them can take part."),
          takeOver: true,
        });
        break;
      case "left":
        this.stopMedia(true);
        this.view.showEnded({
          title: t("You have left the session"),
          text: t("You can come back with the same link while the session is running."), rejoin: true,
        });
        break;
      case "ended":
        this.stopMedia(true);
        this.view.showEnded({ title: t("The session has ended"), text: t("Thank you for taking part."), reason });
        break;
      case "refused":
        this.stopMedia(true);
        this.showRefused(code, reason, message);
        break;
      default:
        break;
    }
  }

  showRefused(code, reason) {
    if (code === "denied") {
      this.view.showEnded({ title: t("You were not admitted"), text: t("The mediator did not let you into this session."), reason });
    } else if (code === "removed") {
      this.view.showEnded({ title: t("You were removed from the session"), text: t("The mediator removed you from this session."), reason });
    } else {
      this.view.showEnded({ title: t("This link can no longer be used"), text: t("Ask the mediator for a new link.") });
    }
  }

  onJoined({ resumed, reconnect }) {
    const me = this.client.me;
    this.names.set(me.pid, me.name);
    if (!this.mesh) this.createMesh(me.pid);
    // A new connection that took back a seat: the others set media up again with us.
    if (me.state === "admitted") this.enterRoom({ fresh: resumed || reconnect });
    else this.view.setLobbyReason(this.client.lobbyReason);
  }

  createMesh(pid) {
    this.mesh = new Mesh({
      myPid: pid,
      sendSignal: (to, message) => this.client.signal(to, message),
      iceServers: () => this.client.iceServers,
      videoMaxKbps: this.videoMaxKbps,
    });
    this.mesh.setLocalState({ audio: this.micOn, video: this.cameraOn, audioOnly: this.audioOnly });
    this.mesh.audioOnly = this.audioOnly;
    const m = this.mesh;
    m.addEventListener("media", (e) => {
      this.view.setTileStream(e.detail.pid, e.detail.stream);
      this.queueRender();
    });
    m.addEventListener("peer-added", () => this.queueRender());
    m.addEventListener("peer-removed", () => this.queueRender());
    m.addEventListener("peer-state", (e) => {
      this.peerStates.set(e.detail.pid, e.detail.state);
      this.queueRender();
    });
    m.addEventListener("remote-state", (e) => {
      this.remoteStates.set(e.detail.pid, e.detail.state);
      this.queueRender();
    });
    m.addEventListener("quality", (e) => {
      if (this.quality.get(e.detail.pid) !== e.detail.quality) {
        this.quality.set(e.detail.pid, e.detail.quality);
        this.queueRender();
      }
    });
    m.addEventListener("levels", (e) => this.onLevels(e.detail.levels));
    m.start();
  }

  /** In the room. On a new connection to a kept seat, media starts again from scratch (docs/protocol.md). */
  async enterRoom({ fresh }) {
    this.view.show("stage");
    this.view.setConnection(null);
    this.meshReady = false;
    this.mesh.start();
    if (fresh) this.mesh.restartAll();
    await this.startPublishing();
    this.meshReady = true;
    for (const signal of this.earlySignals.splice(0)) this.mesh.handleSignal(signal);
    this.syncPeers({ snapshot: true });
    this.syncRecorder();
    this.updateConsent();
    this.queueRender();
    this.view.setUnread(0);
  }

  async startPublishing() {
    const hasMedia = Boolean(this.media.audioTrack || this.media.videoTrack);
    if (!this.canPublish || !hasMedia) return;
    try {
      await this.client.publish();
      this.publishing = true;
    } catch (err) {
      this.publishing = false;
      if (err.code === "publisher_limit") {
        this.view.toast(t("The session is full: you can watch, listen and chat, but the others cannot see or hear you."));
      }
    }
    await this.mesh.setTrack("audio", this.publishing ? this.media.audioTrack : null);
    await this.mesh.setTrack("video", this.publishing ? this.media.videoTrack : null);
  }

  /** A connection with every other member who is connected. (Connections end with the event
   *  that someone left, or with a snapshot that no longer lists them: a roster built from
   *  events alone may not list everyone yet.) */
  syncPeers({ snapshot = false } = {}) {
    if (!this.mesh || !this.meshReady || !this.admitted) return;
    const me = this.client.me.pid;
    for (const p of this.client.participants.values()) {
      if (p.pid !== me && p.connected && !this.mesh.has(p.pid)) this.mesh.ensurePeer(p.pid);
    }
    if (!snapshot) return;
    for (const pid of [...this.mesh.peers.keys()]) {
      if (!this.client.participants.has(pid)) this.mesh.closePeer(pid);
    }
  }

  onMuteRequested({ kind }) {
    if (kind === "video") {
      if (this.cameraOn && !this.audioOnly) this.toggleCamera();
      this.view.toast(t("The mediator asked you to turn off your camera. It is now off."));
    } else {
      if (this.micOn) this.toggleMic();
      this.view.toast(t("The mediator asked you to mute your microphone. It is now off: press Unmute to speak."));
    }
  }

  onLevels(levels) {
    const now = performance.now();
    for (const [pid, level] of levels) if (level > SPEAKING_LEVEL) this.lastSound.set(pid, now);
    const me = this.client.me && this.client.me.pid;
    if (me && this.micOn && this.media.level() > LOCAL_SPEAKING_LEVEL) this.lastSound.set(me, now);
    const next = new Set();
    for (const [pid, at] of this.lastSound) if (now - at < SPEAKING_HOLD_MS) next.add(pid);
    for (const pid of new Set([...next, ...this.speaking])) {
      if (next.has(pid) !== this.speaking.has(pid)) this.view.setSpeaking(pid, next.has(pid));
    }
    this.speaking = next;
  }

  stopMedia(release) {
    clearInterval(this.meterTimer);
    if (this.mesh) this.mesh.stop();
    this.recorder.stop();
    this.view.showConsent(false);
    this.publishing = false;
    if (release) this.media.stop();
  }

  // ---- what the person asks for -----------------------------------------------------------------

  bindView() {
    const v = this.view;
    v.addEventListener("join", () => this.join());
    v.addEventListener("device", (e) => this.changeDevice(e.detail.kind, e.detail.deviceId));
    v.addEventListener("audio-only-choice", (e) => this.chooseAudioOnly(e.detail.on));
    v.addEventListener("mic", () => this.toggleMic());
    v.addEventListener("camera", () => this.toggleCamera());
    v.addEventListener("audio-only", () => this.setAudioOnly(!this.audioOnly));
    v.addEventListener("leave", () => this.leave());
    v.addEventListener("admit", (e) => this.act(() => this.client.admit(e.detail.pid ? [e.detail.pid] : null)));
    v.addEventListener("deny", (e) => this.deny(e.detail.pid));
    v.addEventListener("ask-mute", (e) => this.act(async () => {
      await this.client.askToMute(e.detail.pid, "audio");
      this.view.toast(t("%(name)s was asked to mute.", { name: this.nameOf(e.detail.pid) }));
    }));
    v.addEventListener("remove", (e) => this.remove(e.detail.pid));
    v.addEventListener("chat-send", (e) => this.client.sendChat(e.detail.text, e.detail.to).catch(() => {}));
    v.addEventListener("chat-retry", (e) => {
      const message = this.unsent.get(e.detail.clientId);
      if (message) this.client.sendChat(message.text, message.to, e.detail.clientId).catch(() => {});
    });
    v.addEventListener("sound", () => {
      this.media.resumeAudio();
      this.view.playAll();
      this.view.setSoundBlocked(false);
    });
    v.addEventListener("autoplay-blocked", () => this.view.setSoundBlocked(true));
    v.addEventListener("rejoin", () => window.location.reload());
    v.addEventListener("record", () => this.toggleRecording());
    v.addEventListener("consent", (e) => this.answerConsent(e.detail.consent));
    v.addEventListener("consent-dismissed", () => {
      this.consentDismissed = this.client.recording.recording_id;
      this.queueRender();
    });
    v.addEventListener("consent-open", () => {
      this.consentDismissed = null;
      this.updateConsent();
    });
    v.addEventListener("take-over", async () => {
      if (this.canPublish && !this.media.audioTrack && !this.media.videoTrack) await this.openMedia();
      this.client.takeOver();
    });
  }

  /** Run a request; say so if it fails. */
  async act(fn) {
    try {
      await fn();
    } catch (err) {
      this.view.toast(errorText(err));
    }
  }

  async changeDevice(kind, deviceId) {
    if (!deviceId) return;
    await this.media.useDevice(kind, deviceId);
    this.savePrefs();
  }

  async chooseAudioOnly(on) {
    this.audioOnly = on;
    if (on) this.media.stopCamera();
    else if (this.cameraOn) await this.media.startCamera();
    this.view.setProblem(problemText(this.media.problems, this.audioOnly));
    this.savePrefs();
  }

  toggleMic() {
    this.micOn = !this.micOn;
    this.media.setMic(this.micOn);
    if (this.mesh) this.mesh.setLocalState({ audio: this.micOn });
    this.savePrefs();
    this.queueRender();
  }

  async toggleCamera() {
    if (this.audioOnly) return;
    if (this.cameraOn) {
      this.cameraOn = false;
      this.media.stopCamera();
    } else {
      const ok = await this.media.startCamera();
      if (!ok) {
        this.view.toast(problemText({ audio: null, video: this.media.problems.video }, false) || t("The camera could not be started."));
        return;
      }
      this.cameraOn = true;
    }
    if (this.mesh) this.mesh.setLocalState({ video: this.cameraOn });
    this.savePrefs();
    this.queueRender();
  }

  /** Audio only, at any time: stop sending and receiving video with everyone. */
  async setAudioOnly(on) {
    this.audioOnly = on;
    if (on) {
      this.media.stopCamera();
    } else if (this.cameraOn && this.canPublish) {
      await this.media.startCamera();
    }
    if (this.mesh) {
      this.mesh.setLocalState({ audioOnly: on });
      await this.mesh.setAudioOnly(on);
    }
    this.syncRecorder();
    this.view.toast(on ? t("Audio only: video is off both ways. This helps on a weak network.") : t("Video is back on."));
    this.savePrefs();
    this.queueRender();
  }

  async leave() {
    if (this.client.state !== "admitted" && this.client.state !== "lobby") {
      this.client.leave();
      return;
    }
    const mediator = this.canModerate && this.client.state === "admitted";
    const answer = await this.view.confirm({
      title: t("Leave the session?"),
      text: mediator ? t("You can leave and come back, or end the session for everyone.")
        : t("You can come back with the same link while the session is running."),
      ok: t("Leave"), extra: mediator ? t("End for everyone") : null,
    });
    if (answer.action === "ok") await this.client.leave();
    else if (answer.action === "extra") await this.act(() => this.client.endSession());
  }

  async deny(pid) {
    const name = this.nameOf(pid);
    const answer = await this.view.confirm({
      title: t("Deny %(name)s?", { name }), text: t("They cannot enter this session with their link any more."),
      ok: t("Deny"), reason: true, danger: true,
    });
    if (answer.action === "ok") await this.act(() => this.client.deny(pid, answer.reason));
  }

  async remove(pid) {
    const name = this.nameOf(pid);
    const answer = await this.view.confirm({
      title: t("Remove %(name)s?", { name }), text: t("They leave the session at once and their link stops working."),
      ok: t("Remove"), reason: true, danger: true,
    });
    if (answer.action === "ok") await this.act(() => this.client.remove(pid, answer.reason));
  }

  // ---- recording --------------------------------------------------------------------------------

  onRecording({ recording, previous, stopReason, snapshot }) {
    if (snapshot) {
      // A join or a resync: no news to announce, only a state to show.
    } else if (previous.state !== "off" && recording.state === "off") {
      this.consentDismissed = null;
      const why = this.canRecord ? recordingStopText(stopReason) : null;
      if (why) this.view.setRecordingAlert(why);
      else if (this.admitted) this.view.toast(t("Recording has stopped."));
    }
    if (recording.state !== "off") this.view.setRecordingAlert(null);
    this.syncRecorder();
    this.updateConsent();
    this.queueRender();
  }

  /** Send to the recorder exactly while docs/protocol.md says to: recording on, the recorder
   *  ready, this participant in `recorded`, and something to send. */
  syncRecorder() {
    const sending = this.publishing && this.admitted;
    this.recorder.setTrack("audio", sending ? this.media.audioTrack : null);
    this.recorder.setTrack("video", sending && !this.audioOnly ? this.media.videoTrack : null);
    this.recorder.want(sending ? this.client.recorderRun : null);
  }

  /** The prompt shows while this participant's answer is needed, unless they closed it unanswered. */
  updateConsent() {
    const c = this.client;
    const show = c.consentNeeded && !this.consentBusy && this.view.screen === "stage"
      && this.consentDismissed !== c.recording.recording_id;
    this.view.showConsent(show);
  }

  async answerConsent(consent) {
    if (this.consentBusy) return;
    this.consentBusy = true;
    this.view.showConsent(false);
    try {
      // The recording bar says what the answer means (a live region): no toast on top of it.
      await this.client.answerRecording(consent, this.lang);
    } catch (err) {
      this.view.toast(errorText(err));
    } finally {
      this.consentBusy = false;
      this.updateConsent();
      this.queueRender();
    }
  }

  async toggleRecording() {
    if (this.recordBusy || !this.canRecord) return;
    const running = this.client.recording.state !== "off";
    if (running) {
      const answer = await this.view.confirm({
        title: t("Stop recording?"), text: t("What was recorded until now is kept with the case."),
        ok: t("Stop recording"), danger: true,
      });
      if (answer.action !== "ok" || this.client.recording.state === "off") return;
    }
    this.recordBusy = true;
    this.queueRender();
    try {
      if (running) await this.client.stopRecording();
      else {
        this.view.setRecordingAlert(null);
        await this.client.startRecording();
      }
    } catch (err) {
      // A conflict means someone else (or the API) got there first: the room's state says which.
      if (err.code !== "conflict") this.view.toast(errorText(err));
    } finally {
      this.recordBusy = false;
      this.queueRender();
    }
  }

  renderRecording() {
    const c = this.client;
    const r = c.recording;
    this.view.setRecordButton({ state: r.state, busy: this.recordBusy });
    if (!this.admitted || r.state === "off") {
      this.view.setRecordingBar(null);
      this.view.setRecordingConsents({ visible: false, pending: [], refused: [] });
      return;
    }
    const on = r.state === "on";
    let self = null;
    let change = null;
    if (c.me && CONSENTING_ROLES.has(c.me.role)) {
      if (r.your_consent === "granted") {
        // Someone with nothing to send (no camera or microphone) is not recorded, whatever they said.
        self = on && this.publishing ? t("You are being recorded.") : t("You agreed to be recorded.");
        change = "withdraw";
      } else if (r.your_consent === "refused") {
        self = t("You are not being recorded.");
        change = "grant";
      } else {
        self = t("You have not answered yet.");
        change = "answer";
      }
    } else if (this.canRecord && on && !r.recorder_ready) {
      self = t("The recorder is starting…");
    }
    this.view.setRecordingBar({
      on, text: on ? t("Recording") : t("Waiting for everyone to agree to the recording…"), self, change,
    });
    if (this.canRecord) {
      const { consents, pending } = c.recordingConsents;
      const refused = Object.keys(consents).filter((pid) => consents[pid] === "refused");
      this.view.setRecordingConsents({
        visible: true, pending: pending.map((pid) => this.nameOf(pid)), refused: refused.map((pid) => this.nameOf(pid)),
      });
    }
  }

  // ---- drawing --------------------------------------------------------------------------------

  queueRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  render() {
    const c = this.client;
    const hasCamera = Boolean(this.media.videoTrack) || (this.cameraOn === false && this.media.problems.video === null);
    this.view.setControls({
      micOn: this.micOn, hasMic: Boolean(this.media.audioTrack), cameraOn: this.cameraOn && !this.audioOnly,
      hasCamera, audioOnly: this.audioOnly,
    });
    if (!c.me) return;
    const me = c.me.pid;
    const people = [...c.participants.values()].sort((a, b) => {
      if ((a.pid === me) !== (b.pid === me)) return a.pid === me ? 1 : -1;
      const r = ROLE_ORDER.indexOf(a.role) - ROLE_ORDER.indexOf(b.role);
      return r || a.name.localeCompare(b.name);
    });
    const tiles = [];
    const roster = [];
    for (const p of people) {
      const mine = p.pid === me;
      const remote = this.remoteStates.get(p.pid) || { audio: true, video: true, audioOnly: false };
      const peerState = this.peerStates.get(p.pid);
      const reconnecting = !mine && (!p.connected || peerState === "disconnected" || peerState === "failed");
      const micOn = mine ? this.micOn && Boolean(this.media.audioTrack) : remote.audio;
      const audioOnly = mine ? this.audioOnly : remote.audioOnly;
      roster.push({ pid: p.pid, name: p.name, role: p.role, me: mine, reconnecting, micOn: p.publishing ? micOn : null,
                    audioOnly, quality: this.quality.get(p.pid), canPublish: p.publishing });
      if (!(p.publishing || (mine && this.publishing))) continue;
      let notice = null;
      let videoVisible;
      if (mine) {
        videoVisible = Boolean(this.media.videoTrack) && !this.audioOnly;
        if (this.audioOnly) notice = t("Audio only");
        else if (!this.media.videoTrack) notice = t("Camera off");
      } else {
        videoVisible = !this.audioOnly && remote.video && !remote.audioOnly && this.mesh.videoArriving(p.pid);
        if (reconnecting) notice = t("Reconnecting…");
        else if (!peerState || peerState === "new" || peerState === "connecting") notice = t("Connecting…");
        else if (remote.audioOnly || this.audioOnly) notice = t("Audio only");
        else if (!remote.video) notice = t("Camera off");
      }
      tiles.push({ pid: p.pid, name: p.name, role: p.role, me: mine, videoVisible, micOn, notice, reconnecting,
                   quality: mine ? null : this.quality.get(p.pid), speaking: this.speaking.has(p.pid) });
    }
    this.view.renderTiles(tiles);
    this.view.setTileStream(me, this.selfStream);
    if (this.mesh) for (const peer of this.mesh.peers.values()) this.view.setTileStream(peer.pid, peer.stream);
    const waiting = this.canModerate ? [...c.lobby.values()] : [];
    this.view.renderPeople(roster, waiting, { moderator: this.canModerate });
    this.view.setWaitingCount(waiting.length);
    const targets = people.filter((p) => p.pid !== me && (this.canModerate || p.role === "mediator"));
    this.view.setChatTargets(targets.map((p) => ({ pid: p.pid, name: p.name })));
    this.renderRecording();
  }
}

loadCatalog();
const root = document.getElementById("room");
if (root) {
  const page = new RoomPage(root);
  // For support and for the browser tests: the live objects of this page.
  window.heshiRoom = page;
  page.start();
}
