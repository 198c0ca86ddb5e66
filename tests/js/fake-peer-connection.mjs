// A stand-in for RTCPeerConnection's signaling: the JSEP state machine (stable, have-local-offer,
// have-remote-offer), offers and answers whose SDP carries an origin line with this connection's
// session id, rollback (explicit, and implicit when an offer arrives over one of ours, as
// browsers do), and candidates that need a remote description. No media, no ICE.

let nextSession = 4611686018427387000n;

const tick = () => new Promise((resolve) => setImmediate(resolve));

function invalidState(what) {
  const err = new Error(what);
  err.name = "InvalidStateError";
  return err;
}

export class FakePeerConnection {
  constructor({ name = "pc" } = {}) {
    this.name = name;
    nextSession += 1n;
    this.session = String(nextSession);
    this.version = 0;
    this.signalingState = "stable";
    this.localDescription = null;
    this.remoteDescription = null;
    this.currentLocalDescription = null;
    this.currentRemoteDescription = null;
    this.candidates = [];
    this.rollbacks = 0; // offers of ours dropped, explicitly or by an incoming offer
    this.failNext = null; // {method, message}: the next call of that method rejects
  }

  sdp() {
    this.version += 1;
    return `v=0\r\no=- ${this.session} ${this.version} IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n`;
  }

  maybeFail(method) {
    if (this.failNext && this.failNext.method === method) {
      const { message } = this.failNext;
      this.failNext = null;
      throw new Error(message);
    }
  }

  rollback() {
    this.localDescription = this.currentLocalDescription;
    this.signalingState = "stable";
    this.rollbacks += 1;
  }

  async setLocalDescription(description) {
    await tick();
    this.maybeFail("setLocalDescription");
    if (description && description.type === "rollback") {
      if (this.signalingState !== "have-local-offer") throw invalidState(`cannot roll back in ${this.signalingState}`);
      this.rollback();
      return;
    }
    const type = description && description.type
      ? description.type
      : this.signalingState === "have-remote-offer" ? "answer" : "offer";
    if (type === "offer") {
      if (this.signalingState !== "stable" && this.signalingState !== "have-local-offer") {
        throw invalidState(`cannot offer in ${this.signalingState}`);
      }
      this.localDescription = { type, sdp: this.sdp() };
      this.signalingState = "have-local-offer";
    } else {
      if (this.signalingState !== "have-remote-offer") throw invalidState(`cannot answer in ${this.signalingState}`);
      this.localDescription = { type, sdp: this.sdp() };
      this.currentLocalDescription = this.localDescription;
      this.currentRemoteDescription = this.remoteDescription;
      this.signalingState = "stable";
    }
  }

  async setRemoteDescription(description) {
    await tick();
    this.maybeFail("setRemoteDescription");
    if (description.type === "offer") {
      if (this.signalingState === "have-local-offer") this.rollback(); // implicit rollback
      if (this.signalingState !== "stable") throw invalidState(`cannot take an offer in ${this.signalingState}`);
      this.remoteDescription = description;
      this.signalingState = "have-remote-offer";
    } else if (description.type === "answer") {
      if (this.signalingState !== "have-local-offer") throw invalidState(`cannot take an answer in ${this.signalingState}`);
      this.remoteDescription = description;
      this.currentLocalDescription = this.localDescription;
      this.currentRemoteDescription = description;
      this.signalingState = "stable";
    } else {
      throw new TypeError(`unknown description type ${description.type}`);
    }
  }

  async addIceCandidate(candidate) {
    await tick();
    if (!this.remoteDescription) throw invalidState("no remote description");
    this.candidates.push(candidate);
  }
}
