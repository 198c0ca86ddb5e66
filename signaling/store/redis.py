"""Room state in Redis, shared by every node. Updates are optimistic (WATCH/MULTI/EXEC)."""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from ..room import Room, RoomEvent, event_from_dict, event_to_dict
from .base import EVENT_BUFFER, Mutation, StoreUnavailable
from .keys import Keys

T = TypeVar("T")
log = logging.getLogger("heshi.signaling.redis")
MAX_RETRIES = 50
# Rooms of sessions nobody touched for a day are dropped by Redis itself.
ROOM_TTL_SECONDS = 24 * 3600


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class RedisRoomStore:
    def __init__(self, url: str, *, max_connections: int = 1000, prefix: str = "heshi:"):
        self._redis = aioredis.from_url(url, max_connections=max_connections, decode_responses=True)
        self.keys = Keys(prefix)

    async def load(self, room_id: str) -> Room | None:
        try:
            raw = await self._redis.get(self.keys.room_state(room_id))
        except RedisError as exc:
            raise StoreUnavailable(f"room state is unavailable: {exc}") from None
        return Room.from_dict(json.loads(raw)) if raw else None

    async def view(self, room_id: str) -> Room | None:
        return await self.load(room_id)

    async def update(self, room_id: str, mutation: Mutation[T]) -> tuple[T, list[RoomEvent]]:
        state_key, events_key = self.keys.room_state(room_id), self.keys.room_events(room_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for _ in range(MAX_RETRIES):
                    try:
                        await pipe.watch(state_key)
                        raw = await pipe.get(state_key)
                        current = Room.from_dict(json.loads(raw)) if raw else None
                        room, result = mutation(current)
                        pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                        if room is None:
                            pipe.delete(state_key, events_key)
                            pipe.srem(self.keys.rooms, room_id)
                            await pipe.execute()
                            return result, []
                        events, room.outbox = room.outbox, []
                        pipe.set(state_key, _dumps(room.to_dict()), ex=ROOM_TTL_SECONDS)
                        if events:
                            pipe.rpush(events_key, *[_dumps(event_to_dict(e)) for e in events])
                            pipe.ltrim(events_key, -EVENT_BUFFER, -1)
                        pipe.expire(events_key, ROOM_TTL_SECONDS)
                        pipe.sadd(self.keys.rooms, room_id)
                        pipe.expire(self.keys.rooms, ROOM_TTL_SECONDS)  # a prefix nobody uses any more fades away
                        await pipe.execute()
                        return result, events
                    except WatchError:
                        continue  # another node changed the room: run the mutation again on fresh state
                raise StoreUnavailable("room state is too contended; try again")
        except RedisError as exc:
            raise StoreUnavailable(f"room state is unavailable: {exc}") from None

    async def events_after(self, room_id: str, seq: int) -> list[RoomEvent]:
        try:
            raw = await self._redis.lrange(self.keys.room_events(room_id), 0, -1)
        except RedisError as exc:
            raise StoreUnavailable(f"room state is unavailable: {exc}") from None
        return [e for e in map(lambda r: event_from_dict(json.loads(r)), raw) if e.seq > seq]

    async def room_ids(self) -> list[str]:
        try:
            return sorted(str(m) for m in await self._redis.smembers(self.keys.rooms))
        except RedisError as exc:
            raise StoreUnavailable(f"room state is unavailable: {exc}") from None

    async def close(self) -> None:
        await self._redis.aclose()
