// This browser's connection to the server's recorder: a send-only RTCPeerConnection, separate
// from the mesh, as docs/protocol.md ("Sending media to the recorder") describes. No DOM and no
// Socket.IO: the caller passes a function that relays a signal to "recorder", hands in the
// recorder's signals, and says which recording run to send to (`want(runId)`, null for none).
//
// The rules that shape it:
//   - the browser always offers, the recorder only answers; every offer is a new connection to
//     the recorder (new files), so a connection is never renegotiated: `negotiationneeded` is
//     ignored, a camera or microphone switch is `replaceTrack()`, audio only is replaceTrack(null);
//   - no ICE restart (aiortc cannot do one): a connection that fails, or does not come up in
//     time, is closed and a new one offered, a little later each time;
//   - candidates go out after the offer has reached the server (its ack), so that the recorder
//     never gets a candidate ahead of the offer it belongs to;
//   - VP8 and Opus first: the recorder writes only those, without re-encoding.
//
// Events (CustomEvent, data in `detail`):
//   state {state}   off | connecting | connected | retrying — for support and the tests

const CONNECT_DEADLINE_MS = 15000; // an offer whose connection has not come up by then is made anew
const RETRY_MS = 1000;
const RETRY_MAX_MS = 10000;
// Refusals after which waiting for the room's next recording.updated is better than retrying.
const WAIT_FOR_ROOM = new Set(["forbidden", "unknown_participant", "not_admitted", "session_ended"]);

const PREFERRED = { audio: "audio/opus", video: "video/vp8" };

/** Codecs of a kind with the recorder's first (its mimeType compared case-insensitively). */
export function preferredCodecs(codecs, kind) {
  const first = PREFERRED[kind];
  const list = [...(codecs || [])];
  const isFirst = (c) => String(c.mimeType).toLowerCase() === first;
  return [...list.filter(isFirst), ...list.filter((c) => !isFirst(c))];
}

export class RecorderLink extends EventTarget {
  constructor({ sendSignal, iceServers = () => [], videoMaxKbps = 500 }) {
    super();
    this.sendSignal = sendSignal; // (message) => Promise of the ack; rejects with {code}
    this.iceServers = iceServers;
    this.maxBitrate = Math.max(30, Number(videoMaxKbps) || 500) * 1000;
    this.tracks = { audio: null, video: null };
    this.run = null; // the recording run to send to, or null
    this.conn = null; // {pc, transceivers, number, offered, candidates, closed, deadline}
    this.number = 0; // connections made, for the trace
    this.failures = 0; // in a row; the next retry waits longer
    this.retryTimer = null;
    this.state = "off";
    this.trace = []; // the last steps, for support (heshiRoom.recorder.trace)
  }

