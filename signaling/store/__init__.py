"""Room state stores: one interface (`base.RoomStore`), in memory and in Redis, tested alike."""

from .base import RoomStore, StoreUnavailable
from .memory import MemoryRoomStore

__all__ = ["MemoryRoomStore", "RoomStore", "StoreUnavailable"]
