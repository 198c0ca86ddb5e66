"""Waiting in tests for something that happens on its own time (media, workers, background jobs)."""

from __future__ import annotations

import asyncio
import time
from typing import Any


async def wait_for(predicate: Any, timeout: float = 20, what: str = "condition") -> Any:
    """Poll an async predicate until it returns something truthy; return that, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.25)
