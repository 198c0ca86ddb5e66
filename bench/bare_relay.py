"""The baseline: a bare python-socketio relay with no auth, validation, rooms or limits.

Run as `python -m bench.bare_relay PORT`. Clients connect with auth {"pid": …} and send
`signal {to, …}`; the server forwards it to `to` with `from` set and acks {"ok": true}.
"""

from __future__ import annotations

import sys
from typing import Any

import socketio
from aiohttp import web


def make_app() -> web.Application:
    sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"], logger=False, engineio_logger=False)
    app = web.Application()
    sio.attach(app)

    @sio.on("connect")
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any]) -> None:
        await sio.save_session(sid, {"pid": auth["pid"]})
        await sio.enter_room(sid, auth["pid"])

    @sio.on("signal")
    async def signal(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = await sio.get_session(sid)
        await sio.emit("signal", {**data, "from": session["pid"]}, to=data["to"])
        return {"ok": True}

    return app


async def _tune_gc(app: web.Application) -> None:
    # The same process settings as `heshi serve`, so that the comparison is like for like.
    from server.process import tune_gc_for_serving

    tune_gc_for_serving()


if __name__ == "__main__":
    app = make_app()
    app.on_startup.append(_tune_gc)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
