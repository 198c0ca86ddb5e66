// What RoomClient (web/static/js/room/client.js) is handed instead of a browser's: a Socket.IO
// socket whose requests a test answers, a clock the test moves, and a sessionStorage in memory.

/** Timers that run only when the test moves the clock. */
export class ManualClock {
  constructor() {
    this.now = 0;
    this.timers = new Map(); // id -> {at, fn}
    this.nextId = 1;
    this.setTimeout = (fn, ms = 0) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.now + ms, fn });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
  }

  /** Move time on by `ms`, running each timer that falls due, in order. */
  async advance(ms) {
    const until = this.now + ms;
    for (let ran = 0; ; ran++) {
      // A timer that keeps setting itself again without delay must fail the test, not hang it.
      if (ran > 1000) throw new Error(`more than 1000 timers ran within ${ms} ms`);
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      const [id, timer] = due;
      this.timers.delete(id);
      this.now = timer.at;
      timer.fn();
      await settle();
    }
    this.now = until;
  }

  get pending() {
    return this.timers.size;
  }
}

export class MemoryStorage {
  constructor() {
    this.items = new Map();
  }

  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }

  setItem(key, value) {
    this.items.set(key, String(value));
  }

  removeItem(key) {
    this.items.delete(key);
  }
}

/** Let every promise that can settle now settle (acks, awaits in the client). */
export async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A Socket.IO client socket. Requests (emitWithAck) go to `answer(event, payload)`, which the test
 * sets: it returns the ack, or a promise of it; a rejection is a timeout. Every request is kept in
 * `requests`. `serverSends(event, data)` plays a message from the server.
 */
export class FakeSocket {
  constructor(answer) {
    this.answer = answer;
    this.handlers = new Map();
    this.requests = [];
    this.connected = false;
    this.active = true;
    this.io = { opts: { reconnection: true } };
  }

  on(event, fn) {
    this.handlers.set(event, fn);
  }

  serverSends(event, data) {
    const fn = this.handlers.get(event);
    if (fn) fn(data);
  }

  connect() {
    this.connected = true;
    this.serverSends("connect");
  }

  disconnect() {
    this.connected = false;
  }

  timeout() {
    return {
      emitWithAck: async (event, payload) => {
        this.requests.push({ event, payload });
        return this.answer(event, payload);
      },
    };
  }

  /** The payloads of the requests of one event, in order. */
  sent(event) {
    return this.requests.filter((r) => r.event === event).map((r) => r.payload);
  }
}
