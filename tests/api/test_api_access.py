"""Who may call what: sign-in, roles, invitation holders, and org scope, over every API route."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from yarl import URL

from server.api.routes import ROUTES
from server.api.table import Route
from tests.api.conftest import (
    V1,
    Caller,
    SignIn,
    case_body,
    db_state,
    expect_error,
    invitation_ids,
    join_as,
    org_id,
    other_invitation_id,
    party_ids,
)

STAFF_ROUTES = [r for r in ROUTES if r.auth == "staff"]
# The only routes open to anyone: signing in, and the key evidence exports are signed with.
PUBLIC_ROUTES = {("POST", f"{V1}/auth/login"), ("GET", f"{V1}/evidence/public-key")}
# Routes a party's own device may call too (its join cookie, or staff sign-in): signing, minutes.
PERSON_ROUTES = [r for r in ROUTES if r.auth == "person"]


async def fill(route: Route, core: Any, world: Any) -> str:
    """The route's path with real demo IDs in it."""
    ids = {
        "case_id": world.demo.case_id,
        "session_id": world.demo.session_id,
        "invitation_id": (await invitation_ids(core, world.demo.session_id))["applicant"],
        "org_id": await org_id(core, "DEMO"),
        "agreement_id": str(uuid.uuid4()),
        "request_id": str(uuid.uuid4()),
        "export_id": str(uuid.uuid4()),
        "token": "not-a-media-token",
        "revision": "1",
    }
    return route.path.format(**ids)


async def call(client: Any, route: Route, path: str, headers: dict[str, str] | None = None) -> Any:
    if route.method == "GET":
        return await client.get(path, headers=headers)
    return await client.request(route.method, path, json={}, headers=headers)


async def test_every_staff_route_is_401_without_signing_in(client, core, world):
    assert {(r.method, r.path) for r in ROUTES if r.auth == "none"} == PUBLIC_ROUTES
    assert len(STAFF_ROUTES) + len(PERSON_ROUTES) == len(ROUTES) - len(PUBLIC_ROUTES)
    before = await db_state(core)
    for route in STAFF_ROUTES + PERSON_ROUTES:
        await expect_error(await call(client, route, await fill(route, core, world)), 401, "unauthenticated")
    assert await db_state(core) == before


async def test_every_staff_route_is_403_for_an_invitation_holders_cookie(client, core, world):
    await join_as(client, world, "applicant")
    before = await db_state(core)
    for route in STAFF_ROUTES:
        err = await expect_error(await call(client, route, await fill(route, core, world)), 403, "forbidden")
        assert "invitation" in err["message"]
    assert await db_state(core) == before


async def test_an_invitation_holder_cannot_reach_the_api_even_with_the_mediators_invitation(client, core, world):
    await join_as(client, world, "mediator")
    await expect_error(await client.get(f"{V1}/cases/{world.demo.case_id}"), 403, "forbidden")
    await expect_error(await client.get(f"{V1}/auth/me"), 403, "forbidden")


async def test_signing_in_as_staff_after_following_a_join_link_gives_staff_access(client, world):
    await join_as(client, world, "applicant")
    resp = await client.post(
        f"{V1}/auth/login", json={"username": "demo-mediator", "password": world.passwords["demo-mediator"]}
    )
    assert resp.status == 200
    assert (await client.get(f"{V1}/cases/{world.demo.case_id}")).status == 200


