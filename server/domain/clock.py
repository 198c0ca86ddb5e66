"""An injectable clock, so that expiry and grace periods are tested without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

# Mediation in China runs on Beijing time: case-number years and the dates people see use it.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def wire_time(at: datetime | float) -> str:
    """A moment as every timestamp on the wire (the session protocol, the case log) is written:
    ISO 8601 in UTC, always with six digits of microseconds and `+00:00`, e.g.
    `2026-12-05T09:15:05.000000+00:00`. Fixed width, so the strings also sort in time order."""
    if not isinstance(at, datetime):
        at = datetime.fromtimestamp(at, UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def timestamp(self) -> float:
        """`now()` as POSIX seconds, without building a datetime (hot paths: rate limits, relay)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def timestamp(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)

    def set(self, when: datetime) -> None:
        self._now = when
