"""Signaling fixtures: a real Heshi server on a loopback port, and participants of the demo."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from server.app import create_app
from server.services.core import Core
from signaling.server import SIGNALING, SignalingServer
from tests.conftest import World
from tests.signaling.harness import Participant, join_cookie, staff_cookie


@dataclass
class Live:
    base_url: str
    world: World
    signaling: SignalingServer
    people: list[Participant]

    @property
    def session_id(self) -> str:
        return self.world.demo.session_id

    async def person(self, role: str, *, connect: bool = True) -> Participant:
        """A participant holding the demo's join link for `role`."""
        cookie = await join_cookie(self.base_url, self.world.demo.links[role])
        p = Participant(self.base_url, self.session_id, join=cookie)
        self.people.append(p)
        if connect:
            await p.connect()
        return p

    async def staff(self, username: str) -> Participant:
        cookie = await staff_cookie(self.base_url, username, self.world.passwords[username])
        p = Participant(self.base_url, self.session_id, staff=cookie)
        self.people.append(p)
        await p.connect()
        return p


@pytest.fixture
async def live(aiohttp_server: Any, core: Core, world: World) -> AsyncIterator[Live]:
    app = create_app(core.settings, core=core)
    server = await aiohttp_server(app)
    state = Live(str(server.make_url("")).rstrip("/"), world, app[SIGNALING], [])
    yield state
    for p in state.people:
        await p.close()
