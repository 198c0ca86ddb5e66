"""Room state in this process: the embedded default (one node)."""

from __future__ import annotations

import copy
from collections import deque
from typing import TypeVar

from ..room import Room, RoomEvent
from .base import EVENT_BUFFER, Mutation

T = TypeVar("T")


class MemoryRoomStore:
    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}
        self._events: dict[str, deque[RoomEvent]] = {}

    async def load(self, room_id: str) -> Room | None:
        room = self._rooms.get(room_id)
        return copy.deepcopy(room) if room is not None else None

    async def view(self, room_id: str) -> Room | None:
        return self._rooms.get(room_id)

    async def update(self, room_id: str, mutation: Mutation[T]) -> tuple[T, list[RoomEvent]]:
        # No lock: the mutation is synchronous and nothing here awaits, so no other update of
        # this event loop can interleave with it (and no per-room lock is left behind).
        current = self._rooms.get(room_id)
        # Work on a copy: a mutation that raises halfway leaves the stored room untouched.
        room, result = mutation(copy.deepcopy(current) if current is not None else None)
        if room is None:
            self._rooms.pop(room_id, None)
            self._events.pop(room_id, None)
            return result, []
        events, room.outbox = room.outbox, []
        self._rooms[room_id] = room
        buf = self._events.setdefault(room_id, deque(maxlen=EVENT_BUFFER))
        buf.extend(events)
        return result, events

    async def events_after(self, room_id: str, seq: int) -> list[RoomEvent]:
        return [e for e in self._events.get(room_id, ()) if e.seq > seq]

    async def room_ids(self) -> list[str]:
        return list(self._rooms)

    async def close(self) -> None:
        self._rooms.clear()
        self._events.clear()
