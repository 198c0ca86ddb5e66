"""The room store interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from server.domain.errors import DomainError

from ..room import Room, RoomEvent

T = TypeVar("T")
# Given the current room (None when there is none), return the room to keep (None: delete)
# and a result. It may raise; then nothing is stored. It may be called more than once
# (optimistic retries), so it must not do I/O.
Mutation = Callable[[Room | None], tuple[Room | None, T]]

EVENT_BUFFER = 2000  # events kept per room for replay after a reconnect


class StoreUnavailable(DomainError):
    """Room state cannot be reached (Redis down): joins fail closed."""

    code = "unavailable"
    http_status = 503


class RoomStore(Protocol):
    async def load(self, room_id: str) -> Room | None: ...

    async def view(self, room_id: str) -> Room | None:
        """The current room for reading only (the memory store skips the copy): never mutate it."""
        ...

    async def update(self, room_id: str, mutation: Mutation[T]) -> tuple[T, list[RoomEvent]]:
        """Apply `mutation` atomically; store the room and its outbox events; return both."""
        ...

    async def events_after(self, room_id: str, seq: int) -> list[RoomEvent]:
        """Buffered events with a sequence number above `seq`, oldest first."""
        ...

    async def room_ids(self) -> list[str]: ...

    async def close(self) -> None: ...
