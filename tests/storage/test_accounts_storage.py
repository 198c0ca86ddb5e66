"""Named queries and writes of orgs and accounts (server/storage/accounts.py) and of sign-in's
browser sessions and throttles (server/storage/signin.py), on SQLite and on PostgreSQL (the
`core` fixture runs both)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from server.domain.accounts import StaffRole
from server.domain.errors import Conflict, NotFound
from server.domain.orgs import OrgKind, OrgLevel
from server.services.core import Core
from server.storage import accounts as stored
from server.storage import signin as stored_signin
from server.storage.accounts import AccountRecord, OrgRecord

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def new_org(core: Core, code: str, parent: OrgRecord | None = None) -> OrgRecord:
    async with core.db.write() as tx:
        return await stored.create_org(
            tx,
            name=f"{code} 调委会",
            code=code,
            kind=OrgKind.people,
            level=OrgLevel.town,
            parent=parent,
            now=core.clock.now(),
        )


async def new_account(
    core: Core, username: str, org: OrgRecord, role: StaffRole = StaffRole.mediator, *, phone: str | None = None
) -> AccountRecord:
    async with core.db.write() as tx:
        return await stored.create_account(
            tx,
            username=username,
            display_name=username.upper(),
            role=role,
            org=org,
            password_hash="hash-of-" + username,
            phone=phone,
            now=core.clock.now(),
        )


# ---- orgs ---------------------------------------------------------------------------------------


async def test_an_org_is_written_under_its_parent_and_read_back_as_written(core: Core) -> None:
    root = await new_org(core, "R")
    child = await new_org(core, "R-C", root)
    assert (root.parent_id, root.path) == (None, f"/{root.id}/")
    assert (child.parent_id, child.path) == (root.id, f"/{root.id}/{child.id}/")
    assert (child.name, child.code, child.kind, child.level) == ("R-C 调委会", "R-C", "people", "town")
    assert child.created_at == core.clock.now()
    async with core.db.read() as tx:
        assert await stored.load_org(tx, child.id) == child
        assert await stored.org_by_code(tx, "R-C") == child
        assert await stored.org_by_code(tx, "r-c") is None  # codes are stored upper case; callers normalise
        assert await stored.org_by_code(tx, "NOPE") is None


async def test_orgs_are_listed_in_tree_order_and_under_a_path_only_that_subtree(core: Core) -> None:
    a = await new_org(core, "A")
    a1 = await new_org(core, "A-1", a)
    a11 = await new_org(core, "A-1-1", a1)
    b = await new_org(core, "B")
    async with core.db.read() as tx:
        everything = await stored.list_orgs(tx)
        assert [o.path for o in everything] == sorted(o.path for o in (a, a1, a11, b))
        assert await stored.list_orgs(tx, under=a1.path) == [a1, a11]
        assert await stored.list_orgs(tx, under=b.path) == [b]
        # The path is matched literally: LIKE's wildcards in it match nothing.
        assert await stored.list_orgs(tx, under="%") == []
        assert await stored.list_orgs(tx, under="/_") == []


async def test_an_unknown_org_is_not_found_naming_what_and_the_field_that_pointed_at_it(core: Core) -> None:
    async with core.db.read() as tx:
        for missing in (UNKNOWN, ""):
            with pytest.raises(NotFound) as caught:
                await stored.load_org(tx, missing)
            assert (caught.value.message, caught.value.fields) == ("org not found", None)
        with pytest.raises(NotFound) as caught:
            await stored.load_org(tx, UNKNOWN, what="parent org", field="parent_id")
        assert (caught.value.message, caught.value.fields) == ("parent org not found", {"parent_id": "not_found"})


async def test_a_second_org_with_a_code_in_use_is_a_conflict_and_writes_nothing(core: Core) -> None:
    first = await new_org(core, "DUP")
    with pytest.raises(Conflict) as caught:
        await new_org(core, "DUP")
    assert caught.value.message == "org code 'DUP' is already in use"
    assert caught.value.fields == {"code": "taken"}
    async with core.db.read() as tx:
        assert await stored.list_orgs(tx) == [first]


# ---- accounts -----------------------------------------------------------------------------------


async def test_an_account_is_written_with_its_org_and_read_back_without_its_password_hash(core: Core) -> None:
    org = await new_org(core, "AC")
    account = await new_account(core, "wang.jg", org, phone="13800138000")
    assert (account.username, account.display_name, account.role, account.org_id) == (
        "wang.jg",
        "WANG.JG",
        "mediator",
        org.id,
    )
    assert (account.phone, account.active, account.created_at, account.org) == (
        "13800138000",
        True,
        core.clock.now(),
        org,
    )
    assert "password_hash" not in {f.name for f in dataclasses.fields(AccountRecord)}
    async with core.db.read() as tx:
        assert await stored.load_account(tx, account.id) == account
        assert await stored.account_or_none(tx, account.id) == account
        assert await stored.account_by_username(tx, "wang.jg") == account
        assert await stored.credentials(tx, "wang.jg") == stored.Credentials(account, "hash-of-wang.jg")
        assert await stored.account_by_username(tx, "WANG.JG") is None  # usernames are stored normalised
        assert await stored.credentials(tx, "nobody") is None


async def test_an_unknown_account_is_not_found_or_none(core: Core) -> None:
    async with core.db.write() as tx:
        for missing in (UNKNOWN, ""):
            with pytest.raises(NotFound) as caught:
                await stored.load_account(tx, missing)
            assert (caught.value.message, caught.value.fields) == ("account not found", None)
            with pytest.raises(NotFound, match="^account not found$"):
                await stored.set_password(tx, missing, "h")
            with pytest.raises(NotFound, match="^account not found$"):
                await stored.set_active(tx, missing, False)
        for nothing in (UNKNOWN, "", None):
            assert await stored.account_or_none(tx, nothing) is None


async def test_a_taken_username_is_a_conflict_and_writes_nothing(core: Core) -> None:
    org, other = await new_org(core, "UN"), await new_org(core, "UN2")
    first = await new_account(core, "li.si", org)
    with pytest.raises(Conflict) as caught:
        await new_account(core, "li.si", other, StaffRole.expert)
    assert caught.value.message == "username 'li.si' is taken"
    assert caught.value.fields == {"username": "taken"}
    async with core.db.read() as tx:
        assert await stored.list_accounts(tx) == [first]


async def test_accounts_are_listed_by_their_orgs_place_in_the_tree_then_username(core: Core) -> None:
    root = await new_org(core, "L")
    town = await new_org(core, "L-T", root)
    zed = await new_account(core, "zed", root, StaffRole.admin)
    amy = await new_account(core, "amy", town, StaffRole.mediator)
    bob = await new_account(core, "bob", town, StaffRole.expert)
    cat = await new_account(core, "cat", root, StaffRole.expert)
    async with core.db.read() as tx:
        assert await stored.list_accounts(tx) == [cat, zed, amy, bob]
        assert await stored.list_accounts(tx, roles=(StaffRole.expert,)) == [cat, bob]
        assert await stored.list_accounts(tx, roles=(StaffRole.mediator, StaffRole.expert)) == [cat, amy, bob]
        assert await stored.list_accounts(tx, org_id=town.id) == [amy, bob]
        assert await stored.list_accounts(tx, roles=(StaffRole.expert,), org_id=town.id) == [bob]
        assert await stored.list_accounts(tx, org_id=UNKNOWN) == []


async def test_a_new_password_and_deactivation_are_written(core: Core) -> None:
    account = await new_account(core, "zhao", await new_org(core, "PW"))
    async with core.db.write() as tx:
        assert (await stored.set_active(tx, account.id, False)).active is False
        after = await stored.set_password(tx, account.id, "new-hash")
    assert after == dataclasses.replace(account, active=False)
    async with core.db.read() as tx:
        assert await stored.credentials(tx, "zhao") == stored.Credentials(after, "new-hash")
    async with core.db.write() as tx:
        assert (await stored.set_active(tx, account.id, True)).active is True


# ---- browser sessions and sign-in throttles -----------------------------------------------------


async def test_a_browser_session_is_stored_by_its_token_hash_and_ended(core: Core) -> None:
    account = await new_account(core, "ws", await new_org(core, "WS"))
    now = core.clock.now()
    async with core.db.write() as tx:
        written = await stored_signin.add_web_session(
            tx,
            token_hash="a" * 64,
            kind="staff",
            account_id=account.id,
            csrf_token="csrf",
            now=now,
            expires_at=now + timedelta(hours=8),
        )
    assert (written.account_id, written.invitation_id, written.expires_at) == (
        account.id,
        None,
        now + timedelta(hours=8),
    )
    async with core.db.read() as tx:
        assert await stored_signin.web_session(tx, "a" * 64) == written
        assert await stored_signin.web_session(tx, "b" * 64) is None
    async with core.db.write() as tx:
        await stored_signin.end_web_session(tx, "a" * 64)
        await stored_signin.end_web_session(tx, "b" * 64)  # ending none is no error
    async with core.db.read() as tx:
        assert await stored_signin.web_session(tx, "a" * 64) is None


async def test_a_throttle_counts_tries_refuses_while_blocked_forgives_and_is_pruned_when_quiet(core: Core) -> None:
    window = timedelta(minutes=15)
    now = core.clock.now()
    async with core.db.write() as tx:
        assert [await stored_signin.count_try(tx, "user:x", now, window) for _ in range(3)] == [1, 2, 3]
        assert await stored_signin.blocked_until(tx, "user:x") is None
        await stored_signin.block(tx, "user:x", now + timedelta(seconds=30))
        assert await stored_signin.count_try(tx, "user:x", now, window) is None  # refused: counts nothing
        assert await stored_signin.blocked_until(tx, "user:x") == now + timedelta(seconds=30)
        assert await stored_signin.count_try(tx, "user:x", now + timedelta(seconds=30), window) == 4
        # Taking back fewer than the count leaves the rest, and ends a wait below the threshold.
        await stored_signin.block(tx, "user:x", now + timedelta(minutes=1))
        await stored_signin.forgive(tx, "user:x", 1, unblock_below=4)
        assert await stored_signin.count_try(tx, "user:x", now + timedelta(seconds=31), window) == 4
        await stored_signin.forgive(tx, "user:x", 4, unblock_below=4)  # all of it: the counter goes
        assert await stored_signin.blocked_until(tx, "user:x") is None
        assert await stored_signin.count_try(tx, "user:x", now + timedelta(seconds=32), window) == 1
        assert await stored_signin.count_try(tx, "addr:y", now + timedelta(seconds=32), window) == 1
    later = now + timedelta(seconds=32) + window
    async with core.db.write() as tx:
        await stored_signin.block(tx, "user:x", later + timedelta(hours=1))
        # A counter quiet for a window starts again from one, and pruning forgets it, wait and all.
        assert await stored_signin.count_try(tx, "addr:y", later, window) == 1
        await stored_signin.prune(tx, later, window)
        assert await stored_signin.blocked_until(tx, "user:x") is None
        assert await stored_signin.count_try(tx, "addr:y", later, window) == 2  # just counted: kept
