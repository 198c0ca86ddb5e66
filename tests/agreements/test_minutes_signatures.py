"""Signatures on the minutes (调解笔录): the parties of the session and the mediator sign the
current revision on their own devices; the last signature locks it; a later revision needs new
signatures and the old ones stay with the old revision. On SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from typing import Any

from server.domain.actors import Actor
from server.domain.cases import PartyInput, PartySide
from server.domain.grants import SessionRole
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


async def test_who_signs_a_revision_is_kept_with_it_and_later_invitations_do_not_change_it(
    mediator, link_in: LinkIn, world, core
):
    """Revision 1 is saved while the applicant and the respondent are invited; then the
    applicant's invitation is revoked and a new party joins the case and the session. Revision 1
    still needs exactly the signers it had, and locks with them; revision 2 needs the new ones."""
    from server.services import cases, invitations
    from server.storage import minutes as stored_minutes

    url = f"{V1}/sessions/{world.demo.session_id}/minutes/signatures"
    applicant, respondent = await link_in("applicant"), await link_in("respondent")
    first = await save(mediator, world, "双方达成调解协议")
    async with core.db.read() as tx:
        stored = await stored_minutes.current(tx, world.demo.session_id)
    assert stored is not None and [s["role"] for s in stored.signers or []] == ["applicant", "respondent", "mediator"]

    mediator_p = world.principals["demo-mediator"]
    await applicant.ok("POST", url, body(first, "李秀英"), status=201)
    await respondent.ok("POST", url, body(first, "赵院长", 41), status=201)
    third = await cases.add_party(
        core, mediator_p, world.demo.case_id, PartyInput(side=PartySide.respondent, name="清水镇政府")
    )
    await invitations.issue(core, mediator_p, world.demo.session_id, role=SessionRole.respondent, party_id=third.id)
    revoked = (await invitation_ids(core, world.demo.session_id))["applicant"]
    await invitations.revoke(core, mediator_p, revoked, "已签名，收回链接")

    state = await mediator.ok("GET", url)
    assert [m["role"] for m in state["missing"]] == ["mediator"], state["missing"]
    last = await mediator.ok("POST", url, body(first, "王建国", 42), status=201)
    assert last["locked"] is True

    second = await save(mediator, world, "双方达成调解协议，另约定回访")
    assert [m["name"] for m in second["missing"]] == ["清水镇卫生院", "清水镇政府", "王建国"]
