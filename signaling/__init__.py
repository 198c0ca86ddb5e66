"""Live-session signaling: Socket.IO rooms, lobby, WebRTC relay, chat, reconnect, several nodes.

`room.py` is the pure core (the room state machine and who hears what); `store/` keeps room
state in memory or in Redis behind one interface; `service.py` applies room operations and
persists what must outlive the room; `supervisor.py` owns recording runs and their worker
processes (start, replace, resume, take over); `server.py` is the thin Socket.IO edge.
"""
