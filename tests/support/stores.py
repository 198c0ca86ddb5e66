"""The room stores a live node runs on: the embedded memory store, or Redis as several nodes use it.

A module runs on both with `pytestmark = on_both_room_stores` (tests/conftest.py turns the mark
into the `room_store` parameter, ids `memory` and `redis`); unmarked tests run on memory only.
A Redis run is a node configured the way a deployment of several nodes is (HESHI_REDIS_URL): room
state in `RedisRoomStore` and Socket.IO fan-out through Redis pub/sub. Every such test has a key
prefix of its own, so nothing it stores or publishes is seen by another test, nor by another run
sharing the machine's Redis (no FLUSHDB: that Redis may be shared). Its keys are deleted
afterwards; whatever a node still writes while it shuts down expires with the rooms' TTL.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from server.config import Settings

from .services import redis_url

ROOM_STORES = ("memory", "redis")
on_both_room_stores = pytest.mark.room_stores(*ROOM_STORES)


@dataclass(frozen=True)
class RoomStoreChoice:
    """Which room store a test's node uses, and for Redis where and under which prefix."""

    name: str
    redis_url: str | None = None
    redis_prefix: str = "heshi:"

    def settings(self, settings: Settings) -> Settings:
        """`settings` for a node on this store."""
        if self.redis_url is None:
            return settings
        return replace(settings, redis_url=self.redis_url, redis_prefix=self.redis_prefix)

    def environ(self) -> dict[str, str]:
        """The HESHI_* variables for a node started as a process (`heshi serve`) on this store."""
        if self.redis_url is None:
            return {}
        return {"HESHI_REDIS_URL": self.redis_url, "HESHI_REDIS_PREFIX": self.redis_prefix}


async def delete_prefixed(url: str, prefix: str) -> int:
    """Delete every key under `prefix`; return how many there were."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        return len(keys)
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def room_store(name: str) -> AsyncIterator[RoomStoreChoice]:
    """The store called `name`; for Redis a fresh prefix on the test process's Redis, emptied afterwards."""
    if name == "memory":
        yield RoomStoreChoice("memory")
        return
    if name != "redis":
        raise ValueError(f"unknown room store {name!r}; expected one of {ROOM_STORES}")
    url = redis_url()
    prefix = f"heshi-test-{uuid.uuid4().hex[:12]}:"
    try:
        yield RoomStoreChoice("redis", url, prefix)
    finally:
        await delete_prefixed(url, prefix)
