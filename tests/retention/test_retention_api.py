"""The retention and legal-hold API (server/api/retention.py) through the real app, on SQLite
and PostgreSQL: who may do what, bad bodies, and what the case log says afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.domain.clock import FrozenClock
from server.services.core import Core
from server.services.retention import Retention
from tests.api.conftest import V1, SignIn, db_state, expect_error, join_as
from tests.conftest import World
from tests.retention.conftest import chain_ok, log_of, org_of_code
from tests.retention.recorded import Recorded


def hold_url(case_id: str) -> str:
    return f"{V1}/cases/{case_id}/hold"


async def retention_url(core: Core, code: str = "DEMO-QS") -> str:
    return f"{V1}/orgs/{await org_of_code(core, code)}/retention"


async def days_of(core: Core, code: str = "DEMO-QS") -> Any:
    from sqlalchemy import select

    from server.storage.models import Org

    async with core.db.read() as s:
        return (await s.execute(select(Org.recording_retention_days).where(Org.code == code))).scalar_one()


# ---- an org's period ----------------------------------------------------------------------------


async def test_an_admin_sets_an_orgs_period_and_staff_of_the_org_read_it(core: Core, sign_in: SignIn) -> None:
    admin, mediator = await sign_in("demo-admin"), await sign_in("demo-mediator")
    url = await retention_url(core)
    org_id = url.split("/")[-2]
    kept = {"org_id": org_id, "recording_retention_days": None, "parties_see_recordings": False}
    assert await (await admin.get(url)).json() == kept
    resp = await admin.send("PUT", url, {"days": 180})
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {**kept, "recording_retention_days": 180}
    assert await (await mediator.get(url)).json() == {**kept, "recording_retention_days": 180}
    assert await days_of(core) == 180
    resp = await admin.send("PUT", url, {"days": None})
    assert resp.status == 200 and (await resp.json())["recording_retention_days"] is None
    assert await days_of(core) is None
    # Whether the parties may watch: set when given, kept when left out, a JSON boolean only.
    resp = await admin.send("PUT", url, {"days": None, "parties_see_recordings": True})
    assert (await resp.json())["parties_see_recordings"] is True
    resp = await admin.send("PUT", url, {"days": 90})
    assert (await resp.json()) == {**kept, "recording_retention_days": 90, "parties_see_recordings": True}
    for wrong in ("yes", 1, None):
        resp = await admin.send("PUT", url, {"days": 90, "parties_see_recordings": wrong})
        if wrong is None:  # null: left as it is
            assert (await resp.json())["parties_see_recordings"] is True
        else:
            await expect_error(resp, 422, "invalid_input", fields=("parties_see_recordings",))


async def test_only_admins_set_a_period_and_an_org_out_of_sight_is_not_found(
    core: Core, world: World, sign_in: SignIn
) -> None:
    url = await retention_url(core)
    callers = {u: await sign_in(u) for u in ("demo-reviewer", "demo-mediator", "demo-expert", "other-reviewer")}
    admin = await sign_in("demo-admin")
    before = await db_state(core)  # (after signing in, which writes sessions)
    for caller in callers.values():
        await expect_error(await caller.send("PUT", url, {"days": 1}), 403, "forbidden")
    await expect_error(await callers["other-reviewer"].get(url), 404, "not_found")
    unknown = f"{V1}/orgs/00000000-0000-0000-0000-000000000000/retention"
    await expect_error(await admin.send("PUT", unknown, {"days": 1}), 404, "not_found")
    await expect_error(await admin.get(unknown), 404, "not_found")
    assert await db_state(core) == before and await days_of(core) is None


@pytest.mark.parametrize(
    "body",
    [
        {"days": -1},
        {"days": 0},
        {"days": 36_501},
        {"days": 10**18},
        {"days": 10**40},
        {"days": "30"},
        {"days": 30.5},
        {"days": 30.0},
        {"days": True},
        {"days": [30]},
        {"days": {"n": 30}},
        {},
        {"days": 30, "org_id": "x"},
    ],
)
async def test_a_bad_period_is_422_naming_the_field(core: Core, sign_in: SignIn, body: dict[str, Any]) -> None:
    admin = await sign_in("demo-admin")
    err = await expect_error(await admin.send("PUT", await retention_url(core), body), 422, "invalid_input")
    assert set(err["fields"]) == ({"org_id"} if "org_id" in body else {"days"} if "days" in err["fields"] else set())
    assert await days_of(core) is None


async def test_a_period_that_is_not_json_is_refused(core: Core, sign_in: SignIn) -> None:
    admin = await sign_in("demo-admin")
    url = await retention_url(core)
    await expect_error(await admin.send_raw("PUT", url, '{"days": '), 400, "invalid_json")
    await expect_error(
        await admin.send_raw("PUT", url, json.dumps({"days": 5}), "text/plain"), 415, "unsupported_media_type"
    )
    await expect_error(await admin.send_raw("PUT", url, "[5]"), 422, "invalid_input")
    assert await days_of(core) is None


# ---- a case's legal hold -----------------------------------------------------------------------


async def test_admins_and_reviewers_set_and_release_a_hold_each_in_the_log_with_their_reason(
    core: Core, world: World, sign_in: SignIn, clock: FrozenClock
) -> None:
    case_id = world.demo.case_id
    admin, reviewer, mediator = (
        await sign_in("demo-admin"),
        await sign_in("demo-reviewer"),
        await sign_in("demo-mediator"),
    )
    A, R = (f"account:{world.principals[u].account_id}" for u in ("demo-admin", "demo-reviewer"))
    assert await (await mediator.get(hold_url(case_id))).json() == {
        "case_id": case_id,
        "legal_hold": False,
        "last_change": None,
    }
    resp = await admin.send("POST", hold_url(case_id), {"reason": "  法院调取证据  "})
    assert resp.status == 200, await resp.text()
    at = clock.now().isoformat(timespec="microseconds")
    set_by_admin = {"kind": "case.hold_set", "actor": A, "at": at, "reason": "法院调取证据"}
    assert await resp.json() == {"case_id": case_id, "legal_hold": True, "last_change": set_by_admin}
    assert (await (await mediator.get(hold_url(case_id))).json())["last_change"] == set_by_admin

    err = await expect_error(await reviewer.send("POST", hold_url(case_id), {"reason": "再次"}), 409, "conflict")
    assert "already" in err["message"] and A in err["message"]

    clock.advance(minutes=5)
    resp = await reviewer.send("DELETE", hold_url(case_id), {"reason": "诉讼已结束"})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["legal_hold"] is False and body["last_change"]["actor"] == R
    assert body["last_change"]["kind"] == "case.hold_released" and body["last_change"]["reason"] == "诉讼已结束"
    await expect_error(await admin.send("DELETE", hold_url(case_id), {"reason": "again"}), 409, "conflict")

    clock.advance(minutes=5)
    assert (await reviewer.send("POST", hold_url(case_id), {"reason": "复核"})).status == 200
    logged = await log_of(core, case_id, "case.hold_set", "case.hold_released")
    assert [(e.kind, e.actor, e.session_id, e.data) for e in logged] == [
        ("case.hold_set", A, None, {"reason": "法院调取证据"}),
        ("case.hold_released", R, None, {"reason": "诉讼已结束"}),
        ("case.hold_set", R, None, {"reason": "复核"}),
    ]
    await chain_ok(core, case_id)


async def test_nobody_else_may_hold_a_case(core: Core, world: World, sign_in: SignIn, aiohttp_client: Any, client: Any):
    case_id, url = world.demo.case_id, hold_url(world.demo.case_id)
    refused = (
        ("demo-mediator", 403, "forbidden"),  # the case's own mediator sees it, may not hold it
        ("demo-expert", 403, "forbidden"),  # invited to it
        ("other-reviewer", 404, "not_found"),  # another district
        ("other-mediator", 404, "not_found"),
    )
    callers = {u: await sign_in(u) for u, _, _ in refused}
    admin = await sign_in("demo-admin")
    party = await aiohttp_client(client.server)
    await join_as(party, world)
    before = await db_state(core)  # (after signing in, which writes sessions)
    for username, status, code in refused:
        for method in ("POST", "DELETE"):
            await expect_error(await callers[username].send(method, url, {"reason": "试试"}), status, code)
    await expect_error(await callers["other-reviewer"].get(url), 404, "not_found")
    await expect_error(
        await admin.send("POST", hold_url("00000000-0000-0000-0000-000000000000"), {"reason": "x"}), 404, "not_found"
    )
    await expect_error(await party.post(url, json={"reason": "x"}), 403, "forbidden")
    await expect_error(await party.get(url), 403, "forbidden")
    anonymous = await aiohttp_client(client.server)
    await expect_error(await anonymous.post(url, json={"reason": "x"}), 401, "unauthenticated")
    # Signed in, but without the CSRF token.
    await expect_error(await admin.client.post(url, json={"reason": "x"}), 403, "forbidden")
    assert await db_state(core) == before
    assert await log_of(core, case_id, "case.hold_set", "case.hold_released") == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": None},
        {"reason": 5},
        {"reason": ["x"]},
        {"reason": "长" * 501},
        {"reason": "x", "legal_hold": False},
    ],
)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_a_hold_without_a_reason_in_words_is_422(
    core: Core, world: World, sign_in: SignIn, method: str, body: dict[str, Any]
) -> None:
    admin = await sign_in("demo-admin")
    if method == "DELETE":
        assert (await admin.send("POST", hold_url(world.demo.case_id), {"reason": "先设上"})).status == 200
    before = await db_state(core)
    err = await expect_error(await admin.send(method, hold_url(world.demo.case_id), body), 422, "invalid_input")
    assert set(err["fields"]) <= {"reason", "legal_hold"} and err["fields"]
    assert await db_state(core) == before


# ---- after a deletion ---------------------------------------------------------------------------


async def test_after_retention_the_log_shows_what_went_and_when_and_the_chain_still_verifies(
    core: Core, world: World, sign_in: SignIn, recorded: Recorded, clock: FrozenClock
) -> None:
    admin = await sign_in("demo-admin")
    assert (await admin.send("PUT", await retention_url(core), {"days": 30})).status == 200
    clock.advance(days=31)
    assert (await Retention(core).run_once()).deleted == 8
    reviewer = await sign_in("demo-reviewer")  # (a month later: yesterday's sign-ins have ended)
    events = await (await reviewer.get(f"{V1}/cases/{recorded.case_id}/events")).json()
    assert events["chain"]["ok"] is True
    deleted = [e for e in events["events"] if e["kind"] == "recording.deleted"]
    assert len(deleted) == 8 and {e["actor"] for e in deleted} == {"system:retention"}
    assert {e["data"]["path"] for e in deleted} == {
        e["data"]["path"] for e in events["events"] if e["kind"] == "recording.segment"
    }
    assert all(e["at"] == clock.now().isoformat(timespec="microseconds") for e in deleted)
    recording = await (await reviewer.get(f"{V1}/sessions/{recorded.session_id}/recording")).json()
    assert len(recording["segments"]) == 8, "the rows stay, for the record"
    resp = await reviewer.get(f"{V1}/sessions/{recorded.session_id}/recording/composite.webm")
    assert resp.status == 404
