"""Flood control: token buckets per connection, on the node that holds the connection."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.domain.errors import RateLimited


@dataclass
class Bucket:
    rate: float  # tokens per second
    burst: float
    tokens: float = -1.0
    at: float = 0.0

    def take(self, now: float, what: str) -> None:
        if self.tokens < 0:
            self.tokens, self.at = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            retry = max(1, int((1 - self.tokens) / self.rate + 0.999))
            raise RateLimited(f"too many {what}; slow down", retry_after=retry)
        self.tokens -= 1


# (rate per second, burst) for each kind of message a participant sends.
LIMITS: dict[str, tuple[float, float]] = {
    "any": (50.0, 200.0),  # all events together
    "chat": (1.0, 10.0),  # ten at once, then one a second
    "sdp": (2.0, 20.0),  # offers and answers
    "candidate": (20.0, 200.0),
    "moderation": (5.0, 20.0),
    "minutes": (2.0, 20.0),  # saves and reads of the minutes (autosave is every few seconds)
    "notice": (1.0, 5.0),  # presenting, reading and acknowledging the rights notice
}

# How the error message names each kind.
WHAT: dict[str, str] = {
    "any": "messages",
    "chat": "chat messages",
    "sdp": "offers and answers",
    "candidate": "ICE candidates",
    "moderation": "moderation requests",
    "minutes": "minutes requests",
    "notice": "notice requests",
}


@dataclass
class ConnectionLimits:
    scale: float = 1.0  # HESHI_RATE_LIMIT_SCALE multiplies every rate and burst (benchmarks raise it)
    buckets: dict[str, Bucket] = field(default_factory=dict)

    def take(self, kind: str, now: float) -> None:
        bucket = self.buckets.get(kind)
        if bucket is None:
            rate, burst = LIMITS[kind]
            bucket = self.buckets[kind] = Bucket(rate * self.scale, burst * self.scale)
        bucket.take(now, WHAT[kind])
