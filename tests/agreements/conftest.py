"""Fixtures of the agreement tests: callers with their own browsers — staff signed in, parties
through their join links — all against one running app, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from yarl import URL

from server.domain.grants import SessionRole
from server.services import invitations
from server.services.core import Core
from tests.api.conftest import Caller, admin, cookie_value, mediator, party_ids, sign_in  # noqa: F401 - fixtures
from tests.conftest import World
from tests.pages.helpers import enter_link

from .helpers import join_csrf

LinkIn = Callable[[str], Awaitable[Caller]]


async def open_link(aiohttp_client: Any, client: Any, core: Core, link: str, name: str) -> Caller:
    """A fresh browser that opened `link`: it holds that invitation's join cookie and nothing else."""
    c = await aiohttp_client(client.server)
    resp = await enter_link(c, URL(link).path, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    return Caller(c, name, await join_csrf(core, cookie_value(c, "heshi_join")))


@pytest.fixture
def link_in(aiohttp_client: Any, client: Any, core: Core, world: World) -> LinkIn:
    """A browser that opened the demo session's link for `role` (applicant, respondent, mediator,
    expert), or a new observer or agent link issued for the occasion."""

    async def go(role: str) -> Caller:
        if role in world.demo.links:
            return await open_link(aiohttp_client, client, core, world.demo.links[role], role)
        parties = await party_ids(core, world.demo.case_id)
        inv = await invitations.issue(
            core,
            world.principals["demo-mediator"],
            world.demo.session_id,
            role=SessionRole(role),
            party_id=parties["respondent"] if role == "agent" else None,
            display_name="村干部" if role == "observer" else "赵院长",
        )
        return await open_link(aiohttp_client, client, core, invitations.link_for(core, inv), role)

    return go
