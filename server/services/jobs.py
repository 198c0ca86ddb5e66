"""What the node's background loops share (court deliveries, checkpoints, evidence exports,
retention): stopping one."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel(task: asyncio.Task[Any] | None) -> None:
    """Cancel a background loop and wait until it has stopped (None: it was not running)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
