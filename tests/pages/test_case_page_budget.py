"""The case page reads its case in one transaction, with at most 3 statements plus one per session.

It used to open thirteen read transactions for one case (the case three times, its access
twice, three reads per session whether recorded or not). Statements are counted where
SQLAlchemy sends them to the database driver, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from recordings import evidence
from server.domain.access import PrincipalKind
from server.domain.actors import Actor
from server.domain.cases import CaseSource, DisputeType, PartyInput, PartySide
from server.domain.errors import NotFound
from server.domain.grants import SessionRole
from server.services import casefile, cases, invitations, sessions, signin
from server.services.core import Core
from server.storage import recordings as stored_recordings
from tests.pages.helpers import STAFF_COOKIE, cookie


class Counter:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.transactions = 0


@contextmanager
def counting(core: Core, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    """Count the statements sent to the database, and the transactions the Database opens."""
    counter = Counter()

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counter.statements.append(statement)

    read, write = core.db.read, core.db.write

    def counted(opener: Any) -> Any:
        @asynccontextmanager
        async def opened() -> Any:
            counter.transactions += 1
            async with opener() as tx:
                yield tx

        return opened

    monkeypatch.setattr(core.db, "read", counted(read))
    monkeypatch.setattr(core.db, "write", counted(write))
    event.listen(core.db.engine.sync_engine, "before_cursor_execute", on_statement)
    try:
        yield counter
    finally:
        event.remove(core.db.engine.sync_engine, "before_cursor_execute", on_statement)
        monkeypatch.setattr(core.db, "read", read)
        monkeypatch.setattr(core.db, "write", write)


async def _recorded(core: Core, world: Any, session_id: str, *, composite: bool) -> None:
    """A stopped recording run with two consent answers, and optionally its download's row."""
    case_id = world.demo.case_id
    mediator = Actor.of(world.principals["demo-mediator"])
    run = await evidence.start_run(core, case_id=case_id, session_id=session_id, actor=mediator, node_id=None)
    for pid, name, decision in (("i:a", "张三", "granted"), ("i:b", "李四", "refused")):
        person = evidence.Person(
            pid=pid, name=name, role=SessionRole.applicant.value, invitation_id=None, account_id=None
        )
        await evidence.save_consent(core, run.id, person, mediator, decision, "zh")
    await evidence.stop_run(core, run.id, actor=mediator, reason="done")
    if composite:
        async with core.db.write() as tx:
            await stored_recordings.save_composite(
                tx, session_id, case_id=case_id, at=core.clock.now(), initial_status="queued", progress=0.5
            )


async def _sessions(core: Core, world: Any, n: int) -> list[str]:
    mediator = world.principals["demo-mediator"]
    made = []
    for i in range(n):
        s = await sessions.schedule_session(
            core, mediator, world.demo.case_id, scheduled_at=core.clock.now() + timedelta(days=i + 1)
        )
        made.append(s.id)
    return made


async def test_the_case_file_is_one_transaction_of_at_most_three_statements_plus_one_per_session(
    core, world, monkeypatch
):
    extra = await _sessions(core, world, 3)
    await _recorded(core, world, extra[0], composite=True)
    await _recorded(core, world, extra[1], composite=False)
    await invitations.issue(
        core,
        world.principals["demo-mediator"],
        extra[2],
        role=SessionRole.expert,
        display_name="王专家",
        account_id=world.principals["demo-expert"].account_id,
    )
    file_sessions = len(await sessions.list_sessions(core, world.principals["demo-mediator"], world.demo.case_id))
    for viewer in ("demo-mediator", "demo-reviewer", "demo-admin"):
        with counting(core, monkeypatch) as c:
            file = await casefile.case_file(core, world.principals[viewer], world.demo.case_id)
        assert c.transactions == 1, viewer
        assert len(c.statements) <= 3 + file_sessions, (viewer, c.statements)
        assert len(file.sessions) == file_sessions
    # What it read is what the page needs: the recorded sessions with their answers and download.
    rec = file.recordings[extra[0]]
    assert rec is not None and {c.name: c.decision for c in rec.consents} == {"张三": "granted", "李四": "refused"}
    assert rec.composite is not None and rec.composite.progress == 0.5
    assert [r.status for r in rec.runs] == ["stopped"]
    second = file.recordings[extra[1]]
    assert second is not None and second.composite is None and len(second.consents) == 2
    assert file.recordings[extra[2]] is None  # never recorded: no read at all
    assert [i.invitation.display_name for i in file.invitations[extra[2]]] == ["王专家"]
    assert file.invitable and all(a.role in ("expert", "mediator") for a in file.invitable)


async def test_a_case_with_no_sessions_costs_at_most_three_statements(core, world, monkeypatch):
    mediator = world.principals["demo-mediator"]
    case = await cases.create_case(
        core,
        mediator,
        title="无会话案件",
        dispute_type=DisputeType.land,
        source=CaseSource.on_site,
        parties=[PartyInput(side=PartySide.applicant, name="甲"), PartyInput(side=PartySide.respondent, name="乙")],
    )
    with counting(core, monkeypatch) as c:
        file = await casefile.case_file(core, mediator, case.id)
    assert c.transactions == 1 and len(c.statements) <= 3, c.statements
    assert file.sessions == [] and [p.name for p in file.access.case.parties] == ["甲", "乙"]


async def test_a_case_outside_the_viewers_scope_is_not_found_in_the_same_budget(core, world, monkeypatch):
    with counting(core, monkeypatch) as c, pytest.raises(NotFound):
        await casefile.case_file(core, world.principals["other-mediator"], world.demo.case_id)
    assert c.transactions == 1
    with pytest.raises(NotFound):
        await casefile.case_file(core, world.principals["demo-mediator"], "00000000-0000-0000-0000-000000000000")


async def test_the_case_page_over_http_adds_only_the_sign_in_check(client, core, world, staff_client, monkeypatch):
    await _recorded(core, world, world.demo.session_id, composite=True)
    await staff_client("demo-mediator")
    token = cookie(client, STAFF_COOKIE)
    with counting(core, monkeypatch) as auth:
        assert await signin.authenticate(core, token, PrincipalKind.staff) is not None
    with counting(core, monkeypatch) as page:
        resp = await client.get(f"/cases/{world.demo.case_id}")
        assert resp.status == 200
        text = await resp.text()
    sessions_now = len(await sessions.list_sessions(core, world.principals["demo-mediator"], world.demo.case_id))
    assert page.transactions == auth.transactions + 1
    assert len(page.statements) <= len(auth.statements) + 3 + sessions_now, page.statements
    assert "张三" in text  # the recorded session's consent answers are on the page
