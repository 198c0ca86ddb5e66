// The media mesh: one RTCPeerConnection per other participant, negotiated with the perfect
// negotiation pattern as docs/protocol.md describes (the lower pid of a pair is polite; the
// decisions are negotiation.js's). No DOM and no Socket.IO: the caller passes a function that
// relays a signal, and hands in the signals it receives.
//
// Who sets a connection up: the impolite side creates it complete — an audio and a video
// transceiver and a small data channel — and offers. The polite side adds nothing of its own
// until that first offer arrives; it then puts its tracks on the offered transceivers and
// answers. So the first negotiation of a pair is one offer and one answer, never two crossing
// offers (Chromium cannot always roll back an offer that added media sections or a data
// channel). Later changes (audio only, a camera turned on, an ICE restart) renegotiate from
// either side with perfect negotiation.
//
// A connection is recognised by the session id of its SDP origin line. An offer from a new
// connection of the other side (they reloaded, reconnected or rebuilt it) replaces ours, in
// whatever order the room events arrive.
//
// The data channel carries each side's media state (microphone on, camera on, audio only), so
// a tile can show "camera off" instead of a frozen picture.
//
// Events (CustomEvent, data in `detail`):
//   peer-added {pid} · peer-removed {pid}
//   media      {pid, stream}        the remote stream changed, or its video started or stopped
//   peer-state {pid, state}         RTCPeerConnection.connectionState
//   remote-state {pid, state}       what the other end says about its media
//   quality    {pid, quality, …}    every 2 s: good | fair | poor | connecting | lost, from getStats
//   levels     {levels: Map}        every 250 ms: pid -> audio level 0..1

import { Negotiation, isPolite, sessionOf } from "./negotiation.js";

const STATS_MS = 2000;
const LEVELS_MS = 250;
const DISCONNECTED_RESTART_MS = 4000;
// An ICE restart that has not brought the connection back is made again, twice as late each
// time, up to RESTART_RETRY_MAX_MS (Chromium gives a restart's checks about 15 s: a path that
// comes back meanwhile is found by the checks under way, else by the next restart).
const RESTART_RETRY_MS = 5000;
const RESTART_RETRY_MAX_MS = 15000;
// An offer unanswered this long was lost (its answerer closed meanwhile): offer again.
const OFFER_RETRY_MS = 4000;
// A connection the impolite side set up that has not come up by then is set up anew.
const CONNECT_DEADLINE_MS = 12000;

export class Mesh extends EventTarget {
  constructor({ myPid, sendSignal, iceServers = () => [], videoMaxKbps = 500 }) {
    super();
    this.myPid = myPid;
    this.sendSignal = sendSignal;
    this.iceServers = iceServers;
    this.maxBitrate = Math.max(30, Number(videoMaxKbps) || 500) * 1000;
    this.peers = new Map();
    this.queues = new Map(); // pid -> promise: the signals of one peer are handled one at a time
    this.tracks = { audio: null, video: null };
    this.localStream = new MediaStream();
    this.audioOnly = false;
    this.localState = { audio: true, video: true, audioOnly: false };
    this.timers = [];
    this.trace = []; // the last negotiation steps, for support (heshiRoom.mesh.trace)
  }