@pytest.mark.parametrize("username", ["demo-reviewer", "demo-expert"])
async def test_reviewers_and_experts_cannot_change_anything(sign_in: SignIn, core, world, username: str):
    caller = await sign_in(username)
    case_id, session_id = world.demo.case_id, world.demo.session_id
    parties = await party_ids(core, case_id)
    inv_id = (await invitation_ids(core, session_id))["applicant"]
    # Both may read the demo case: the reviewer by org, the expert by invitation.
    assert (await caller.ok("GET", f"{V1}/cases/{case_id}"))["can_manage"] is False
    before = await db_state(core)
    attempts = [
        (f"{V1}/cases", case_body()),
        (f"{V1}/cases/{case_id}/transitions", {"to": "mediating"}),
        (f"{V1}/cases/{case_id}/parties", {"side": "applicant", "name": "冒名者"}),
        (f"{V1}/cases/{case_id}/sessions", {"scheduled_at": "2026-12-01T09:30:00+08:00"}),
        (f"{V1}/sessions/{session_id}/invitations", {"role": "applicant", "party_id": parties["applicant"]}),
        (f"{V1}/sessions/{session_id}/invitations", {"role": "observer", "display_name": "朋友"}),
        (f"{V1}/invitations/{inv_id}/revoke", {"reason": "不喜欢"}),
        (f"{V1}/orgs", {"name": "新调委会", "code": "NEW", "kind": "people"}),
        (
            f"{V1}/accounts",
            {"username": "sneaky", "display_name": "x", "role": "admin", "org_id": await org_id(core, "DEMO")},
        ),
    ]
    for path, body in attempts:
        await expect_error(await caller.post(path, body), 403, "forbidden")
    assert await db_state(core) == before


async def test_a_reviewer_and_an_expert_read_but_may_not_manage(sign_in: SignIn, world):
    for username in ("demo-reviewer", "demo-expert"):
        caller = await sign_in(username)
        case = await caller.ok("GET", f"{V1}/cases/{world.demo.case_id}")
        assert case["can_manage"] is False and case["allowed_transitions"] == []
        assert case["parties"][0]["phone"] == "138****8000"
        assert (await caller.ok("GET", f"{V1}/sessions/{world.demo.session_id}"))["id"] == world.demo.session_id
        assert len((await caller.ok("GET", f"{V1}/cases/{world.demo.case_id}/events"))["events"]) >= 7


async def test_a_mediator_gets_404_for_everything_of_another_district(mediator: Caller, core, world):
    other_case, other_session = world.other_case_id, world.other_session_id
    other_inv = await other_invitation_id(core, world)
    other_party = (await party_ids(core, other_case))["applicant"]
    before = await db_state(core)
    reads = [
        f"{V1}/cases/{other_case}",
        f"{V1}/cases/{other_case}/events",
        f"{V1}/cases/{other_case}/sessions",
        f"{V1}/cases/{other_case}/invitations",
        f"{V1}/sessions/{other_session}",
        f"{V1}/invitations/{other_inv}",
        f"{V1}/invitations/{other_inv}/qr.png",
    ]
    for path in reads:
        await expect_error(await mediator.get(path), 404, "not_found")
    writes = [
        (f"{V1}/cases/{other_case}/transitions", {"to": "accepted"}),
        (f"{V1}/cases/{other_case}/parties", {"side": "applicant", "name": "x"}),
        (f"{V1}/cases/{other_case}/sessions", {"scheduled_at": "2026-12-01T09:30:00+08:00"}),
        (f"{V1}/sessions/{other_session}/invitations", {"role": "applicant", "party_id": other_party}),
        (f"{V1}/invitations/{other_inv}/revoke", {}),
    ]
    for path, body in writes:
        await expect_error(await mediator.post(path, body), 404, "not_found")
    assert await db_state(core) == before
    listed = await mediator.ok("GET", f"{V1}/cases?limit=200")
    assert other_case not in {c["id"] for c in listed["cases"]}
    assert (await mediator.ok("GET", f"{V1}/cases?q=另一区"))["total"] == 0


async def test_a_case_of_another_district_looks_exactly_like_one_that_does_not_exist(mediator: Caller, world):
    hidden = await expect_error(await mediator.get(f"{V1}/cases/{world.other_case_id}"), 404, "not_found")
    missing = await expect_error(await mediator.get(f"{V1}/cases/{uuid.uuid4()}"), 404, "not_found")
    assert hidden == missing


