"""Signatures on the minutes (调解笔录): the parties of the session and the mediator sign the
current revision on their own devices; the last signature locks it; a later revision needs new
signatures and the old ones stay with the old revision. On SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from typing import Any

from server.domain.actors import Actor
from tests.api.conftest import V1, Caller, account_id, expect_error, invitation_ids
from tests.conftest import World

from .conftest import LinkIn
from .helpers import data_url, png


async def save(mediator: Caller, world: World, result: str) -> dict[str, Any]:
    url = f"{V1}/sessions/{world.demo.session_id}/minutes"
    current = await mediator.get(url)
    assert current.status == 200, await current.text()
    etag = current.headers["ETag"].strip('"')
    resp = await mediator.client.put(
        url, json={"result": result}, headers={"X-CSRF-Token": mediator.csrf, "If-Match": etag}
    )
    assert resp.status in (200, 201), await resp.text()
    return await (await mediator.get(f"{V1}/sessions/{world.demo.session_id}/minutes/signatures")).json()


def body(state: dict[str, Any], name: str, width: int = 40) -> dict[str, Any]:
    return {"version_sha256": state["sha256"], "name": name, "image": data_url(png(width))}


async def test_the_parties_and_the_mediator_sign_the_minutes_and_a_new_revision_starts_over(
    mediator, admin, link_in: LinkIn, world, core
):
    url = f"{V1}/sessions/{world.demo.session_id}/minutes/signatures"
    empty = await mediator.ok("GET", url)
    assert empty["revision"] is None and empty["locked"] is False
    assert [m["role"] for m in empty["missing"]] == ["applicant", "respondent", "mediator"]
    applicant, respondent = await link_in("applicant"), await link_in("respondent")
    await expect_error(
        await applicant.post(url, {**body(empty, "李秀英"), "version_sha256": "a" * 64}), 409, "conflict"
    )

    first = await save(mediator, world, "双方达成调解协议")
    assert first["revision"] >= 1 and len(first["sha256"]) == 64
    one = await applicant.ok("POST", url, body(first, "李秀英"), status=201)
    assert one["locked"] is False and "ip" not in one["signature"]
    await respondent.ok("POST", url, body(first, "赵院长", 41), status=201)
    last = await mediator.ok("POST", url, body(first, "王建国", 42), status=201)
    assert last["locked"] is True and last["minutes"]["missing"] == []
    await expect_error(await applicant.post(url, body(first, "李秀英")), 409, "conflict")  # twice

    second = await save(mediator, world, "双方达成调解协议，另约定回访")
    assert second["revision"] == first["revision"] + 1 and second["signatures"] == [] and not second["locked"]
    assert [e["revision"] for e in second["earlier_revisions"]] == [first["revision"]]
    assert len(second["earlier_revisions"][0]["signatures"]) == 3
    stale = await applicant.post(url, body(first, "李秀英"))
    err = await expect_error(stale, 409, "conflict")
    assert second["sha256"] in err["message"]

    log = [e for e in (await admin.ok("GET", f"{V1}/cases/{world.demo.case_id}/events"))["events"]]
    signed = [(e["kind"], e["actor"]) for e in log if e["kind"] in ("minutes.signed", "minutes.locked")]
    invs = await invitation_ids(core, world.demo.session_id)
    med = str(Actor.account(await account_id(core, "demo-mediator")))
    assert signed == [
        ("minutes.signed", str(Actor.invitation(invs["applicant"]))),
        ("minutes.signed", str(Actor.invitation(invs["respondent"]))),
        ("minutes.signed", med),
        ("minutes.locked", med),
    ]
    entry = next(e for e in log if e["kind"] == "minutes.signed")
    assert entry["session_id"] == world.demo.session_id
    assert entry["data"]["revision"] == first["revision"] and entry["data"]["version_sha256"] == first["sha256"]
    assert entry["data"]["image_sha256"] == hashlib.sha256(png(40)).hexdigest()


async def test_experts_observers_and_strangers_do_not_sign_the_minutes(mediator, sign_in, link_in: LinkIn, world):
    url = f"{V1}/sessions/{world.demo.session_id}/minutes/signatures"
    state = await save(mediator, world, "调解不成")
    for role in ("expert", "observer"):
        caller = await link_in(role)
        assert (await caller.ok("GET", url))["sha256"] == state["sha256"]  # they read the minutes
        await expect_error(await caller.post(url, body(state, "某人")), 403, "forbidden")
    other = await sign_in("other-mediator")
    await expect_error(await other.get(url), 404, "not_found")
    await expect_error(await other.post(url, body(state, "某人")), 404, "not_found")
    applicant = await link_in("applicant")
    elsewhere = f"{V1}/sessions/{world.other_session_id}/minutes/signatures"
    await expect_error(await applicant.get(elsewhere), 404, "not_found")
    bad = await applicant.post(url, {**body(state, "李秀英"), "image": data_url(b"not a png")})
    await expect_error(bad, 422, "invalid_input", fields=("image",))
