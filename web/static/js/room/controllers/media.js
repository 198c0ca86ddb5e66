// This participant's media and the others': the camera and microphone (media.js), the
// preferences kept across a reload, devices, audio only, publishing, the peer connections
// (mesh.js) with their quality and who is speaking, and what the tiles show. The rules live
// here; views/media.js only draws them.

import { t } from "../../i18n.js";
import { LocalMedia } from "../media.js";
import { Mesh } from "../mesh.js";

// Voice activity: about -40 dBov (mesh "levels" are the RMS of the received audio level since
// the last look, linear, 1 = 0 dBov).
const SPEAKING_LEVEL = 0.01;
const LOCAL_SPEAKING_LEVEL = 0.05; // LocalMedia.level(): 5 × RMS
const SPEAKING_HOLD_MS = 800; // the marker stays a moment after a sound, so it does not flicker

/** Why the camera or microphone cannot be used, and what to do about it; "" when nothing is wrong. */
export function problemText(problems, audioOnly) {
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

export class MediaController {
  constructor(page) {
    this.page = page;
    this.client = page.client;
    this.view = page.view.media;
    this.media = new LocalMedia();
    this.mesh = null;
    this.prefsKey = `heshi:prefs:${page.sessionId}`;
    const prefs = this.loadPrefs();
    this.audioOnly = Boolean(prefs.audioOnly);
    this.micOn = prefs.micOn !== false;
    this.cameraOn = prefs.cameraOn !== false;
    this.media.audioDeviceId = prefs.audio || "";
    this.media.videoDeviceId = prefs.video || "";
    this.publishing = false;
    this.quality = new Map();
    this.peerStates = new Map();
    this.remoteStates = new Map();
    this.speaking = new Set();
    this.lastSound = new Map(); // pid -> when a sound was last heard from them
    this.selfStream = null;
    this.earlySignals = [];
    this.meshReady = false;
    this.meterTimer = null;
  }

  bind() {
    const v = this.page.view;
    v.addEventListener("device", (e) => this.changeDevice(e.detail.kind, e.detail.deviceId));
    v.addEventListener("audio-only-choice", (e) => this.chooseAudioOnly(e.detail.on));
    v.addEventListener("mic", () => this.toggleMic());
    v.addEventListener("camera", () => this.toggleCamera());
    v.addEventListener("audio-only", () => this.setAudioOnly(!this.audioOnly));
    v.addEventListener("sound", () => {
      this.media.resumeAudio();
      this.view.playAll();
      this.view.setSoundBlocked(false);
    });
    v.addEventListener("autoplay-blocked", () => this.view.setSoundBlocked(true));
    const c = this.client;
    c.addEventListener("roster", () => this.syncPeers());
    c.addEventListener("peer-reset", (e) => {
      if (this.mesh && this.page.admitted) this.mesh.remoteRestarted(e.detail.pid);
    });
    c.addEventListener("participant-left", (e) => {
      if (this.mesh) this.mesh.closePeer(e.detail.pid);
    });
    c.addEventListener("mute-requested", (e) => this.onMuteRequested(e.detail));
    c.addEventListener("signal", (e) => {
      // The server relays signals only between admitted members: one may arrive before the
      // event that admits us has been applied, or even before the answer to room.join.
      // Until this side knows what it sends, signals wait, so that the first answer carries our media.
      if (this.client.final) return;
      if (this.mesh && this.meshReady) this.mesh.handleSignal(e.detail);
      else this.earlySignals.push(e.detail);
    });
    this.media.addEventListener("change", () => this.localMediaChanged());
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

  // ---- before joining ---------------------------------------------------------------------------

  async openMedia() {
    if (!this.page.canPublish) return;
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

  startMeter() {
    this.meterTimer = setInterval(() => this.view.setMeter(this.media.level()), 100);
  }

  /** Joining: the meter stops, and audio may start (the person has pressed a button). */
  joining() {
    clearInterval(this.meterTimer);
    this.media.resumeAudio();
    this.savePrefs();
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
    this.page.mediaChanged();
  }

  // ---- the peer connections ---------------------------------------------------------------------

  ensureMesh(pid) {
    if (this.mesh) return;
    this.mesh = new Mesh({
      myPid: pid,
      sendSignal: (to, message) => this.client.signal(to, message),
      iceServers: () => this.client.iceServers,
      videoMaxKbps: this.page.videoMaxKbps,
    });
    this.mesh.setLocalState({ audio: this.micOn, video: this.cameraOn, audioOnly: this.audioOnly });
    this.mesh.audioOnly = this.audioOnly;
    const m = this.mesh;
    m.addEventListener("media", (e) => {
      this.view.setTileStream(e.detail.pid, e.detail.stream);
      this.page.queueRender();
    });
    m.addEventListener("peer-added", () => this.page.queueRender());
    m.addEventListener("peer-removed", () => this.page.queueRender());
    m.addEventListener("peer-state", (e) => {
      this.peerStates.set(e.detail.pid, e.detail.state);
      this.page.queueRender();
    });
    m.addEventListener("remote-state", (e) => {
      this.remoteStates.set(e.detail.pid, e.detail.state);
      this.page.queueRender();
    });
    m.addEventListener("quality", (e) => {
      if (this.quality.get(e.detail.pid) !== e.detail.quality) {
        this.quality.set(e.detail.pid, e.detail.quality);
        this.page.queueRender();
      }
    });
    m.addEventListener("levels", (e) => this.onLevels(e.detail.levels));
    m.start();
  }

  /** In the room. On a new connection to a kept seat, media starts again from scratch (docs/protocol.md). */
  async enterRoom({ fresh }) {
    this.meshReady = false;
    this.mesh.start();
    if (fresh) this.mesh.restartAll();
    await this.startPublishing();
    this.meshReady = true;
    for (const signal of this.earlySignals.splice(0)) this.mesh.handleSignal(signal);
    this.syncPeers({ snapshot: true });
  }

  async startPublishing() {
    const hasMedia = Boolean(this.media.audioTrack || this.media.videoTrack);
    if (!this.page.canPublish || !hasMedia) return;
    try {
      await this.client.publish();
      this.publishing = true;
    } catch (err) {
      this.publishing = false;
      if (err.code === "publisher_limit") {
        this.page.view.toast(t("The session is full: you can watch, listen and chat, but the others cannot see or hear you."));
      }
    }
    await this.mesh.setTrack("audio", this.publishing ? this.media.audioTrack : null);
    await this.mesh.setTrack("video", this.publishing ? this.media.videoTrack : null);
  }

  /** A connection with every other member who is connected. (Connections end with the event
   *  that someone left, or with a snapshot that no longer lists them: a roster built from
   *  events alone may not list everyone yet.) */
  syncPeers({ snapshot = false } = {}) {
    if (!this.mesh || !this.meshReady || !this.page.admitted) return;
    const me = this.client.me.pid;
    for (const p of this.client.participants.values()) {
      if (p.pid !== me && p.connected && !this.mesh.has(p.pid)) this.mesh.ensurePeer(p.pid);
    }
    if (!snapshot) return;
    for (const pid of [...this.mesh.peers.keys()]) {
      if (!this.client.participants.has(pid)) this.mesh.closePeer(pid);
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

  /** The end (or another window took the seat): stop sending; `release` gives the devices back. */
  stop(release) {
    clearInterval(this.meterTimer);
    if (this.mesh) this.mesh.stop();
    this.publishing = false;
    if (release) this.media.stop();
  }

  // ---- what the person asks for -----------------------------------------------------------------

  onMuteRequested({ kind }) {
    if (kind === "video") {
      if (this.cameraOn && !this.audioOnly) this.toggleCamera();
      this.page.view.toast(t("The mediator asked you to turn off your camera. It is now off."));
    } else {
      if (this.micOn) this.toggleMic();
      this.page.view.toast(t("The mediator asked you to mute your microphone. It is now off: press Unmute to speak."));
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
    this.page.queueRender();
  }

  async toggleCamera() {
    if (this.audioOnly) return;
    if (this.cameraOn) {
      this.cameraOn = false;
      this.media.stopCamera();
    } else {
      const ok = await this.media.startCamera();
      if (!ok) {
        this.page.view.toast(problemText({ audio: null, video: this.media.problems.video }, false) || t("The camera could not be started."));
        return;
      }
      this.cameraOn = true;
    }
    if (this.mesh) this.mesh.setLocalState({ video: this.cameraOn });
    this.savePrefs();
    this.page.queueRender();
  }

  /** Audio only, at any time: stop sending and receiving video with everyone. */
  async setAudioOnly(on) {
    this.audioOnly = on;
    if (on) {
      this.media.stopCamera();
    } else if (this.cameraOn && this.page.canPublish) {
      await this.media.startCamera();
    }
    if (this.mesh) {
      this.mesh.setLocalState({ audioOnly: on });
      await this.mesh.setAudioOnly(on);
    }
    this.page.view.toast(on ? t("Audio only: video is off both ways. This helps on a weak network.") : t("Video is back on."));
    this.savePrefs();
    this.page.mediaChanged();
  }

  // ---- drawing ----------------------------------------------------------------------------------

  renderControls() {
    const hasCamera = Boolean(this.media.videoTrack) || (this.cameraOn === false && this.media.problems.video === null);
    this.view.setControls({
      micOn: this.micOn, hasMic: Boolean(this.media.audioTrack), cameraOn: this.cameraOn && !this.audioOnly,
      hasCamera, audioOnly: this.audioOnly,
    });
  }

  /** How a member's media stands, as their tile and their line in the roster show it. */
  memberMedia(p) {
    const mine = p.pid === this.client.me.pid;
    const remote = this.remoteStates.get(p.pid) || { audio: true, video: true, audioOnly: false };
    const peerState = this.peerStates.get(p.pid);
    const reconnecting = !mine && (!p.connected || peerState === "disconnected" || peerState === "failed");
    const micOn = mine ? this.micOn && Boolean(this.media.audioTrack) : remote.audio;
    const audioOnly = mine ? this.audioOnly : remote.audioOnly;
    return { mine, remote, peerState, reconnecting, micOn, audioOnly, quality: this.quality.get(p.pid) };
  }

  /** The tiles of everyone who sends media, in the order of `people`. */
  renderTiles(people) {
    const tiles = [];
    for (const p of people) {
      const { mine, remote, peerState, reconnecting, micOn, quality } = this.memberMedia(p);
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
                   quality: mine ? null : quality, speaking: this.speaking.has(p.pid) });
    }
    this.view.renderTiles(tiles);
    this.view.setTileStream(this.client.me.pid, this.selfStream);
    if (this.mesh) for (const peer of this.mesh.peers.values()) this.view.setTileStream(peer.pid, peer.stream);
  }
}
