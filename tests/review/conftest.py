"""Fixtures of the review tests: the demo session held and recorded (tests/review/recorded.py),
and browsers signed in as each kind of viewer, against one running app, on SQLite and on
PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import update

from server.services.core import Core
from server.storage.models import Case, Org
from tests.agreements.conftest import open_link
from tests.api.conftest import Caller, sign_in  # noqa: F401 - fixtures
from tests.conftest import World

from .recorded import Recorded, record_demo_session

Browser = Callable[[str], Awaitable[Caller]]


@pytest.fixture
async def recorded(core: Core, world: World) -> Recorded:
    return await record_demo_session(core, world)


@pytest.fixture
def browser(aiohttp_client: Any, client: Any, core: Core, world: World, sign_in: Any) -> Browser:
    """A fresh browser: a staff username signs in; `link:<role>` opens the demo session's join link."""

    async def go(who: str) -> Caller:
        if who.startswith("link:"):
            role = who.removeprefix("link:")
            return await open_link(aiohttp_client, client, core, world.demo.links[role], role)
        return await sign_in(who)

    return go


async def let_parties_watch(core: Core, case_id: str, allowed: bool = True) -> None:
    """Set the case's org's `parties_see_recordings` directly (an admin sets it with PUT
    …/orgs/{id}/retention, tests/retention/test_retention_api.py)."""
    async with core.db.write() as s:
        org_id = (await s.get(Case, case_id)).org_id  # type: ignore[union-attr]
        await s.execute(update(Org).where(Org.id == org_id).values(parties_see_recordings=allowed))
