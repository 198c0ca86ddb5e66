"""Requests as rows: a claim is one conditional write with a lease, a lease that runs out is taken
again, and only the lease's holder writes the attempt. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from server.domain.confirmation import RequestStatus
from server.services.core import Core
from server.storage import confirmations as stored
from tests.conftest import World

from .conftest import locked_agreement

LEASE = timedelta(seconds=90)


async def new_request(core: Core, world: World) -> str:
    signed = await locked_agreement(core, world.demo.case_id)
    async with core.db.write() as tx:
        row = await stored.insert(
            tx,
            request_id=stored.new_request_id(),
            case_id=world.demo.case_id,
            agreement_id=signed.agreement_id,
            agreement_version_id=signed.version_id,
            endpoint="http://127.0.0.1:9/",
            package_path="cases/x/confirmations/y.zip",
            package_sha256="0" * 64,
            package_bytes=1,
            created_by="account:x",
            now=core.clock.now(),
        )
    return row.id


async def claim(core: Core, request_id: str) -> stored.ConfirmationRecord | None:
    now = core.clock.now()
    async with core.db.write() as tx:
        return await stored.claim(tx, request_id, now, now + LEASE)


async def test_a_claimed_request_is_not_claimed_again_until_its_lease_runs_out(core, world):
    request_id = await new_request(core, world)
    async with core.db.read() as tx:
        assert await stored.due_ids(tx, core.clock.now()) == [request_id]
    first = await claim(core, request_id)
    assert first is not None and first.lease_until == core.clock.now() + LEASE
    assert await claim(core, request_id) is None
    async with core.db.read() as tx:
        assert await stored.due_ids(tx, core.clock.now()) == []

    core.clock.advance(seconds=LEASE.total_seconds())  # the node holding it died
    second = await claim(core, request_id)
    assert second is not None and second.lease_until != first.lease_until

    # The first holder comes back too late: its result is not written.
    assert first.lease_until is not None and second.lease_until is not None
    async with core.db.write() as tx:
        late = await stored.finish_attempt(
            tx,
            request_id,
            first.lease_until,
            status=RequestStatus.delivered,
            attempts=1,
            next_attempt_at=None,
            error=None,
            now=core.clock.now(),
        )
        assert late is None
        done = await stored.finish_attempt(
            tx,
            request_id,
            second.lease_until,
            status=RequestStatus.pending,
            attempts=1,
            next_attempt_at=core.clock.now() + timedelta(seconds=5),
            error="HTTP 503",
            now=core.clock.now(),
        )
    assert done is not None and done.attempts == 1 and done.lease_until is None and done.last_error == "HTTP 503"
    assert await claim(core, request_id) is None  # not due for 5 s
    core.clock.advance(seconds=5)
    assert await claim(core, request_id) is not None


async def test_of_many_simultaneous_claims_from_two_nodes_exactly_one_wins(core, world, settings, clock):
    request_id = await new_request(core, world)
    other = Core.build(settings, clock=clock)
    try:
        won = await asyncio.gather(*(claim(c, request_id) for c in [core, other] * 10))
    finally:
        await other.close()
    assert len([w for w in won if w is not None]) == 1


async def test_only_a_failed_request_is_queued_again_with_a_fresh_48_hours(core, world):
    request_id = await new_request(core, world)
    async with core.db.write() as tx:
        assert await stored.requeue(tx, request_id, core.clock.now()) is None  # pending
    claimed = await claim(core, request_id)
    assert claimed is not None and claimed.lease_until is not None
    async with core.db.write() as tx:
        await stored.finish_attempt(
            tx,
            request_id,
            claimed.lease_until,
            status=RequestStatus.failed,
            attempts=1,
            next_attempt_at=None,
            error="HTTP 400",
            now=core.clock.now(),
        )
    core.clock.advance(days=3)
    async with core.db.write() as tx:
        again = await stored.requeue(tx, request_id, core.clock.now())
    assert again is not None
    assert (again.status, again.queued_at, again.next_attempt_at) == ("pending", core.clock.now(), core.clock.now())
    assert again.attempts == 1 and again.last_error == "HTTP 400"  # the history stays
