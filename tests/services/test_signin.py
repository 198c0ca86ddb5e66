"""Passwords (Argon2id) and staff sign-in, throttled per username and address, per address and per username."""

from __future__ import annotations

import asyncio

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from server.auth.passwords import Passwords, generate_password
from server.domain.access import PrincipalKind
from server.domain.accounts import StaffRole
from server.domain.clock import FrozenClock
from server.domain.errors import RateLimited, Unauthenticated
from server.domain.orgs import OrgLevel
from server.services import signin
from server.services.core import Core
from server.services.signin import ADDRESS_FACTOR, USER_DELAY_CAP_SECONDS, USER_FACTOR
from server.storage.models import Account, LoginFailure

from .builders import PASSWORD, SlowVerify, make_org, make_staff, use_quick_hashing

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


class HeldVerify(Passwords):
    """Argon2id at its lowest cost; checking the right password waits until `release` is set."""

    def __init__(self) -> None:
        super().__init__(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        self.checking, self.release = asyncio.Event(), asyncio.Event()

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        if password == PASSWORD:
            self.checking.set()
            await self.release.wait()
        return await super().verify(stored_hash, password)


async def throttle_rows(core: Core) -> int:
    async with core.db.read() as s:
        return (await s.execute(select(func.count()).select_from(LoginFailure))).scalar_one()


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
    assert await signin.authenticate(core, session.token, PrincipalKind.staff) == (
        session.principal,
        session.csrf_token,
    )
    await signin.logout(core, session.token)
    assert await signin.authenticate(core, session.token, PrincipalKind.staff) is None


async def test_a_wrong_password_an_unknown_user_and_a_deactivated_account_get_the_same_answer(
    core: Core, staff: str
) -> None:
    async with core.db.write() as s:
        await s.execute(update(Account).where(Account.username == staff).values(active=False))
    answers = []
    for username, password in ((staff, "wrong-password"), ("nobody", PASSWORD), (staff, PASSWORD)):
        with pytest.raises(Unauthenticated) as err:
            await signin.login(core, username, password, ADDRESS)
        answers.append((err.value.code, err.value.message))
    assert answers == [("unauthenticated", "wrong username or password")] * 3


async def test_after_five_failures_from_one_address_even_the_right_password_from_there_waits_out_the_window(
    core: Core, clock: FrozenClock, staff: str
) -> None:
    assert core.settings.login_max_failures == 5 and core.settings.login_window_seconds == 900
    await fail(core, staff, times=5)
    with pytest.raises(RateLimited) as err:
        await signin.login(core, staff, PASSWORD, ADDRESS)
    assert err.value.retry_after == 900
    assert err.value.message == "too many failed sign-ins; try again in 900 seconds"
    assert err.value.http_status == 429
    clock.advance(minutes=10)
    with pytest.raises(RateLimited) as err:
        await signin.login(core, staff, "wrong-password", ADDRESS)
    assert err.value.retry_after == 300
    clock.advance(seconds=300)
    assert await signs_in(core, staff)


async def test_an_attacker_hammering_from_one_address_does_not_keep_the_right_person_out(
    core: Core, clock: FrozenClock, staff: str
) -> None:
    attacker, owner = "198.51.100.66", "203.0.113.200"
    outcomes = []
    for _ in range(50):
        try:
            await signin.login(core, staff, "guess", attacker)
        except (Unauthenticated, RateLimited) as exc:
            outcomes.append(type(exc))
    assert outcomes == [Unauthenticated] * 5 + [RateLimited] * 45
    assert await signs_in(core, staff, owner)  # at once: no wait, no lock-out
    assert await signs_in(core, staff, owner)
    with pytest.raises(RateLimited) as err:  # the owner's success frees nothing for the attacker
        await signin.login(core, staff, PASSWORD, attacker)
    assert err.value.retry_after == 900
    clock.advance(seconds=899)
    with pytest.raises(RateLimited) as err:  # refused tries did not stretch the block
        await signin.login(core, staff, "guess", attacker)
    assert err.value.retry_after == 1
    clock.advance(seconds=1)
    await fail(core, staff, attacker)


async def botnet(core: Core, clock: FrozenClock, username: str, failures: int) -> list[int]:
    """Fail `failures` times, each from a fresh address, waiting out each delay; return the delays."""
    waits = []
    for i in range(failures):
        address = f"192.0.2.{i + 1}"
        try:
            await signin.login(core, username, "guess", address)
        except RateLimited as err:
            waits.append(err.retry_after)
            clock.advance(seconds=err.retry_after)
            await fail(core, username, address)
        except Unauthenticated:
            pass
    return waits


async def test_failures_from_many_addresses_slow_the_username_with_doubling_delays_capped_at_two_minutes(
    core: Core, clock: FrozenClock, staff: str
) -> None:
    free = core.settings.login_max_failures * USER_FACTOR
    assert free == 10 and USER_DELAY_CAP_SECONDS == 120
    assert await botnet(core, clock, staff, free) == []
    assert await botnet(core, clock, staff, 10) == [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]


async def test_while_a_botnet_guesses_the_right_person_waits_at_most_two_minutes_and_refused_tries_cost_nothing(
    core: Core, clock: FrozenClock, staff: str
) -> None:
    await botnet(core, clock, staff, core.settings.login_max_failures * USER_FACTOR + 8)
    refused = 0
    while True:  # impatient: tries again every five seconds
        try:
            assert await signs_in(core, staff, "203.0.113.200")
            break
        except RateLimited as err:
            assert err.retry_after <= USER_DELAY_CAP_SECONDS
            refused += 1
            clock.advance(seconds=min(5, err.retry_after))
    assert refused == 24  # more than five, yet none of them counted against the owner's own address
    await fail(core, staff, "192.0.2.250")  # signing in started the username's count afresh


async def test_concurrent_wrong_passwords_get_no_more_401s_than_the_limit(core: Core, staff: str) -> None:
    core.passwords = SlowVerify()
    results = await asyncio.gather(
        *(signin.login(core, staff, "wrong-password", ADDRESS) for _ in range(12)), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["RateLimited"] * 7 + ["Unauthenticated"] * 5
    with pytest.raises(RateLimited):
        await signin.login(core, staff, PASSWORD, ADDRESS)


async def test_concurrent_tries_from_many_addresses_let_one_through_per_delay(
    core: Core, clock: FrozenClock, staff: str
) -> None:
    for i in range(USER_FACTOR):
        await fail(core, staff, f"198.51.100.{i}", times=core.settings.login_max_failures)
    clock.advance(seconds=1)  # the first delay has passed: the next try may go ahead, and only one
    core.passwords = SlowVerify()
    results = await asyncio.gather(
        *(signin.login(core, staff, "guess", f"192.0.2.{i}") for i in range(12)), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["RateLimited"] * 11 + ["Unauthenticated"]
    assert {r.retry_after for r in results if isinstance(r, RateLimited)} == {2}


async def test_a_success_forgives_the_failures_before_it_but_not_those_made_while_it_was_checked(
    core: Core, staff: str
) -> None:
    await fail(core, staff)
    core.passwords = held = HeldVerify()
    success = asyncio.create_task(signin.login(core, staff, PASSWORD, ADDRESS))
    await held.checking.wait()
    await fail(core, staff, times=3)
    held.release.set()
    assert (await success).principal.display_name == staff
    await fail(core, staff, times=2)  # three failures overlapped the success and still count: two more, then none
    with pytest.raises(RateLimited):
        await signin.login(core, staff, PASSWORD, ADDRESS)


async def test_old_throttle_rows_are_pruned(core: Core, clock: FrozenClock, staff: str) -> None:
    for i in range(30):
        await fail(core, f"guess{i}", f"192.0.2.{i}")
    assert await throttle_rows(core) == 30 * 3
    clock.advance(seconds=core.settings.login_window_seconds)
    await fail(core, "late", "198.51.100.9")
    assert await throttle_rows(core) == 3
    assert await signs_in(core, staff)  # a success clears its username's rows, and its address has no failures
    assert await throttle_rows(core) == 3


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


async def test_one_address_is_capped_at_four_times_the_username_limit(
    core: Core, clock: FrozenClock, staff: str
) -> None:
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
