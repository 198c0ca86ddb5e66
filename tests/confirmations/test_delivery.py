"""The package reaches a real court receiver on loopback exactly once: through a receiver that is
down, then slow, then failing, then well; across a restart; from two nodes at once; and a
refusal fails at once. The clock is frozen: retries come when the test moves it, not by sleeping."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from server.domain.confirmation import MANIFEST_NAME, check_package
from server.domain.minutes import MinutesIn
from server.services import confirmations, minutes
from server.services.confirmations import Deliveries
from server.services.core import Core
from tests.conftest import World
from tests.support.waiting import never, wait_for

from .conftest import (
    TIMEOUT,
    locked_agreement,
    log_of,
    pdf_text,
    request_row,
    set_court,
    unzip,
)


async def attempts_reach(core: Core, request_id: str, n: int) -> None:
    async def reached() -> bool:
        return (await request_row(core, request_id)).attempts >= n

    await wait_for(reached, timeout=10, what=f"attempt {n} of {request_id}", interval=0.02)


async def ask(core: Core, world: World) -> str:
    signed = await locked_agreement(core, world.demo.case_id, session_id=world.demo.session_id)
    listed = await confirmations.request(
        core, world.principals["demo-mediator"], world.demo.case_id, signed.agreement_id
    )
    return listed.request.id


async def test_down_then_slow_then_500_then_200_delivers_the_package_exactly_once(core, world, receiver, deliveries):
    # The district's court serves the town's case; the application is addressed to it by name.
    await set_court(core, "DEMO", receiver.url, name="示范区人民法院")
    mediator = world.principals["demo-mediator"]
    written = await minutes.save(
        core,
        await minutes.editor_for(core, mediator, world.demo.session_id),
        base_revision=0,
        save_id="s-1",
        body=MinutesIn(result="双方自愿达成调解协议，当场签名。"),
    )
    request_id = await ask(core, world)
    clock = core.clock

    await attempts_reach(core, request_id, 1)  # the port is closed
    row = await request_row(core, request_id)
    assert row.status == "pending" and "Connect" in (row.last_error or "")
    assert row.next_attempt_at == clock.now() + timedelta(seconds=5)

    receiver.mode = "slow"
    await receiver.start()
    clock.advance(seconds=5)
    await attempts_reach(core, request_id, 2)
    row = await request_row(core, request_id)
    assert row.status == "pending" and row.last_error == f"no answer within {TIMEOUT:g} s"

    receiver.mode = "error"
    receiver.release.set()  # the slow answer comes now, long after the sender gave up
    clock.advance(seconds=10)
    await attempts_reach(core, request_id, 3)
    assert (await request_row(core, request_id)).last_error == "HTTP 500"

    receiver.mode = "ok"
    clock.advance(seconds=20)
    await attempts_reach(core, request_id, 4)
    row = await request_row(core, request_id)
    assert row.status == "delivered" and row.delivered_at == clock.now() and row.last_error is None
    clock.advance(minutes=30)
    await never(lambda: len(receiver.hits) > 3, within=0.3, what="a delivered package sent again")

    # Exactly one package stored at the court; every attempt that reached it was signed.
    assert list(receiver.accepted) == [request_id]
    assert [h.mode for h in receiver.hits] == ["slow", "error", "ok"]
    assert all(h.verified and h.delivery == request_id for h in receiver.hits)
    assert [h.attempt for h in receiver.hits] == ["2", "3", "4"]

    # What arrived is the package as stored, and it checks out against its manifest.
    body = receiver.accepted[request_id]
    assert (core.settings.data_dir / row.package_path).read_bytes() == body
    files = unzip(body)
    assert check_package(files) == []
    head = json.loads(files[MANIFEST_NAME])
    signed_sha = head["agreement"]["version_sha256"]
    assert head["request_id"] == request_id and head["case"]["number"] == world.demo.case_number
    assert {"application.pdf", "agreement.pdf", "minutes.pdf", "signatures.json", MANIFEST_NAME} <= set(files)
    assert head["minutes"] == {"session_id": world.demo.session_id, "revision": 1, "sha256": written.minutes.sha256}
    assert "双方自愿达成调解协议，当场签名。" in pdf_text(files["minutes.pdf"])
    application = pdf_text(files["application.pdf"])
    for text in (
        "司法确认申请书",
        "李秀英",
        "清水镇卫生院",
        "此致",
        "示范区人民法院",
        "示范区清水镇人民调解委员会",
        world.demo.case_number,
    ):
        assert text in application, text
    assert "有管辖权" not in application
    assert "12000" in application
    assert "人民调解协议书" in pdf_text(files["agreement.pdf"])
    records = json.loads(files["signatures.json"])
    assert records["agreement_version_sha256"] == signed_sha
    assert len(records["signatures"]) == 3
    for s in records["signatures"]:
        assert s["version_sha256"] == signed_sha and s["ip"] == "192.0.2.7" and s["user_agent"]
        assert files[s["image"]].startswith(b"\x89PNG")

    # The case log tells the story, each attempt by the delivery loop.
    log = await log_of(core, world.demo.case_id)
    assert [(k, a) for k, a, _ in log] == [
        ("confirmation.requested", f"account:{world.principals['demo-mediator'].account_id}"),
        *[("confirmation.attempted", "system:court-delivery")] * 4,
        ("confirmation.delivered", "system:court-delivery"),
    ]
    assert log[0][2]["package_sha256"] == row.package_sha256
    assert [d["status_code"] for k, _, d in log if k == "confirmation.attempted"] == [None, None, 500, 200]


async def test_a_restart_between_attempts_loses_nothing(core, world, receiver, settings, clock):
    await set_court(core, "DEMO", receiver.url)
    request_id = await ask(core, world)
    first = Deliveries(core, interval=0.05, timeout=TIMEOUT)
    await first.start()
    await attempts_reach(core, request_id, 1)  # down
    await first.stop()
    await core.close()

    again = Core.build(settings, clock=clock)  # the node comes back: same database, same data directory
    second = Deliveries(again, interval=0.05, timeout=TIMEOUT)
    await second.start()
    try:
        await receiver.start()
        clock.advance(seconds=5)
        await attempts_reach(again, request_id, 2)
        assert (await request_row(again, request_id)).status == "delivered"
        assert list(receiver.accepted) == [request_id] and receiver.repeats == 0
    finally:
        await second.stop()
        await again.close()


async def test_a_node_that_dies_mid_attempt_leaves_a_lease_another_node_takes_when_it_runs_out(
    core, world, receiver, settings, clock
):
    await set_court(core, "DEMO", receiver.url)
    receiver.mode = "slow"
    await receiver.start()
    request_id = await ask(core, world)
    first = Deliveries(core, interval=0.05, timeout=30)  # waits longer than the test: it "dies" first
    await first.start()
    await wait_for(lambda: receiver.hits, timeout=10, what="the first attempt to arrive")
    await first.stop()  # gone mid-attempt: nothing written, the lease stays
    row = await request_row(core, request_id)
    assert row.attempts == 0 and row.lease_until is not None

    second = Deliveries(core, interval=0.05, timeout=TIMEOUT)
    await second.start()
    try:
        receiver.mode = "ok"
        await never(lambda: len(receiver.hits) > 1, within=0.3, what="a leased request sent by another node")
        clock.set(row.lease_until)
        await attempts_reach(core, request_id, 1)
        assert (await request_row(core, request_id)).status == "delivered"
        receiver.release.set()
        await wait_for(lambda: receiver.repeats == 1, timeout=5, what="the slow first attempt to be stored")
        assert list(receiver.accepted) == [request_id]  # the receiver dropped the repeat by its delivery id
    finally:
        await second.stop()


async def test_a_4xx_fails_at_once_with_the_reason_and_is_not_tried_again(core, world, receiver, deliveries):
    await set_court(core, "DEMO", receiver.url)
    receiver.mode = "refuse"
    await receiver.start()
    request_id = await ask(core, world)
    await attempts_reach(core, request_id, 1)
    row = await request_row(core, request_id)
    assert row.status == "failed" and row.last_error == "HTTP 400" and row.next_attempt_at is None
    core.clock.advance(hours=1)
    await never(lambda: len(receiver.hits) > 1, within=0.3, what="a refused package sent again")
    log = await log_of(core, world.demo.case_id)
    assert [k for k, _, _ in log][-1] == "confirmation.failed"
    assert log[-1][2]["reason"] == "HTTP 400"


async def test_the_receiver_detects_a_package_signed_with_another_secret(core, world, receiver, deliveries):
    await set_court(core, "DEMO", receiver.url, secret="not-the-courts-secret")
    await receiver.start()
    request_id = await ask(core, world)
    await attempts_reach(core, request_id, 1)
    assert [h.verified for h in receiver.hits] == [False]
    assert receiver.accepted == {}
    row = await request_row(core, request_id)
    assert row.status == "failed" and row.last_error == "HTTP 401"


async def test_a_package_changed_on_disk_is_not_sent(core, world, receiver, deliveries):
    await set_court(core, "DEMO", receiver.url)
    await receiver.start()
    await deliveries.stop()
    request_id = await ask(core, world)
    path = core.settings.data_dir / (await request_row(core, request_id)).package_path
    path.write_bytes(path.read_bytes() + b"tampered")
    await deliveries.start()
    await attempts_reach(core, request_id, 1)
    row = await request_row(core, request_id)
    assert row.status == "failed" and "SHA-256" in (row.last_error or "")
    assert receiver.hits == []


# Several nodes share a PostgreSQL database; SQLite is the one-process default.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_nodes_on_one_postgresql_database_never_send_a_package_twice(
    core, world, receiver, settings, clock, database_url
):
    assert database_url.startswith("postgresql")
    await set_court(core, "DEMO", receiver.url)
    await receiver.start()
    ids = [await ask(core, world) for _ in range(6)]
    other = Core.build(settings, clock=clock)
    nodes = [Deliveries(core, interval=0.01, timeout=5), Deliveries(other, interval=0.01, timeout=5)]
    for node in nodes:
        await node.start()
    try:

        async def all_delivered() -> bool:
            return all([(await request_row(core, i)).status == "delivered" for i in ids])

        await wait_for(all_delivered, timeout=30, what="every package delivered", interval=0.05)
    finally:
        for node in nodes:
            await node.stop()
        await other.close()
    assert sorted(h.delivery for h in receiver.hits) == sorted(ids)  # each sent once, by one node
    assert receiver.repeats == 0
    assert [(await request_row(core, i)).attempts for i in ids] == [1] * len(ids)
