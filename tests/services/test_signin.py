"""Passwords (Argon2id) and staff sign-in with rate limits per username and per address."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from server.auth.passwords import Passwords, generate_password
from server.domain.access import PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.clock import FrozenClock
from server.domain.errors import RateLimited, Unauthenticated
from server.domain.orgs import OrgLevel
from server.services import signin
from server.services.core import Core
from server.services.signin import ADDRESS_FACTOR
from server.storage.models import Account

from .builders import PASSWORD, make_org, make_staff, use_quick_hashing

ADDRESS = "203.0.113.7"


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords()  # the production cost parameters


async def test_a_password_hash_is_argon2id_salted_and_verifies_only_the_password(passwords: Passwords) -> None:
    first, second = await passwords.hash("正确的密码 123"), await passwords.hash("正确的密码 123")
    assert first.startswith("$argon2id$") and first != second
    assert await passwords.verify(second, "正确的密码 123")
    assert not await passwords.verify(first, "正确的密码 124")


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=65536,t=3,p=4$broken"])
async def test_a_missing_or_broken_stored_hash_verifies_nothing(passwords: Passwords, stored: str | None) -> None:
    assert not await passwords.verify(stored, "any password")


def test_generated_passwords_avoid_look_alike_characters() -> None:
    made = [generate_password() for _ in range(50)]
    assert all(len(p) == 14 for p in made)
    assert not set("".join(made)) & set("0O1lI")
    assert len(set(made)) == 50


@pytest.fixture
async def staff(core: Core) -> str:
    """One mediator account; returns its username."""
    use_quick_hashing(core)
    org = await make_org(core, "SI", level=OrgLevel.town)
    await make_staff(core, "wang.jg", StaffRole.mediator, org)
    return "wang.jg"


async def signs_in(core: Core, username: str, address: str = ADDRESS) -> bool:
    """Sign in with the right password: True when a browser session comes back for that account."""
    session = await signin.login(core, username, PASSWORD, address)
    return session.principal.display_name == username and bool(session.token)


async def fail(core: Core, username: str, address: str = ADDRESS, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Unauthenticated):
            await signin.login(core, username, "wrong-password", address)


async def test_the_right_password_signs_in_until_signing_out(core: Core, staff: str) -> None:
    session = await signin.login(core, "  Wang.JG ", PASSWORD, ADDRESS)  # usernames ignore case and spaces
    assert session.principal.account_id is not None and session.principal.staff_role is StaffRole.mediator
    assert await signin.authenticate(core, session.token, PrincipalKind.staff) == (session.principal,
                                                                                    session.csrf_token)
    await signin.logout(core, session.token)
    assert await signin.authenticate(core, session.token, PrincipalKind.staff) is None


async def test_a_wrong_password_an_unknown_user_and_a_deactivated_account_get_the_same_answer(
        core: Core, staff: str) -> None:
    async with core.db.write() as s:
        await s.execute(update(Account).where(Account.username == staff).values(active=False))
    answers = []
    for username, password in ((staff, "wrong-password"), ("nobody", PASSWORD), (staff, PASSWORD)):
        with pytest.raises(Unauthenticated) as err:
            await signin.login(core, username, password, ADDRESS)
        answers.append((err.value.code, err.value.message))
    assert answers == [("unauthenticated", "wrong username or password")] * 3


async def test_after_five_failures_even_the_right_password_waits_out_the_window(core: Core, clock: FrozenClock,
                                                                               staff: str) -> None:
    assert core.settings.login_max_failures == 5 and core.settings.login_window_seconds == 900
    await fail(core, staff, times=5)
    with pytest.raises(RateLimited) as err:
        await signin.login(core, staff, PASSWORD, ADDRESS)
    assert err.value.retry_after == 900
    assert err.value.message == "too many failed sign-ins; try again in 900 seconds"
    assert err.value.http_status == 429
    clock.advance(minutes=10)
    with pytest.raises(RateLimited) as err:
        await signin.login(core, staff, PASSWORD, "198.51.100.1")  # another address does not help
    assert err.value.retry_after == 300
    clock.advance(seconds=300)
    assert await signs_in(core, staff)


async def test_signing_in_clears_the_usernames_failures(core: Core, staff: str) -> None:
    await fail(core, staff, times=4)  # four are still under the limit
    assert await signs_in(core, staff)
    await fail(core, staff, times=4)  # eight in the window, but only four since the last success
    assert await signs_in(core, staff)


async def test_one_locked_username_does_not_lock_another_on_the_same_address(core: Core, staff: str) -> None:
    await fail(core, "li.si", times=5)
    with pytest.raises(RateLimited):
        await signin.login(core, "li.si", "anything", ADDRESS)
    assert await signs_in(core, staff)


async def test_one_address_is_capped_at_four_times_the_username_limit(core: Core, clock: FrozenClock,
                                                                      staff: str) -> None:
    cap = core.settings.login_max_failures * ADDRESS_FACTOR
    assert cap == 20
    for i in range(cap - 1):  # a different username each time: no single username reaches its limit
        await fail(core, f"guess{i}")
    assert await signs_in(core, staff)  # 19: still under the cap
    await fail(core, "guess-last")  # a success clears its username's failures, not the address's
    with pytest.raises(RateLimited) as err:
        await signin.login(core, staff, PASSWORD, ADDRESS)
    assert err.value.retry_after == 900
    assert await signs_in(core, staff, "198.51.100.1")  # other addresses are unaffected
    clock.advance(seconds=901)
    assert await signs_in(core, staff)
