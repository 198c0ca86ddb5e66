"""The judicial-confirmation routes: who may ask, list, download and retry; the 30 days on the
case; and a request that cannot be made (no court, not signed, too late, twice) is a 409 that
leaves nothing behind."""

from __future__ import annotations

import hashlib
from typing import Any

from yarl import URL

from server.services import confirmations
from tests.api.conftest import join_as
from tests.api.test_api_access import BAD_IDS
from tests.conftest import World, api_login
from tests.support.waiting import wait_for

from .conftest import Receiver, locked_agreement, log_of, pdf_text, request_row, set_court, unzip

V1 = "/api/v1"


async def signed_in(client: Any, world: World, username: str) -> dict[str, str]:
    return {"X-CSRF-Token": await api_login(client, username, world.passwords[username])}


def requests_url(world: World) -> str:
    return f"{V1}/cases/{world.demo.case_id}/confirmation-requests"


async def nothing_made(core: Any, world: World) -> bool:
    folder = core.settings.data_dir / "cases" / world.demo.case_id / "confirmations"
    return (not folder.exists() or not any(folder.iterdir())) and await log_of(core, world.demo.case_id) == []


async def test_the_mediator_asks_and_the_case_shows_the_delivery_and_the_days_left(fast_client, core, world, receiver):
    await set_court(core, "DEMO", receiver.url)
    await receiver.start()
    signed = await locked_agreement(core, world.demo.case_id)
    headers = await signed_in(fast_client, world, "demo-mediator")
    resp = await fast_client.post(requests_url(world), json={"agreement_id": signed.agreement_id}, headers=headers)
    assert resp.status == 202, await resp.text()
    made = await resp.json()
    assert made["status"] == "pending" and made["attempts"] == 0 and made["endpoint"] == receiver.url
    assert made["deadline"]["days_left"] == 30 and made["deadline"]["expired"] is False
    assert made["package"]["url"] == f"{V1}/confirmation-requests/{made['id']}/package.zip"

    async def delivered() -> dict[str, Any] | None:
        listed = (await (await fast_client.get(requests_url(world))).json())["confirmation_requests"]
        return listed[0] if listed[0]["status"] == "delivered" else None

    shown = await wait_for(delivered, timeout=10, what="the request to show as delivered", interval=0.05)
    assert shown["attempts"] == 1 and shown["last_error"] is None and shown["delivered_at"] is not None
    assert shown["package"]["sha256"] == made["package"]["sha256"]

    core.clock.advance(days=10)
    await signed_in(fast_client, world, "demo-mediator")  # the sign-in of ten days ago has ended
    listed = (await (await fast_client.get(requests_url(world))).json())["confirmation_requests"]
    # The day it took effect is not counted: ten days later is the tenth of the 30, so 21 are left.
    assert listed[0]["deadline"]["days_left"] == 21

    resp = await fast_client.get(made["package"]["url"])
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
    body = await resp.read()
    assert hashlib.sha256(body).hexdigest() == made["package"]["sha256"] == resp.headers["X-Package-SHA256"]
    assert receiver.accepted == {made["id"]: body}
    assert "minutes.pdf" not in unzip(body)  # an agreement made outside any session has no minutes
    # No court name configured: the application goes to the court with jurisdiction.
    assert "有管辖权的人民法院" in pdf_text(unzip(body)["application.pdf"])


async def test_without_a_court_endpoint_the_request_is_409_and_nothing_is_made(fast_client, core, world):
    signed = await locked_agreement(core, world.demo.case_id)
    headers = await signed_in(fast_client, world, "demo-mediator")
    resp = await fast_client.post(requests_url(world), json={"agreement_id": signed.agreement_id}, headers=headers)
    assert resp.status == 409
    err = (await resp.json())["error"]
    assert err["code"] == "conflict" and "court endpoint" in err["message"]
    assert await nothing_made(core, world)
    assert (await (await fast_client.get(requests_url(world))).json())["confirmation_requests"] == []


async def test_an_agreement_not_signed_by_everyone_yet_cannot_go_to_court(fast_client, core, world, receiver):
    await set_court(core, "DEMO", receiver.url)
    unsigned = await locked_agreement(core, world.demo.case_id, lock=False)
    headers = await signed_in(fast_client, world, "demo-mediator")
    resp = await fast_client.post(requests_url(world), json={"agreement_id": unsigned.agreement_id}, headers=headers)
    assert resp.status == 409 and "signed by every party" in (await resp.json())["error"]["message"]
    assert await nothing_made(core, world)


async def test_after_the_30_days_the_request_is_refused(fast_client, core, world, receiver):
    await set_court(core, "DEMO", receiver.url)
    signed = await locked_agreement(core, world.demo.case_id)
    core.clock.advance(days=32)
    headers = await signed_in(fast_client, world, "demo-mediator")
    resp = await fast_client.post(requests_url(world), json={"agreement_id": signed.agreement_id}, headers=headers)
    assert resp.status == 409 and "30 days" in (await resp.json())["error"]["message"]
    assert await nothing_made(core, world)