  log(pid, ...what) {
    this.trace.push(`${(performance.now() / 1000).toFixed(2)} ${String(pid).slice(0, 10)} ${what.join(" ")}`);
    if (this.trace.length > 300) this.trace.splice(0, 100);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  start() {
    if (this.timers.length) return;
    this.timers.push(setInterval(() => this.collectStats(), STATS_MS));
    this.timers.push(setInterval(() => this.collectLevels(), LEVELS_MS));
  }

  stop() {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.closeAll();
  }

  // ---- peers ------------------------------------------------------------------------------

  has(pid) {
    return this.peers.has(pid);
  }

  ensurePeer(pid, { answering = false } = {}) {
    if (pid === this.myPid) return null;
    return this.peers.get(pid) || this.createPeer(pid, { answering });
  }

  /** `answering`: made for an offer that has arrived, so this side sets nothing up of its own. */
  createPeer(pid, { answering = false } = {}) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers(), bundlePolicy: "max-bundle" });
    const polite = isPolite(this.myPid, pid);
    const peer = {
      pid, pc, polite, negotiation: null,
      channel: null, stream: new MediaStream(), remoteState: { audio: true, video: true, audioOnly: false },
      offerTimer: null, restartTimer: null, restarts: 0,
      createdAt: performance.now(), connectedOnce: false, closed: false, videoFlowing: false,
      prevStats: null, lastStats: {}, quality: "connecting",
    };
    peer.negotiation = new Negotiation({
      pc, polite,
      send: (message) => this.send(peer, message),
      beforeAnswer: () => this.attachTracks(peer),
      log: (...what) => this.log(pid, ...what),
    });
    this.peers.set(pid, peer);
    this.log(pid, "new connection,", peer.polite ? "polite: waits for an offer" : "impolite: offers");
    pc.onnegotiationneeded = () => this.negotiate(peer);
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && candidate.candidate) this.send(peer, { type: "candidate", candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track }) => this.onTrack(peer, track);
    pc.ondatachannel = ({ channel }) => {
      if (channel.label === "heshi-state") this.useChannel(peer, channel);
    };
    pc.oniceconnectionstatechange = () => {
      this.log(pid, "ice", pc.iceConnectionState);
      this.keepConnected(peer);
    };
    pc.onconnectionstatechange = () => {
      this.log(pid, "connection", pc.connectionState);
      if (pc.connectionState === "connected") {
        peer.connectedOnce = true;
        this.watchFirstFrames(peer);
      }
      this.keepConnected(peer);
      this.emit("peer-state", { pid, state: pc.connectionState });
    };
    pc.onsignalingstatechange = () => {
      if (pc.signalingState === "stable") this.capBitrate(peer);
    };
    if (!peer.polite && !answering) {
      for (const kind of ["audio", "video"]) {
        const track = this.sending(kind);
        const init = { direction: this.desiredDirection(kind), streams: [this.localStream] };
        if (kind === "video") init.sendEncodings = [{ maxBitrate: this.maxBitrate }];
        const tr = pc.addTransceiver(kind, init);
        if (track) tr.sender.replaceTrack(track);
      }
      this.useChannel(peer, pc.createDataChannel("heshi-state"));
    }
    this.emit("peer-added", { pid });
    return peer;
  }

  /** Look for the first video frames often, rather than at the next round of statistics. */
  async watchFirstFrames(peer) {
    for (let i = 0; i < 30 && !peer.closed && !peer.videoFlowing; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const report = await peer.pc.getStats().catch(() => null);
      let frames = 0;
      if (report) report.forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0; });
      if (frames > 0 && !peer.closed) {
        peer.videoFlowing = true;
        this.emit("media", { pid: peer.pid, stream: peer.stream });
      }
    }
  }

  useChannel(peer, channel) {
    peer.channel = channel;
    channel.onopen = () => this.sendState(peer);
    channel.onmessage = (ev) => this.onRemoteState(peer, ev.data);
    if (channel.readyState === "open") this.sendState(peer);
  }

  closePeer(pid) {
    const peer = this.peers.get(pid);
    if (!peer) return;
    peer.closed = true;
    this.log(pid, "closed");
    clearTimeout(peer.offerTimer);
    clearTimeout(peer.restartTimer);
    try {
      if (peer.channel) peer.channel.close();
      peer.pc.close();
    } catch {
      // already closed
    }
    this.peers.delete(pid);
    this.emit("peer-removed", { pid });
  }

  /** Start media with this participant again on a new connection. */
  resetPeer(pid, options) {
    this.closePeer(pid);
    return this.ensurePeer(pid, options);
  }

  /** This side took its seat back on a new socket: the impolite side of each pair starts a new
   *  connection; where this side is polite, the other side's offer replaces the old one. */
  restartAll() {
    for (const peer of [...this.peers.values()]) if (!peer.polite) this.resetPeer(peer.pid);
  }

  /**
   * The other side reconnected (participant.reconnected) and sets media up again. The impolite
   * side of the pair starts the new connection; the polite side waits for its offer, which
   * replaces the old connection when it comes.
   */
  remoteRestarted(pid) {
    const peer = this.peers.get(pid);
    if (!peer) this.ensurePeer(pid);
    else if (!peer.polite && performance.now() - peer.createdAt > 1000) this.resetPeer(pid);
  }

  closeAll() {
    for (const pid of [...this.peers.keys()]) this.closePeer(pid);
  }

  async send(peer, message) {
    for (let attempt = 0; attempt < 3 && !peer.closed; attempt++) {
      try {
        await this.sendSignal(peer.pid, message);
        return;
      } catch (err) {
        if (err.code !== "rate_limited" && err.code !== "timeout") {
          console.warn("signal to", peer.pid, "failed:", err.code || err.message);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000 * (err.retry_after || 1)));
      }
    }
  }

  // ---- perfect negotiation ------------------------------------------------------------------

  async negotiate(peer) {
    if (peer.closed) return;
    const number = await peer.negotiation.offer();
    if (number) this.watchOffer(peer, number);
  }

  /** An offer can be lost when the connection that would answer it closes: offer again. */
  watchOffer(peer, number) {
    clearTimeout(peer.offerTimer);
    peer.offerTimer = setTimeout(async () => {
      if (peer.closed) return;
      try {
        const next = await peer.negotiation.offerAgain(number);
        if (next && !peer.closed) this.watchOffer(peer, next);
      } catch {
        this.resetPeer(peer.pid);
      }
    }, OFFER_RETRY_MS);
  }

  /** A relayed signal `{from, type, sdp | candidate}`; handled in order per peer. */
  handleSignal(message) {
    const pid = message && message.from;
    if (!pid || pid === this.myPid) return;
    // Only an offer starts a connection; candidates and answers for none are leftovers.
    if (message.type !== "offer" && !this.peers.has(pid) && !this.queues.has(pid)) return;
    const previous = this.queues.get(pid) || Promise.resolve();
    const next = previous.then(() => this.onSignal(pid, message)).catch((err) => {
      this.log(pid, "signal failed:", err.message);
    });
    this.queues.set(pid, next);
  }

  async onSignal(pid, message) {
    let peer = this.peers.get(pid);
    if (!peer) {
      if (message.type !== "offer") return;
      peer = this.ensurePeer(pid, { answering: true });
    }
    if (message.type === "candidate") {
      // Candidates of an ignored offer, or of a connection since replaced, are dropped.
      await peer.negotiation.addCandidate(message.candidate);
      return;
    }
    const description = { type: message.type, sdp: message.sdp };
    this.log(pid, description.type, "in", peer.pc.signalingState, "from", sessionOf(description.sdp));
    let outcome = await peer.negotiation.receive(description);
    if (outcome === "restart") {
      // A new connection of theirs took our offer: ours still points at their old one. Start
      // afresh (the impolite side offers at once; the polite side waits for that offer).
      this.resetPeer(pid);
      return;
    }
    if (outcome === "replace") {
      peer = this.resetPeer(pid, { answering: true });
      outcome = await peer.negotiation.receive(description);
    }
    if (outcome === "accepted") clearTimeout(peer.offerTimer);
    // A stale answer needs nothing: the offer is made again. A connection that cannot take an
    // offer is beyond repair: the impolite side starts a new one; the polite side waits for
    // the impolite side's next offer on a new one.
    if (outcome === "failed") this.resetPeer(pid);
  }

  /**
   * ICE restarts, from the impolite side only, so both ends never restart at once: when ICE
   * fails, after DISCONNECTED_RESTART_MS of "disconnected", and again (RESTART_RETRY_MS, then
   * ever later) for as long as a restart has not brought the connection back. Both states are
   * watched: when a restart's checks fail, Chromium turns connectionState "failed" but can leave
   * iceConnectionState at "disconnected", with no event to act on.
   */
  keepConnected(peer) {
    const pc = peer.pc;
    if (peer.polite || peer.closed) return;
    if (pc.connectionState === "connected") {
      clearTimeout(peer.restartTimer);
      peer.restartTimer = null;
      peer.restarts = 0;
      return;
    }
    const ice = pc.iceConnectionState;
    const state = pc.connectionState;
    if ((ice === "failed" || state === "failed") && !peer.restarts) {
      this.restartIce(peer); // at once; later failures wait for the retry already due
    } else if ((ice === "disconnected" || state === "disconnected") && !peer.restartTimer) {
      // Chromium takes ~30 s to call a dead path failed; on a phone switching networks, restart sooner.
      peer.restartTimer = setTimeout(() => this.restartIce(peer), DISCONNECTED_RESTART_MS);
    }
  }

  restartIce(peer) {
    clearTimeout(peer.restartTimer);
    peer.restartTimer = null;
    if (peer.closed || peer.pc.connectionState === "connected") return;
    peer.restarts += 1;
    this.log(peer.pid, "ICE restart", peer.restarts);
    peer.pc.restartIce();
    const retry = Math.min(RESTART_RETRY_MS * 2 ** (peer.restarts - 1), RESTART_RETRY_MAX_MS);
    peer.restartTimer = setTimeout(() => this.restartIce(peer), retry);
  }

  // ---- local media ------------------------------------------------------------------------

  /** The track to send of a kind: none for video in audio-only mode. */
  sending(kind) {
    return kind === "video" && this.audioOnly ? null : this.tracks[kind];
  }

  /** Audio only turns video off both ways; without a track of a kind, only receive it. */
  desiredDirection(kind) {
    if (kind === "video" && this.audioOnly) return "inactive";
    return this.sending(kind) ? "sendrecv" : "recvonly";
  }

  transceiver(pc, kind) {
    const all = pc.getTransceivers().filter((t) => !t.stopped && t.receiver.track.kind === kind);
    return all.find((t) => t.mid !== null) || all[0] || null;
  }

  /** Put what this side sends on the connection's transceivers, in the wanted directions. */
  async attachTracks(peer) {
    for (const kind of ["audio", "video"]) {
      const tr = this.transceiver(peer.pc, kind);
      if (!tr) continue;
      const track = this.sending(kind);
      if (tr.sender.track !== track) await tr.sender.replaceTrack(track);
      const want = this.desiredDirection(kind);
      if (tr.direction !== want) tr.direction = want; // renegotiates (from either side) when it must
    }
  }

  async applyTracks(peer) {
    // The polite side puts its tracks on the connection once the first offer has come.
    if (peer.closed || (peer.polite && !peer.pc.remoteDescription)) return;
    try {
      await this.attachTracks(peer);
      await this.capBitrate(peer);
    } catch (err) {
      this.log(peer.pid, "could not change what is sent:", err.message);
    }
  }

  /** Send this track (or nothing, with null) to everyone. */
  async setTrack(kind, track) {
    this.tracks[kind] = track;
    for (const t of this.localStream.getTracks()) if (t.kind === kind) this.localStream.removeTrack(t);
    if (track) this.localStream.addTrack(track);
    await Promise.all([...this.peers.values()].map((peer) => this.applyTracks(peer)));
  }

  /** Audio only: stop sending and receiving video with everyone (weak networks). */
  async setAudioOnly(on) {
    this.audioOnly = on;
    await Promise.all([...this.peers.values()].map((peer) => this.applyTracks(peer)));
  }

  /** Cap the video each sender sends (HESHI_VIDEO_MAX_KBPS). */
  async capBitrate(peer) {
    if (peer.closed) return;
    for (const sender of peer.pc.getSenders()) {
      if (!sender.track || sender.track.kind !== "video") continue;
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) continue; // not negotiated yet
      if (params.encodings.every((e) => e.maxBitrate === this.maxBitrate)) continue;
      for (const e of params.encodings) e.maxBitrate = this.maxBitrate;
      try {
        await sender.setParameters(params);
      } catch (err) {
        this.log(peer.pid, "could not cap the video bitrate:", err.message);
      }
    }
  }

  // ---- media state over the data channel ------------------------------------------------------

  setLocalState(state) {
    this.localState = { ...this.localState, ...state };
    for (const peer of this.peers.values()) this.sendState(peer);
  }

  sendState(peer) {
    if (peer.channel && peer.channel.readyState === "open") peer.channel.send(JSON.stringify(this.localState));
  }

  onRemoteState(peer, data) {
    let state;
    try {
      state = JSON.parse(data);
    } catch {
      return;
    }
    if (!state || typeof state !== "object") return;
    peer.remoteState = {
      audio: state.audio !== false, video: state.video !== false, audioOnly: state.audioOnly === true,
    };
    this.emit("remote-state", { pid: peer.pid, state: peer.remoteState });
  }

  // ---- remote media -------------------------------------------------------------------------

  onTrack(peer, track) {
    const keep = peer.stream.getTracks().filter((t) => t.kind !== track.kind && t.readyState === "live");
    // A new stream object, so that media elements pick the change up for certain.
    peer.stream = new MediaStream([...keep, track]);
    const changed = () => !peer.closed && this.emit("media", { pid: peer.pid, stream: peer.stream });
    track.addEventListener("unmute", changed);
    track.addEventListener("ended", () => {
      if (peer.stream.getTracks().includes(track)) {
        peer.stream = new MediaStream(peer.stream.getTracks().filter((t) => t !== track));
      }
      changed();
    });
    changed();
  }

  /** Whether this peer's video is arriving now: frames were decoded since the last look. (A
   *  remote track's `muted` is no guide: Chromium can leave it set while frames arrive.) */
  videoArriving(pid) {
    const peer = this.peers.get(pid);
    return Boolean(peer && !this.audioOnly && peer.videoFlowing && peer.stream.getVideoTracks().length);
  }

  // ---- statistics ---------------------------------------------------------------------------

  async collectStats() {
    await Promise.all([...this.peers.values()].map((peer) => this.peerStats(peer).catch(() => {})));
  }

  async peerStats(peer) {
    const pc = peer.pc;
    const now = performance.now();
    if (!peer.connectedOnce && !peer.polite && now - peer.createdAt > CONNECT_DEADLINE_MS
        && pc.connectionState !== "connected") {
      this.log(peer.pid, "not connected in time: a new connection");
      this.resetPeer(peer.pid);
      return;
    }
    const report = await pc.getStats();
    const s = { rtt: null, packetsLost: 0, packetsReceived: 0, framesDecoded: 0, fps: null,
                totalSamplesReceived: 0, bytesSent: 0, bytesReceived: 0, frameWidth: null };
    // The round trip of the candidate pair in use. After an ICE restart the report still lists
    // pairs of earlier ICE credentials as nominated and succeeded, with the long round trips
    // of the outage: only the transport's selected pair counts.
    let selected = null;
    report.forEach((r) => {
      if (r.type === "transport" && r.selectedCandidatePairId) selected = r.selectedCandidatePairId;
    });
    report.forEach((r) => {
      if (r.type === "candidate-pair") {
        const inUse = selected ? r.id === selected : r.nominated && r.state === "succeeded";
        if (inUse && typeof r.currentRoundTripTime === "number") s.rtt = r.currentRoundTripTime;
      } else if (r.type === "inbound-rtp") {
        s.packetsLost += r.packetsLost || 0;
        s.packetsReceived += r.packetsReceived || 0;
        s.bytesReceived += r.bytesReceived || 0;
        if (r.kind === "video") {
          s.framesDecoded += r.framesDecoded || 0;
          if (typeof r.framesPerSecond === "number") s.fps = r.framesPerSecond;
          if (r.frameWidth) s.frameWidth = r.frameWidth;
        } else if (r.kind === "audio") {
          s.totalSamplesReceived += r.totalSamplesReceived || 0;
        }
      } else if (r.type === "outbound-rtp") {
        s.bytesSent += r.bytesSent || 0;
      }
    });
    const prev = peer.prevStats;
    let loss = 0;
    if (prev) {
      const lost = Math.max(0, s.packetsLost - prev.packetsLost);
      const got = Math.max(0, s.packetsReceived - prev.packetsReceived);
      loss = lost + got > 0 ? lost / (lost + got) : 0;
      s.receiveKbps = Math.round(((s.bytesReceived - prev.bytesReceived) * 8) / (now - prev.at));
      s.sendKbps = Math.round(((s.bytesSent - prev.bytesSent) * 8) / (now - prev.at));
    }
    s.at = now;
    s.loss = loss;
    const flowing = prev ? s.framesDecoded > prev.framesDecoded : s.framesDecoded > 0;
    peer.prevStats = s;
    peer.lastStats = s;
    if (flowing !== peer.videoFlowing) {
      peer.videoFlowing = flowing;
      this.emit("media", { pid: peer.pid, stream: peer.stream });
    }
    peer.quality = this.judge(pc, s);
    this.emit("quality", { pid: peer.pid, quality: peer.quality, rtt: s.rtt, loss, fps: s.fps });
  }

  judge(pc, s) {
    const state = pc.connectionState;
    if (state === "new" || state === "connecting") return "connecting";
    if (state !== "connected") return "lost";
    const rtt = s.rtt || 0;
    if (rtt > 0.6 || s.loss > 0.08) return "poor";
    if (rtt > 0.3 || s.loss > 0.02) return "fair";
    return "good";
  }

  async collectLevels() {
    // The audio energy each peer's track carried since the last look, as RMS (linear, 1 = full
    // scale): a short word between two looks still counts, which the level of the last packet
    // alone (getSynchronizationSources) would miss.
    if (this.collectingLevels) return; // a slow getStats: skip a beat rather than overlap
    this.collectingLevels = true;
    const levels = new Map();
    try {
      for (const peer of [...this.peers.values()]) {
        const level = await this.audioLevel(peer);
        if (level !== null) levels.set(peer.pid, level);
      }
    } finally {
      this.collectingLevels = false;
    }
    this.emit("levels", { levels });
  }

  async audioLevel(peer) {
    let energy = 0, duration = 0;
    try {
      const report = await peer.pc.getStats();
      report.forEach((st) => {
        if (st.type === "inbound-rtp" && st.kind === "audio") {
          energy += st.totalAudioEnergy || 0;
          duration += st.totalSamplesDuration || 0;
        }
      });
    } catch (err) {
      return null; // closed meanwhile
    }
    const last = peer.lastAudio || { energy: 0, duration: 0 };
    peer.lastAudio = { energy, duration };
    const dd = duration - last.duration;
    return dd > 0 ? Math.sqrt(Math.max(0, energy - last.energy) / dd) : 0;
  }
}
