"""Settings of the server process itself, applied once by `heshi serve` before it listens.

Garbage collection. CPython's cyclic collector stops the event loop while it runs. A full
(generation 2) pass walks every tracked object; on a node holding 1,000 signaling
connections that is about 300,000 objects (each connection keeps some 25 coroutines,
tasks, timers and buffers in python-socketio, engine.io and aiohttp), and one pass stalled
relaying for 175–250 ms on this 2-core machine. With the default thresholds (700, 10, 10)
such a pass came every 5–10 s under load, because objects of messages in flight (a
connection's pending `queue.get`, its timers) outlive two young collections, get promoted,
and count towards the next full pass even though they die soon after.

So, before serving:
- `gc.freeze()` moves everything alive after start-up (modules, the ORM's metadata,
  schemas, translations: about half of the heap) out of the collector's sight for good;
- the young generation collects every 10,000 allocations instead of 700 (a young pass
  still takes a few milliseconds), and the middle one after 50 young passes instead of 10,
  so far fewer transient objects are promoted and full passes come minutes apart, not
  seconds. Full passes still happen, so reference cycles are still reclaimed.

`bench.signaling` measures the effect (worst stall and p99 with 1,000 participants), and
runs the bare python-socketio baseline with the same settings, so that the comparison
stays like for like.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (10_000, 50, 10)


def tune_gc_for_serving(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Call once, after the app is built and before it starts serving."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
