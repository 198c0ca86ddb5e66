"""Named queries and writes of invitations (server/storage/invitations.py), on SQLite and on
PostgreSQL (the `core` fixture runs both)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.domain.errors import NotFound
from server.services import cases
from server.services.core import Core
from server.storage import invitations as stored
from server.storage.invitations import InvitationRecord
from tests.conftest import World

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def invite(
    core: Core,
    case_id: str,
    session_id: str,
    name: str,
    *,
    role: str = "observer",
    party_id: str | None = None,
    direct_entry: bool = False,
) -> InvitationRecord:
    now = core.clock.now()
    async with core.db.write() as tx:
        return await stored.create_invitation(
            tx,
            session_id=session_id,
            case_id=case_id,
            role=role,
            party_id=party_id,
            display_name=name,
            direct_entry=direct_entry,
            expires_at=now + timedelta(hours=24),
            created_by=None,
            now=now,
        )


async def test_an_invitation_is_written_and_read_back_as_written(core: Core, world: World) -> None:
    case = await cases.load_case(core, world.demo.case_id)
    party = case.parties[0]
    inv = await invite(core, case.id, world.demo.session_id, "张三", role="applicant", party_id=party.id)
    assert (inv.session_id, inv.case_id, inv.role, inv.party_id, inv.account_id) == (
        world.demo.session_id,
        case.id,
        "applicant",
        party.id,
        None,
    )
    assert (inv.display_name, inv.direct_entry, inv.revoked_at, inv.revoked_reason, inv.created_by) == (
        "张三",
        False,
        None,
        None,
        None,
    )
    assert (inv.created_at, inv.expires_at) == (core.clock.now(), core.clock.now() + timedelta(hours=24))
    async with core.db.read() as tx:
        assert await stored.load_invitation(tx, inv.id) == inv
        assert await stored.invitation_or_none(tx, inv.id) == inv


async def test_an_unknown_invitation_is_not_found_by_its_one_message_or_none(core: Core) -> None:
    async with core.db.write() as tx:
        for missing in (UNKNOWN, ""):
            for for_update in (False, True):
                with pytest.raises(NotFound) as caught:
                    await stored.load_invitation(tx, missing, for_update=for_update)
                assert (caught.value.message, caught.value.fields) == ("invitation not found", None)
            with pytest.raises(NotFound, match="^invitation not found$"):
                await stored.revoke(tx, missing, at=core.clock.now(), reason=None)
        for nothing in (UNKNOWN, "", None):
            assert await stored.invitation_or_none(tx, nothing) is None


async def test_a_cases_invitations_are_listed_oldest_first_and_only_its_own(core: Core, world: World) -> None:
    async with core.db.read() as tx:
        demo = await stored.invitations_of_case(tx, world.demo.case_id)
    assert [i.role for i in demo] == ["mediator", "applicant", "respondent", "expert"]  # as the demo issued them
    core.clock.advance(minutes=1)
    late = await invite(core, world.demo.case_id, world.demo.session_id, "late")
    other = await invite(core, world.other_case_id, world.other_session_id, "elsewhere")
    async with core.db.read() as tx:
        assert await stored.invitations_of_case(tx, world.demo.case_id) == [*demo, late]
        assert await stored.invitations_of_case(tx, world.other_case_id) == [other]
        assert await stored.invitations_of_case(tx, UNKNOWN) == []


async def test_a_revocation_is_written_with_its_time_and_reason_under_a_row_lock(core: Core, world: World) -> None:
    inv = await invite(core, world.demo.case_id, world.demo.session_id, "observer", direct_entry=True)
    core.clock.advance(minutes=5)
    async with core.db.write() as tx:
        locked = await stored.load_invitation(tx, inv.id, for_update=True)
        assert locked == inv
        revoked = await stored.revoke(tx, inv.id, at=core.clock.now(), reason="发错了人")
    assert (revoked.revoked_at, revoked.revoked_reason) == (core.clock.now(), "发错了人")
    assert revoked.direct_entry is True and revoked.expires_at == inv.expires_at
    async with core.db.read() as tx:
        assert await stored.load_invitation(tx, inv.id) == revoked
