"""Every Redis key Heshi uses, in one place."""

PREFIX = "heshi:"
ROOMS = PREFIX + "rooms"  # set of live room ids
SOCKETIO_CHANNEL = PREFIX + "socketio"  # python-socketio's pub/sub channel


def room_state(room_id: str) -> str:
    return f"{PREFIX}room:{room_id}:state"


def room_events(room_id: str) -> str:
    return f"{PREFIX}room:{room_id}:events"
