"""Shared fixtures. Every test that uses `core` (or `client`) runs on SQLite and on PostgreSQL.

Databases are cloned from a template migrated once per run: a file copy for SQLite,
CREATE DATABASE … TEMPLATE for PostgreSQL. Live-session modules marked `on_both_room_stores`
also run on both room stores, memory and Redis (tests/support/stores.py).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from server.app import create_app
from server.auth.passwords import Passwords
from server.config import Settings, load_settings
from server.domain.access import Principal
from server.domain.accounts import StaffRole
from server.domain.cases import CaseSource, DisputeType, PartyInput, PartySide
from server.domain.clock import FrozenClock
from server.domain.orgs import OrgKind, OrgLevel
from server.services import accounts, cases, orgs, sessions
from server.services.core import Core
from server.services.demo import DemoResult, create_demo
from server.services.signin import staff_principal
from server.storage.db import migrate_sync
from tests.support.services import postgres_admin_url, postgres_execute
from tests.support.stores import ROOM_STORES, RoomStoreChoice
from tests.support.stores import room_store as open_room_store

BACKENDS = ["sqlite", "postgres"]
TEST_SECRET = "test-secret-key-" + "x" * 32


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"room_stores(*names): run on these room stores (of {', '.join(ROOM_STORES)}); memory only when unmarked",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The closest `room_stores` mark (test, class, module) becomes the `room_store` parameter."""
    marker = metafunc.definition.get_closest_marker("room_stores")
    if marker is not None and "room_store" in metafunc.fixturenames:
        metafunc.parametrize("room_store", marker.args, indirect=True)


@pytest.fixture
async def room_store(request: pytest.FixtureRequest) -> AsyncIterator[RoomStoreChoice]:
    """The room store of this test's node: memory, unless the test is marked for others."""
    async with open_room_store(getattr(request, "param", "memory")) as choice:
        yield choice


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    migrate_sync(f"sqlite+aiosqlite:///{path}")
    return path


def _pg_url(admin: str, database: str) -> str:
    return admin.rsplit("/", 1)[0] + "/" + database


@pytest.fixture(scope="session")
def pg_template() -> Any:
    admin = postgres_admin_url()
    name = f"heshi_tmpl_{os.getpid()}"
    postgres_execute(admin, f'DROP DATABASE IF EXISTS "{name}"')
    postgres_execute(admin, f'CREATE DATABASE "{name}"')
    migrate_sync("postgresql+asyncpg://" + _pg_url(admin, name).split("://", 1)[1])
    yield admin, name
    postgres_execute(admin, f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        path = tmp_path / "heshi.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    admin, template = request.getfixturevalue("pg_template")
    name = f"heshi_t_{uuid.uuid4().hex[:12]}"
    postgres_execute(admin, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield "postgresql+asyncpg://" + _pg_url(admin, name).split("://", 1)[1]
    postgres_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(tmp_path: Path, database_url: str, room_store: RoomStoreChoice, **overrides: Any) -> Settings:
    """A test's settings: its own data directory, database and room store, plus `overrides`."""
    return room_store.settings(
        load_settings(
            env={},
            data_dir=str(tmp_path / "data"),
            database_url=database_url,
            secret_key=TEST_SECRET,
            public_url="http://heshi.test",
            **overrides,
        )
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, room_store: RoomStoreChoice) -> Settings:
    return settings_for(tmp_path, database_url, room_store)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def core(settings: Settings, clock: FrozenClock) -> AsyncIterator[Core]:
    """The Core, with Argon2id at its lowest cost.

    Still the real hasher and verifier (tests/services/test_signin.py checks the production
    parameters), but the suite builds the demo's accounts hundreds of times, and the
    production cost of about 0.2 s a hash would make it several times slower.
    """
    c = Core.build(settings, clock=clock)
    c.passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield c
    await c.close()


@dataclass
class World:
    """The demo data plus a second, unrelated district, for scope and cross-org tests."""

    demo: DemoResult
    passwords: dict[str, str]
    principals: dict[str, Principal]
    other_case_id: str
    other_session_id: str


async def principal_for(core: Core, username: str) -> Principal:
    account = await accounts.find_account(core, username)
    assert account is not None
    return staff_principal(await accounts.get_account(core, account.id))


@pytest.fixture
async def world(core: Core) -> World:
    demo = await create_demo(core)
    passwords = {a["username"]: a["password"] for a in demo.accounts}
    other = await orgs.create_org(
        core, None, name="另一区司法局", code="OTHER", kind=OrgKind.justice_bureau, level=OrgLevel.district
    )
    other_town = await orgs.create_org(
        core, None, name="另一镇调委会", code="OTHER-T", kind=OrgKind.people, level=OrgLevel.town, parent_id=other.id
    )
    for username, role, org in (
        ("other-mediator", StaffRole.mediator, other_town),
        ("other-reviewer", StaffRole.reviewer, other),
    ):
        passwords[username] = "other-password-123"
        await accounts.create_account(
            core, None, username=username, display_name=username, role=role, org_id=org.id, password=passwords[username]
        )
    principals = {name: await principal_for(core, name) for name in passwords}
    other_case = await cases.create_case(
        core,
        principals["other-mediator"],
        title="另一区的案件",
        dispute_type=DisputeType.land,
        source=CaseSource.on_site,
        parties=[PartyInput(side=PartySide.applicant, name="甲"), PartyInput(side=PartySide.respondent, name="乙")],
    )
    other_session = await sessions.schedule_session(
        core, principals["other-mediator"], other_case.id, scheduled_at=core.clock.now()
    )
    return World(demo, passwords, principals, other_case.id, other_session.id)


@pytest.fixture
async def client(aiohttp_client: Any, core: Core) -> Any:
    return await aiohttp_client(create_app(core.settings, core=core))


async def api_login(client: Any, username: str, password: str) -> str:
    """Sign a test client in through the API; returns the CSRF token for unsafe requests."""
    resp = await client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["csrf_token"]
