"""The case's hash-chained event log: what appends to it, and how tampering is found."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC

import pytest
from sqlalchemy import delete, select, update

from server.domain.access import Principal
from server.domain.accounts import StaffRole
from server.domain.actors import Actor
from server.domain.cases import CaseStatus
from server.domain.grants import SessionRole
from server.domain.orgs import OrgLevel
from server.services import cases, eventlog, invitations
from server.services.core import Core
from server.services.eventlog import GENESIS, ChainCheck
from server.storage.models import CaseEvent

from .builders import make_case, make_org, make_session, make_staff, use_quick_hashing

KINDS = [
    "case.created",
    "case.transitioned",
    "session.scheduled",
    "invitation.issued",
    "invitation.issued",
    "invitation.revoked",
]


@dataclass
class Logged:
    mediator: Principal
    case_id: str
    other_case_id: str
    session_id: str


async def log_a_case(core: Core, mediator: Principal) -> tuple[str, str]:
    """Create, accept, schedule, invite twice, revoke one: six entries. Returns (case id, session id)."""
    case = await make_case(core, mediator)
    await cases.transition(core, mediator, case.id, CaseStatus.accepted, "双方同意调解")
    session = await make_session(core, mediator, case)
    applicant = await invitations.issue(
        core, mediator, session.id, role=SessionRole.applicant, party_id=case.parties[0].id
    )
    await invitations.issue(core, mediator, session.id, role=SessionRole.observer, display_name="村委会主任")
    await invitations.revoke(core, mediator, applicant.id, "发错了人")
    return case.id, session.id


@pytest.fixture
async def mediator(core: Core) -> Principal:
    use_quick_hashing(core)
    org = await make_org(core, "EV", level=OrgLevel.town)
    return await make_staff(core, "ev-mediator", StaffRole.mediator, org)


@pytest.fixture
async def logged(core: Core, mediator: Principal) -> Logged:
    case_id, session_id = await log_a_case(core, mediator)
    other = await make_case(core, mediator, title="另一起案件")
    return Logged(mediator, case_id, other.id, session_id)


async def check(core: Core, case_id: str) -> ChainCheck:
    async with core.db.read() as s:
        return await eventlog.verify(s, case_id)


async def test_each_change_to_a_case_appends_one_entry_in_order(core: Core, logged: Logged) -> None:
    events = [e for e, _ in (await cases.case_events(core, logged.mediator, logged.case_id)).entries]
    assert [e.kind for e in events] == KINDS
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.actor for e in events} == {f"account:{logged.mediator.account_id}"}
    assert events[1].data == {"from": "registered", "to": "accepted", "note": "双方同意调解"}
    assert events[0].data["parties"] == [{"side": "applicant", "name": "张三"}, {"side": "respondent", "name": "李四"}]
    assert [e.session_id for e in events[2:]] == [logged.session_id] * 4
    assert events[5].data["reason"] == "发错了人"


async def test_each_entry_carries_the_hash_of_the_one_before_and_an_untouched_log_verifies(
    core: Core, logged: Logged
) -> None:
    events = [e for e, _ in (await cases.case_events(core, logged.mediator, logged.case_id)).entries]
    assert events[0].prev_hash == GENESIS
    for before, after in zip(events, events[1:]):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in events}) == len(events)
    assert await check(core, logged.case_id) == ChainCheck(ok=True, count=6)
    assert await check(core, logged.other_case_id) == ChainCheck(ok=True, count=1)
    assert await check(core, "00000000-0000-0000-0000-000000000000") == ChainCheck(ok=True, count=0)


Tamper = Callable[[Core, str], Awaitable[None]]


async def _set(core: Core, case_id: str, seq: int, **values: object) -> None:
    async with core.db.write() as s:
        await s.execute(update(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.seq == seq).values(**values))


async def change_note(core: Core, case_id: str) -> None:
    await _set(core, case_id, 2, data={"from": "registered", "to": "accepted", "note": "申请人同意调解"})


async def change_kind(core: Core, case_id: str) -> None:
    await _set(core, case_id, 5, kind="invitation.revoked")


async def change_actor(core: Core, case_id: str) -> None:
    await _set(core, case_id, 4, actor="account:someone-else")


async def change_time(core: Core, case_id: str) -> None:
    async with core.db.read() as s:
        at = (
            await s.execute(select(CaseEvent.at).where(CaseEvent.case_id == case_id, CaseEvent.seq == 3))
        ).scalar_one()
    await _set(core, case_id, 3, at=at.replace(microsecond=1))


async def delete_middle(core: Core, case_id: str) -> None:
    async with core.db.write() as s:
        await s.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.seq == 3))


async def delete_first(core: Core, case_id: str) -> None:
    async with core.db.write() as s:
        await s.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.seq == 1))


async def change_prev_hash(core: Core, case_id: str) -> None:
    await _set(core, case_id, 4, prev_hash="f" * 64)


async def rewrite_with_own_hash(core: Core, case_id: str) -> None:
    """A careful forger recomputes the edited entry's own hash; the next entry's link still breaks."""
    async with core.db.write() as s:
        ev = (await s.execute(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.seq == 2))).scalar_one()
        data = {**ev.data, "note": "申请人同意调解"}
        new_hash = eventlog.entry_hash(ev.case_id, ev.seq, ev.at, ev.kind, ev.actor, ev.session_id, data, ev.prev_hash)
        await s.execute(update(CaseEvent).where(CaseEvent.id == ev.id).values(data=data, hash=new_hash))


TAMPERING: list[tuple[Tamper, int, str]] = [
    (change_note, 2, "content does not match its hash"),
    (change_kind, 5, "content does not match its hash"),
    (change_actor, 4, "content does not match its hash"),
    (change_time, 3, "content does not match its hash"),
    (delete_middle, 3, "entry 3 is missing"),
    (delete_first, 1, "entry 1 is missing"),
    (change_prev_hash, 4, "previous-hash link does not match"),
    (rewrite_with_own_hash, 3, "previous-hash link does not match"),
]


async def test_verify_names_the_first_entry_that_was_tampered_with(core: Core, mediator: Principal) -> None:
    # One case per kind of tampering, all in one database: each chain is checked on its own.
    victims = {}
    for tamper, _, _ in TAMPERING:
        victims[tamper.__name__], _ = await log_a_case(core, mediator)
    untouched, _ = await log_a_case(core, mediator)
    for tamper, _, _ in TAMPERING:
        await tamper(core, victims[tamper.__name__])
    found = {}
    for name, case_id in victims.items():
        result = await check(core, case_id)
        found[name] = (result.ok, result.first_bad_seq, result.reason)
    assert found == {t.__name__: (False, seq, reason) for t, seq, reason in TAMPERING}
    assert await check(core, untouched) == ChainCheck(ok=True, count=6)


async def test_concurrent_appends_after_inserting_rows_that_reference_the_case_do_not_deadlock(
    core: Core, logged: Logged
) -> None:
    """Each writer first inserts a row with a foreign key to the case (as a chat message or a
    recording segment does), then appends. On PostgreSQL the insert takes a key-share lock on
    the case row; the append's lock must not conflict with it, or two such writers deadlock."""
    import asyncio
    from datetime import datetime

    from server.storage.models import ChatMessage, MediationSession

    async with core.db.read() as s:
        session_id = (
            (await s.execute(select(MediationSession.id).where(MediationSession.case_id == logged.case_id)))
            .scalars()
            .first()
        )
    assert session_id is not None
    now = datetime.now(UTC)

    async def writer(n: int) -> None:
        async with core.db.write() as s:
            s.add(
                ChatMessage(
                    case_id=logged.case_id,
                    session_id=session_id,
                    sender_pid=f"p{n}",
                    sender_name="x",
                    sender_role="applicant",
                    recipient_pid=None,
                    client_id=f"c{n}",
                    text="hi",
                    at=now,
                )
            )
            await s.flush()
            await asyncio.sleep(0.01)  # let the others insert too before anyone appends
            await eventlog.append(
                s, case_id=logged.case_id, kind="chat.message", actor=Actor.invitation(f"p{n}"), at=now
            )

    await asyncio.gather(*(writer(n) for n in range(8)))
    async with core.db.read() as s:
        check = await eventlog.verify(s, logged.case_id)
    assert check.ok and check.count == len(KINDS) + 8