ID_ROUTES = [r for r in STAFF_ROUTES if "{" in r.path and "{org_id}" not in r.path]
BAD_IDS = [
    str(uuid.uuid4()),
    "not-a-uuid",
    "0",
    "x" * 300,
    "%E4%B8%AD%E6%96%87",
    "%00",
    "a%00b",
    "%FF%FE",
    "%ED%A0%80",
    "'%20OR%20'1'='1",
    "..%2F..%2Fetc",
]


async def test_unknown_and_malformed_ids_are_404_for_every_route_that_reads_by_id(admin: Caller, core):
    before = await db_state(core)
    for route in ID_ROUTES:
        if route.method != "GET":
            continue  # the next test sends each write a valid body
        for bad in BAD_IDS:
            path = URL(
                route.path.replace(route.path[route.path.index("{") : route.path.index("}") + 1], bad), encoded=True
            )
            await expect_error(await admin.get(path), 404, "not_found")
    assert await db_state(core) == before


WRITE_BODIES = {
    f"{V1}/cases/{{case_id}}/transitions": {"to": "accepted"},
    f"{V1}/cases/{{case_id}}/parties": {"side": "applicant", "name": "x"},
    f"{V1}/cases/{{case_id}}/sessions": {"scheduled_at": "2026-12-01T09:30:00+08:00"},
    f"{V1}/sessions/{{session_id}}/invitations": {"role": "observer", "display_name": "x"},
    f"{V1}/invitations/{{invitation_id}}/revoke": {},
    f"{V1}/sessions/{{session_id}}/recording/start": {},
    f"{V1}/sessions/{{session_id}}/recording/stop": {},
    f"{V1}/sessions/{{session_id}}/recording/composite": {},
    f"{V1}/cases/{{case_id}}/agreements": {
        "template": "general",
        "terms": [{"obligation": "赔偿", "obligor": "x", "amount": "1", "deadline": "2027-01-01", "manner": "转账"}],
    },
    f"{V1}/agreements/{{agreement_id}}/versions": {
        "terms": [{"obligation": "赔偿", "obligor": "x", "amount": "1", "deadline": "2027-01-01", "manner": "转账"}]
    },
    f"{V1}/cases/{{case_id}}/confirmation-requests": {"agreement_id": "x"},
    f"{V1}/confirmation-requests/{{request_id}}/retry": {},
    f"{V1}/cases/{{case_id}}/exports": {},
    f"{V1}/cases/{{case_id}}/hold": {"reason": "复核"},
}


async def test_unknown_and_malformed_ids_are_404_for_every_route_that_writes_by_id(admin: Caller, core):
    assert set(WRITE_BODIES) == {r.path for r in ID_ROUTES if r.method == "POST"}
    before = await db_state(core)
    for bad in BAD_IDS:
        for template, body in WRITE_BODIES.items():  # a valid body, so only the ID can be wrong
            path = URL(re.sub(r"{\w+}", lambda _, bad=bad: bad, template), encoded=True)
            await expect_error(await admin.post(path, body), 404, "not_found")
    assert await db_state(core) == before


async def test_a_reviewer_sees_the_cases_of_their_subtree_and_nothing_else(
    admin: Caller, mediator: Caller, sign_in: SignIn, core, world
):
    village = await admin.ok("POST", f"{V1}/cases", case_body(org_id=await org_id(core, "DEMO-QS-TH")), 201)
    medical = await admin.ok("POST", f"{V1}/cases", case_body(org_id=await org_id(core, "DEMO-YT")), 201)
    demo_ids = {world.demo.case_id, village["id"], medical["id"]}
    reviewer = await sign_in("demo-reviewer")
    listed = await reviewer.ok("GET", f"{V1}/cases")
    assert {c["id"] for c in listed["cases"]} == demo_ids and listed["total"] == 3
    for case_id in demo_ids:
        assert (await reviewer.ok("GET", f"{V1}/cases/{case_id}"))["id"] == case_id
    await expect_error(await reviewer.get(f"{V1}/cases/{world.other_case_id}"), 404, "not_found")
    other = await sign_in("other-reviewer")
    listed = await other.ok("GET", f"{V1}/cases")
    assert {c["id"] for c in listed["cases"]} == {world.other_case_id}
    for case_id in demo_ids:
        await expect_error(await other.get(f"{V1}/cases/{case_id}"), 404, "not_found")
    await expect_error(await other.get(f"{V1}/sessions/{world.demo.session_id}"), 404, "not_found")
    assert (await other.ok("GET", f"{V1}/cases?q=李秀英"))["total"] == 0


