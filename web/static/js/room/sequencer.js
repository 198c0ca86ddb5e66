// The order room events are applied in (docs/protocol.md, "room.event"): by `pseq`, this
// participant's own sequence, which has no gaps. Pure: no timers and no socket. client.js asks
// it what to apply next, and when it says there is a gap, waits a moment, then asks the server
// (room.sync) and hands over what came back.
//
//   const s = new Sequencer();
//   s.accept(event)        false for a duplicate, an event already applied, or no event at all
//   s.next()               the next event in order, marked applied; null while there is a gap
//   s.waiting              events are held back by a gap
//   s.replay(events, upTo) after a complete room.sync: everything up to `upTo`, in order, over holes
//   s.restart(room)        a snapshot: it covers everything up to room.pseq

export class Sequencer {
  constructor() {
    this.seq = 0; // the room's sequence number of the last event applied (for room.sync and resume)
    this.pseq = 0; // this participant's sequence number of the last event applied
    this.pending = new Map(); // pseq -> event, waiting for the ones before it
  }

  /** Hold an event until its turn. False when it is no event, a duplicate, or already applied. */
  accept(event) {
    if (!event || typeof event.pseq !== "number") return false;
    if (event.pseq <= this.pseq || this.pending.has(event.pseq)) return false;
    this.pending.set(event.pseq, event);
    return true;
  }

  /** The next event in order (marked applied), or null when the next one has not arrived. */
  next() {
    return this.pending.has(this.pseq + 1) ? this.take(this.pseq + 1) : null;
  }

  /** Whether events wait for one before them that has not arrived (a gap). */
  get waiting() {
    return this.pending.size > 0;
  }

  take(pseq) {
    const event = this.pending.get(pseq);
    this.pending.delete(pseq);
    this.pseq = pseq;
    this.seq = Math.max(this.seq, event.seq || 0);
    this.prune();
    return event;
  }

  prune() {
    for (const pseq of [...this.pending.keys()]) if (pseq <= this.pseq) this.pending.delete(pseq);
  }

  /** A snapshot: the state up to `room.pseq` is known, so nothing before it is applied again. */
  restart(room) {
    this.seq = Math.max(this.seq, room.seq);
    this.pseq = room.pseq;
    this.prune();
  }

  /**
   * A complete room.sync: the server sent everything it has for us up to `upTo` (its snapshot's
   * pseq). Yields, in pseq order and marked applied, every event held or sent up to `upTo`, over
   * any hole left (an event for us that no longer exists cannot arrive). Events after `upTo`
   * stay held. A generator: an event applied meanwhile (by a nested drain) is not yielded twice.
   */
  *replay(events, upTo) {
    for (const e of events || []) if (e && typeof e.pseq === "number" && e.pseq > this.pseq) this.pending.set(e.pseq, e);
    for (const pseq of [...this.pending.keys()].sort((a, b) => a - b)) {
      if (pseq <= this.pseq) continue;
      if (pseq > upTo) break;
      if (this.pending.has(pseq)) yield this.take(pseq);
    }
  }
}
