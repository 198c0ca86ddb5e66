"""Real Socket.IO clients for signaling tests: each Participant is one browser's connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import socketio

from server.http.requests import JOIN_COOKIE, STAFF_COOKIE


async def join_cookie(base_url: str, link: str) -> str:
    """Open a join link the way a browser does (its page posts its form) and return the
    heshi_join cookie it sets."""
    from tests.pages.helpers import csrf_field

    url = f"{base_url}/j/{link.split('/j/', 1)[1]}"
    # The page sets a CSRF cookie its form must match; unsafe=True keeps cookies for 127.0.0.1.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url) as page:
            token = csrf_field(await page.text())
        async with http.post(url, data={"csrf_token": token}, allow_redirects=False) as resp:
            assert resp.status == 302, await resp.text()
            return resp.cookies[JOIN_COOKIE].value


async def staff_cookie(base_url: str, username: str, password: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{base_url}/api/v1/auth/login", json={"username": username, "password": password}
        ) as resp:
            assert resp.status == 200, await resp.text()
            return resp.cookies[STAFF_COOKIE].value


async def staff_http(base_url: str, username: str, password: str) -> aiohttp.ClientSession:
    """An HTTP client signed in as staff through the API, sending the CSRF token on every request."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # keeps cookies for 127.0.0.1
    async with http.post(f"{base_url}/api/v1/auth/login", json={"username": username, "password": password}) as r:
        assert r.status == 200, await r.text()
        http.headers["X-CSRF-Token"] = (await r.json())["csrf_token"]
    return http


class Participant:
    """One connection. Collects room events in order, and relayed signals and errors."""

    def __init__(
        self,
        base_url: str,
        session_id: str,
        *,
        join: str | None = None,
        staff: str | None = None,
        origin: str | None = None,
    ):
        self.base_url = base_url
        self.session_id = session_id
        self.cookies = {k: v for k, v in ((JOIN_COOKIE, join), (STAFF_COOKIE, staff)) if v}
        self.origin = origin
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[dict[str, Any]] = []
        self.signals: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self.sio.on("room.event", self._on_room_event)
        self.sio.on("signal", self._on_signal)
        self.sio.on("error", self._on_error)
        self.joined: dict[str, Any] | None = None

    async def _on_room_event(self, data: dict[str, Any]) -> None:
        self.events.append(data)
        self._changed.set()

    async def _on_signal(self, data: dict[str, Any]) -> None:
        self.signals.append(data)
        self._changed.set()

    async def _on_error(self, data: dict[str, Any]) -> None:
        self.errors.append(data)
        self._changed.set()

    async def connect(self, auth: dict[str, Any] | None = None) -> None:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.origin:
            headers["Origin"] = self.origin
        await self.sio.connect(
            self.base_url,
            transports=["websocket"],
            headers=headers,
            auth=auth if auth is not None else {"session_id": self.session_id},
            wait_timeout=10,
        )

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        return await self.sio.call(event, data if data is not None else {}, timeout=timeout)

    async def join(self, **body: Any) -> dict[str, Any]:
        if not self.sio.connected:
            await self.connect()
        ack = await self.call("room.join", body)
        assert ack["ok"], ack
        self.joined = ack
        return ack

    @property
    def pid(self) -> str:
        assert self.joined is not None
        return self.joined["room"]["you"]["pid"]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}; events={self.events[-10:]} errors={self.errors}")
            self._changed.clear()
            try:
                # Wake on this connection's next message, and at least every 0.1 s: a predicate
                # may look at more than this connection (the server's workers, the database), whose
                # change need not come with a message here (on Redis it often comes after one).
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))
            except TimeoutError:
                pass

    async def wait_event(
        self, type_: str, timeout: float = 10, where: Callable[[dict[str, Any]], Any] | None = None, **match: Any
    ) -> dict[str, Any]:
        """The first event of this type whose data has the given values (and satisfies `where`)."""

        def find() -> dict[str, Any] | None:
            for e in self.events:
                if (
                    e["type"] == type_
                    and all(e["data"].get(k) == v for k, v in match.items())
                    and (where is None or where(e["data"]))
                ):
                    return e
            return None

        return await self.wait_for(find, timeout, what=f"{type_} {match}")

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def refusal(p: Participant, auth: dict[str, Any] | None = None) -> dict[str, Any]:
    """Connect, expecting a refusal; return the connect_error's data {code, message}."""
    got: list[Any] = []
    p.sio.on("connect_error", lambda data: got.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await p.connect(auth)
    assert not p.sio.connected
    assert got, "the refusal carried no connect_error data"
    assert got[0]["message"] == got[0]["data"]["message"]
    return got[0]["data"]
