"""Retention tests run on SQLite and PostgreSQL (the `core` fixture), with real recording files
(tests/retention/recorded.py) in each test's own data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.services import eventlog
from server.services.core import Core
from server.storage import models as M
from tests.api.conftest import sign_in  # noqa: F401 — signed-in API callers
from tests.conftest import World
from tests.retention.recorded import Recorded, people, record_session


@dataclass(frozen=True)
class Logged:
    kind: str
    actor: str
    session_id: str | None
    data: dict[str, Any]


async def log_of(core: Core, case_id: str, *kinds: str) -> list[Logged]:
    """The case's log entries (of these kinds), oldest first."""
    async with core.db.read() as tx:
        rows = await eventlog.entries(tx, case_id, kinds=kinds)
    return [Logged(e.kind, e.actor, e.session_id, dict(e.data)) for e in rows]


async def chain_ok(core: Core, case_id: str) -> int:
    async with core.db.read() as tx:
        check = await eventlog.verify(tx, case_id)
    assert check.ok, check
    return check.count


async def segment_rows(core: Core, session_id: str) -> list[M.RecordingSegment]:
    async with core.db.read() as s:
        q = select(M.RecordingSegment).where(M.RecordingSegment.session_id == session_id)
        return list((await s.execute(q.order_by(M.RecordingSegment.at, M.RecordingSegment.id))).scalars())


async def org_of_code(core: Core, code: str) -> str:
    async with core.db.read() as s:
        return (await s.execute(select(M.Org.id).where(M.Org.code == code))).scalar_one()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
async def recorded(core: Core, world: World) -> Recorded:
    """The demo session, recorded (the mediator and the applicant, 1.5 s: two segments of each
    track) and ended at the clock's now."""
    who = people(("王建国", "mediator"), ("李秀英", "applicant"))
    return await record_session(core, world.demo.case_id, world.demo.session_id, who, seconds=1.5)