async def test_an_admin_sees_every_case_of_every_district(admin: Caller, world):
    listed = await admin.ok("GET", f"{V1}/cases")
    assert {c["id"] for c in listed["cases"]} == {world.demo.case_id, world.other_case_id}
    assert (await admin.ok("GET", f"{V1}/cases/{world.other_case_id}"))["can_manage"] is True
    assert (await admin.ok("GET", f"{V1}/sessions/{world.other_session_id}"))["case_id"] == world.other_case_id


async def test_a_mediator_sees_their_orgs_cases_and_the_cases_they_mediate_elsewhere(
    admin: Caller, mediator: Caller, core, world
):
    medical = await admin.ok("POST", f"{V1}/cases", case_body(org_id=await org_id(core, "DEMO-YT")), 201)
    mine = await admin.ok(
        "POST",
        f"{V1}/cases",
        case_body(org_id=await org_id(core, "DEMO-QS-TH"), mediator_id=world.principals["demo-mediator"].account_id),
        201,
    )
    listed = {c["id"] for c in (await mediator.ok("GET", f"{V1}/cases"))["cases"]}
    assert listed == {world.demo.case_id, mine["id"]}
    await expect_error(await mediator.get(f"{V1}/cases/{medical['id']}"), 404, "not_found")
    assert (await mediator.ok("GET", f"{V1}/cases/{mine['id']}"))["can_manage"] is True


async def test_an_expert_sees_only_the_cases_they_are_invited_to_until_revoked(
    admin: Caller, sign_in: SignIn, core, world
):
    same_org = await admin.ok("POST", f"{V1}/cases", case_body(org_id=await org_id(core, "DEMO-YT")), 201)
    expert = await sign_in("demo-expert")
    listed = await expert.ok("GET", f"{V1}/cases")
    assert [c["id"] for c in listed["cases"]] == [world.demo.case_id] and listed["total"] == 1
    await expect_error(await expert.get(f"{V1}/cases/{same_org['id']}"), 404, "not_found")  # own org, not invited
    await expect_error(await expert.get(f"{V1}/cases/{world.other_case_id}"), 404, "not_found")
    expert_invitation = (await invitation_ids(core, world.demo.session_id))["expert"]
    await admin.ok("POST", f"{V1}/invitations/{expert_invitation}/revoke", {"reason": "专家回避"})
    assert (await expert.ok("GET", f"{V1}/cases"))["total"] == 0
    await expect_error(await expert.get(f"{V1}/cases/{world.demo.case_id}"), 404, "not_found")
    await expect_error(await expert.get(f"{V1}/sessions/{world.demo.session_id}"), 404, "not_found")
    await expect_error(await expert.get(f"{V1}/invitations/{expert_invitation}"), 404, "not_found")


async def test_an_expert_or_reviewer_cannot_create_a_case_even_in_their_own_org(sign_in: SignIn, core):
    callers = {
        code: await sign_in(username) for username, code in (("demo-expert", "DEMO-YT"), ("demo-reviewer", "DEMO"))
    }
    before = await db_state(core)
    for code, caller in callers.items():
        await expect_error(await caller.post(f"{V1}/cases", case_body()), 403, "forbidden")
        await expect_error(
            await caller.post(f"{V1}/cases", case_body(org_id=await org_id(core, code))), 403, "forbidden"
        )
    assert await db_state(core) == before
