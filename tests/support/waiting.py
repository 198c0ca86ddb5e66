"""Waiting in tests for something that happens on its own time (media, workers, background jobs).

Tests never sleep a fixed time hoping that something has happened by then: they wait for the
condition itself, with a deadline and a message naming it (`wait_for`). Showing that something
does *not* happen needs a window of time; `never` makes that window explicit and bounded.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any


async def _value(predicate: Any) -> Any:
    value = predicate()
    return await value if inspect.isawaitable(value) else value


async def wait_for(predicate: Any, timeout: float = 20, what: str = "condition", interval: float = 0.25) -> Any:
    """Poll a predicate (plain or async) until it returns something truthy; return that, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await _value(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


async def never(predicate: Any, within: float, what: str, interval: float = 0.05) -> None:
    """A bounded negative check: fail as soon as the predicate (plain or async) holds during the
    next `within` seconds, naming `what` should not have happened.

    Only for showing that something does not happen; anything that must happen is waited for
    with `wait_for`. Prefer a window that ends on a positive event (see the callers) when there is one.
    """
    deadline = time.monotonic() + within
    while True:
        value = await _value(predicate)
        if value:
            raise AssertionError(f"{what} happened: {value!r}")
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(interval)
