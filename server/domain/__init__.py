"""The pure domain core: value objects, enums, state machines and named errors.

Nothing here imports aiohttp, socketio, aiortc, redis or SQL: this is the part of Heshi
that is tested fastest and changed most carefully.
"""
