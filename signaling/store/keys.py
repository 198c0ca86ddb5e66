"""Every Redis key Heshi uses, in one place. All start with the deployment's prefix
(HESHI_REDIS_PREFIX, default "heshi:"), so deployments can share one Redis."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "heshi:"

    @property
    def rooms(self) -> str:
        """The set of live room ids."""
        return f"{self.prefix}rooms"

    @property
    def socketio_channel(self) -> str:
        """python-socketio's pub/sub channel."""
        return f"{self.prefix}socketio"

    def room_state(self, room_id: str) -> str:
        return f"{self.prefix}room:{room_id}:state"

    def room_events(self, room_id: str) -> str:
        return f"{self.prefix}room:{room_id}:events"