async def test_one_version_is_sent_once_and_a_failed_one_is_retried(fast_client, core, world, receiver):
    await set_court(core, "DEMO", receiver.url)
    receiver.mode = "refuse"
    await receiver.start()
    signed = await locked_agreement(core, world.demo.case_id)
    headers = await signed_in(fast_client, world, "demo-mediator")
    body = {"agreement_id": signed.agreement_id, "version_sha256": signed.version_sha256}
    made = await (await fast_client.post(requests_url(world), json=body, headers=headers)).json()
    again = await fast_client.post(requests_url(world), json=body, headers=headers)
    assert again.status == 409
    err = (await again.json())["error"]
    assert err["fields"] == {"agreement_id": "already_requested"} and made["id"] in err["message"]

    retry_url = f"{V1}/confirmation-requests/{made['id']}/retry"
    early = await fast_client.post(retry_url, headers=headers)
    assert early.status == 409  # pending, not failed

    async def failed() -> bool:
        return (await request_row(core, made["id"])).status == "failed"

    await wait_for(failed, timeout=10, what="the refusal", interval=0.05)
    receiver.mode = "ok"
    resp = await fast_client.post(retry_url, headers=headers)
    assert resp.status == 202, await resp.text()
    assert (await resp.json())["status"] == "pending"

    async def delivered() -> bool:
        return (await request_row(core, made["id"])).status == "delivered"

    await wait_for(delivered, timeout=10, what="the retried delivery", interval=0.05)
    assert list(receiver.accepted) == [made["id"]]
    kinds = [k for k, _, _ in await log_of(core, world.demo.case_id)]
    assert kinds == [
        "confirmation.requested",
        "confirmation.attempted",
        "confirmation.failed",
        "confirmation.requested",
        "confirmation.attempted",
        "confirmation.delivered",
    ]


async def test_a_wrong_version_sha256_or_another_cases_agreement_is_refused(fast_client, core, world, receiver):
    await set_court(core, "DEMO", receiver.url)
    signed = await locked_agreement(core, world.demo.case_id)
    elsewhere = await locked_agreement(core, world.other_case_id)
    headers = await signed_in(fast_client, world, "demo-mediator")
    wrong = {"agreement_id": signed.agreement_id, "version_sha256": "0" * 64}
    assert (await fast_client.post(requests_url(world), json=wrong, headers=headers)).status == 409
    other = {"agreement_id": elsewhere.agreement_id}
    assert (await fast_client.post(requests_url(world), json=other, headers=headers)).status == 404
    bad = {"agreement_id": signed.agreement_id, "version_sha256": "not a hash"}
    assert (await fast_client.post(requests_url(world), json=bad, headers=headers)).status == 422
    assert await nothing_made(core, world)


async def made_request(core: Any, world: World) -> str:
    """A request made by the case's mediator, to a court that is down."""
    await set_court(core, "DEMO", Receiver("x", core.clock.now).url)
    signed = await locked_agreement(core, world.demo.case_id)
    listed = await confirmations.request(
        core, world.principals["demo-mediator"], world.demo.case_id, signed.agreement_id
    )
    return listed.request.id


async def test_experts_other_orgs_and_parties_are_refused(fast_client, core, world):
    request_id = await made_request(core, world)
    signed = await locked_agreement(core, world.demo.case_id)
    package = f"{V1}/confirmation-requests/{request_id}/package.zip"
    retry = f"{V1}/confirmation-requests/{request_id}/retry"
    ask = {"agreement_id": signed.agreement_id}

    # The invited expert sees the case, so sees whether the package went out, but neither asks,
    # downloads (unmasked identities and signatures) nor retries.
    headers = await signed_in(fast_client, world, "demo-expert")
    assert (await fast_client.get(requests_url(world))).status == 200
    assert (await fast_client.post(requests_url(world), json=ask, headers=headers)).status == 403
    assert (await fast_client.get(package)).status == 403
    assert (await fast_client.post(retry, headers=headers)).status == 403

    # The district's reviewer reads everything, changes nothing.
    headers = await signed_in(fast_client, world, "demo-reviewer")
    assert (await fast_client.get(package)).status == 200
    assert (await fast_client.post(requests_url(world), json=ask, headers=headers)).status == 403

    # Another district's staff do not learn the case or the request exists.
    for username in ("other-mediator", "other-reviewer"):
        headers = await signed_in(fast_client, world, username)
        assert (await fast_client.get(requests_url(world))).status == 404
        assert (await fast_client.post(requests_url(world), json=ask, headers=headers)).status == 404
        assert (await fast_client.get(package)).status == 404
        assert (await fast_client.post(retry, headers=headers)).status == 404


async def test_a_party_with_a_join_link_is_refused(fast_client, core, world):
    request_id = await made_request(core, world)
    await join_as(fast_client, world, "applicant")
    assert (await fast_client.get(requests_url(world))).status == 403
    assert (await fast_client.get(f"{V1}/confirmation-requests/{request_id}/package.zip")).status == 403
    assert (await fast_client.post(requests_url(world), json={"agreement_id": "x"})).status == 403


async def test_unknown_and_malformed_ids_are_404(fast_client, core, world):
    headers = await signed_in(fast_client, world, "demo-admin")
    for bad in BAD_IDS:
        for method, template, body in (
            ("GET", "/cases/{}/confirmation-requests", None),
            ("POST", "/cases/{}/confirmation-requests", {"agreement_id": "x"}),
            ("GET", "/confirmation-requests/{}/package.zip", None),
            ("POST", "/confirmation-requests/{}/retry", None),
        ):
            path = URL(V1 + template.format(bad), encoded=True)
            resp = await fast_client.request(method, path, json=body, headers=headers)
            assert resp.status == 404, (method, template, bad, await resp.text())
    # an agreement id that names nothing, on a real case
    resp = await fast_client.post(requests_url(world), json={"agreement_id": "x" * 36}, headers=headers)
    assert resp.status == 404