  log(...what) {
    this.trace.push(`${(performance.now() / 1000).toFixed(2)} ${what.join(" ")}`);
    if (this.trace.length > 200) this.trace.splice(0, 50);
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state } }));
  }

  /** Send to this recording run (its id), or to none (null). Offering anew is this class's business. */
  want(run) {
    const next = run || null;
    if (next === this.run) {
      if (next && !this.conn && !this.retryTimer) this.open();
      return;
    }
    this.log("run", String(next));
    this.run = next;
    this.failures = 0;
    this.closeConnection();
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (next) this.open();
    else this.setState("off");
  }

  /** The track of a kind to send (null: none, e.g. video in audio-only mode). Never renegotiates. */
  async setTrack(kind, track) {
    this.tracks[kind] = track || null;
    const conn = this.conn;
    if (!conn) return;
    const tr = conn.transceivers[kind];
    if (!tr || tr.sender.track === this.tracks[kind]) return;
    try {
      await tr.sender.replaceTrack(this.tracks[kind]);
    } catch (err) {
      // A track the sender cannot take without renegotiating: send it on a new connection.
      this.log(kind, "replaceTrack failed:", err.message);
      if (this.conn === conn) this.fail("replaceTrack failed");
    }
  }

  stop() {
    this.want(null);
  }

  // ---- the connection -------------------------------------------------------------------------

  async open() {
    if (!this.run || this.conn) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.number += 1;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers(), bundlePolicy: "max-bundle" });
    const conn = { pc, run: this.run, number: this.number, transceivers: {}, offered: false, candidates: [],
                   closed: false, deadline: null };
    this.conn = conn;
    this.setState("connecting");
    this.log("connection", conn.number, "for run", conn.run);
    // Every offer is a new connection to the recorder: never renegotiate this one.
    pc.onnegotiationneeded = null;
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate || !candidate.candidate || conn.closed) return;
      const message = { type: "candidate", candidate: candidate.toJSON() };
      if (conn.offered) this.send(conn, message);
      else conn.candidates.push(message);
    };
    pc.onconnectionstatechange = () => this.onConnectionState(conn);
    try {
      for (const kind of ["audio", "video"]) {
        const init = { direction: "sendonly" };
        if (kind === "video") init.sendEncodings = [{ maxBitrate: this.maxBitrate }];
        const tr = pc.addTransceiver(this.tracks[kind] || kind, init);
        this.preferCodecs(tr, kind);
        conn.transceivers[kind] = tr;
      }
      await pc.setLocalDescription();
      if (conn.closed) return;
      this.log("offer sent");
      await this.sendSignal({ type: "offer", sdp: pc.localDescription.sdp });
      if (conn.closed) return;
      conn.offered = true;
      for (const message of conn.candidates.splice(0)) this.send(conn, message);
      conn.deadline = setTimeout(() => {
        if (!conn.closed && pc.connectionState !== "connected") {
          this.log("not connected in time");
          this.fail("deadline");
        }
      }, CONNECT_DEADLINE_MS);
    } catch (err) {
      if (conn.closed) return;
      this.log("offer failed:", err.code || err.message);
      if (WAIT_FOR_ROOM.has(err.code)) {
        // Not (or no longer) recorded, or the recorder is not connected: the room's next
        // recording.updated says when to try again (want() with the same run reopens).
        this.closeConnection();
        this.setState("off");
        return;
      }
      this.fail(err.code || err.message);
    }
  }

  preferCodecs(tr, kind) {
    if (!tr.setCodecPreferences) return;
    // Chromium checks the list against what it can send (newer) or receive (older): try both.
    for (const source of [globalThis.RTCRtpSender, globalThis.RTCRtpReceiver]) {
      const caps = source && source.getCapabilities && source.getCapabilities(kind);
      if (!caps || !caps.codecs) continue;
      try {
        tr.setCodecPreferences(preferredCodecs(caps.codecs, kind));
        return;
      } catch (err) {
        this.log(kind, "codec preferences refused:", err.message);
      }
    }
  }

  async send(conn, message) {
    try {
      await this.sendSignal(message);
    } catch (err) {
      this.log("candidate not sent:", err.code || err.message);
    }
  }

  /** The recorder's answer (or a candidate), relayed as `signal {from: "recorder"}`. */
  async handleSignal(message) {
    const conn = this.conn;
    if (!conn || conn.closed || !message) return;
    try {
      if (message.type === "answer") {
        if (conn.pc.signalingState !== "have-local-offer") return; // a stale or repeated answer
        await conn.pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
        this.log("answer applied");
      } else if (message.type === "candidate" && message.candidate) {
        await conn.pc.addIceCandidate(message.candidate);
      }
    } catch (err) {
      this.log(message.type, "failed:", err.message);
      if (message.type === "answer" && this.conn === conn) this.fail("bad answer");
    }
  }

  onConnectionState(conn) {
    if (conn.closed) return;
    const state = conn.pc.connectionState;
    this.log("connection", conn.number, state);
    if (state === "connected") {
      clearTimeout(conn.deadline);
      this.failures = 0;
      this.setState("connected");
    } else if (state === "failed") {
      // No ICE restart with the recorder: a new connection (and new files) instead.
      this.fail("failed");
    }
  }

  /** Close this connection and offer on a new one, later each time it keeps failing. */
  fail(why) {
    this.closeConnection();
    if (!this.run) return;
    this.failures += 1;
    const delay = Math.min(RETRY_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
    this.log("retry in", delay, "ms after", why);
    this.setState("retrying");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  closeConnection() {
    const conn = this.conn;
    if (!conn) return;
    this.conn = null;
    conn.closed = true;
    clearTimeout(conn.deadline);
    this.log("connection", conn.number, "closed");
    try {
      conn.pc.close();
    } catch {
      // already closed
    }
  }
}
