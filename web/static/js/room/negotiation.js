// Perfect negotiation for one pair of browsers (docs/protocol.md; the pattern of the WebRTC
// specification): either side may offer at any time; when both offer at once (glare), the
// impolite side ignores the other's offer and the polite side drops its own (setting the
// other's offer rolls its own back) and answers. The lower pid of a pair is polite.
//
// Nothing here knows of the DOM, of Socket.IO or of the mesh: a Negotiation drives any object
// with the RTCPeerConnection calls it uses (signalingState, localDescription,
// setLocalDescription(), setRemoteDescription(), addIceCandidate()) and hands what it must send
// to a function. mesh.js decides what to do with the outcomes that replace a connection.

/** Whether this side of a pair gives way when both offer at once: the lower pid does. */
export function isPolite(myPid, theirPid) {
  return myPid < theirPid;
}

/** The session id of an SDP's origin line: one per RTCPeerConnection, kept across renegotiations. */
export function sessionOf(sdp) {
  const m = /^o=\S+ (\d+) /m.exec(sdp || "");
  return m ? m[1] : null;
}

/**
 * What to do with a description that has arrived:
 *   "replace"  an offer from a new connection of theirs (they reloaded, reconnected or rebuilt
 *              it): follow it on a new connection of ours, whatever order things arrived in
 *   "restart"  an answer from a new connection of theirs to our offer: ours still points at
 *              their old one, so start afresh
 *   "ignore"   an offer that collides with one of ours, on the impolite side: ours wins
 *   "apply"    set it (on the polite side, a colliding offer of ours is rolled back by doing so)
 */
export function judgeDescription({ type, session, remoteSession, polite, makingOffer, signalingState, answerPending }) {
  if (remoteSession && session !== remoteSession) return type === "answer" ? "restart" : "replace";
  const readyForOffer = !makingOffer && (signalingState === "stable" || answerPending);
  const collision = type === "offer" && !readyForOffer;
  return collision && !polite ? "ignore" : "apply";
}

/**
 * The negotiation of one RTCPeerConnection with one other side.
 *
 * receive(description) resolves to what happened:
 *   "answered"  an offer was taken and answered
 *   "accepted"  an answer to our offer was taken
 *   "ignored"   a colliding offer, ignored (impolite side)
 *   "replace" / "restart"   see judgeDescription(): the caller makes a new connection
 *   "failed"    an offer could not be taken: this connection is beyond repair
 *   "stale"     an answer could not be taken (it answered an offer since rolled back or lost)
 */
export class Negotiation {
  constructor({ pc, polite, send, beforeAnswer = async () => {}, log = () => {} }) {
    this.pc = pc;
    this.polite = polite;
    this.send = send; // ({type, sdp}) => anything; not awaited
    this.beforeAnswer = beforeAnswer; // puts this side's media on the offered transceivers
    this.log = log;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.answerPending = false; // an answer is being set: an offer arriving meanwhile is no collision
    this.remoteSession = null; // the session of the other side's connection, once one was set
    this.offers = 0; // offers sent, so that a retry can tell whether a later one was made
  }

  /** Offer (on negotiationneeded): the offer's number, or 0 when none was made. */
  async offer() {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.offers += 1;
      this.log("offer sent");
      this.send({ type: "offer", sdp: this.pc.localDescription.sdp });
      return this.offers;
    } catch (err) {
      this.log("offer failed:", err.message);
      return 0;
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * Offer number `number` went unanswered (its answerer closed meanwhile): roll it back and offer
   * again. Resolves to the new offer's number, or 0 when there was nothing to retry (it was
   * answered, or a later offer was made) or the new offer failed; throws when the rollback fails.
   */
  async offerAgain(number) {
    if (this.pc.signalingState !== "have-local-offer" || this.offers !== number) return 0;
    this.log("offer unanswered: offering again");
    await this.pc.setLocalDescription({ type: "rollback" });
    return this.offer();
  }

  /** A relayed offer or answer `{type, sdp}`. */
  async receive(description) {
    const session = sessionOf(description.sdp);
    const verdict = judgeDescription({
      type: description.type, session, remoteSession: this.remoteSession, polite: this.polite,
      makingOffer: this.makingOffer, signalingState: this.pc.signalingState, answerPending: this.answerPending,
    });
    if (verdict === "restart") {
      this.log("answer from a new connection of theirs: starting afresh");
      return verdict;
    }
    if (verdict === "replace") {
      this.log("offer of a new connection: following it");
      return verdict;
    }
    this.ignoreOffer = verdict === "ignore";
    if (this.ignoreOffer) {
      this.log("offer ignored (collision; impolite)");
      return "ignored";
    }
    try {
      this.answerPending = description.type === "answer";
      await this.pc.setRemoteDescription(description); // a polite side's own offer is rolled back implicitly
      this.answerPending = false;
      this.remoteSession = session;
      if (description.type !== "offer") return "accepted";
      await this.beforeAnswer();
      await this.pc.setLocalDescription();
      this.log("answer sent");
      this.send({ type: "answer", sdp: this.pc.localDescription.sdp });
      return "answered";
    } catch (err) {
      this.answerPending = false;
      this.log(description.type, "failed:", err.message);
      return description.type === "answer" ? "stale" : "failed";
    }
  }

  /** A relayed ICE candidate; false when it was dropped (one of an ignored offer, or of a connection since replaced). */
  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
      return true;
    } catch {
      return false;
    }
  }
}
