"""Sessions and invitations through the REST API: schedule, list, read, issue, revoke, QR codes."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

from yarl import URL

from tests.api.conftest import (
    HTML_INJECTION,
    SQL_INJECTION,
    V1,
    Caller,
    account_id,
    case_body,
    db_state,
    expect_error,
    invitation_ids,
    parse_time,
    party_ids,
)
from tests.pages.helpers import enter_link

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def test_a_mediator_schedules_a_session_and_lists_and_reads_it(mediator: Caller, clock, world):
    case_id = world.demo.case_id
    created = await mediator.ok(
        "POST", f"{V1}/cases/{case_id}/sessions", {"scheduled_at": "2026-12-01T09:30:00+08:00"}, 201
    )
    assert created["case_id"] == case_id
    assert created["status"] == "scheduled"
    assert created["title"] == "第2次调解"  # the demo case already has one session
    assert parse_time(created["scheduled_at"]) == parse_time("2026-12-01T01:30:00+00:00")
    assert created["started_at"] is None and created["ended_at"] is None
    titled = await mediator.ok(
        "POST",
        f"{V1}/cases/{case_id}/sessions",
        {"scheduled_at": "2026-11-29T20:00:00Z", "title": "  背靠背前的说明会 "},
        201,
    )
    assert titled["title"] == "背靠背前的说明会"
    listed = (await mediator.ok("GET", f"{V1}/cases/{case_id}/sessions"))["sessions"]
    assert [s["id"] for s in listed] == [world.demo.session_id, titled["id"], created["id"]]  # by scheduled time
    assert await mediator.ok("GET", f"{V1}/sessions/{created['id']}") == created
    events = (await mediator.ok("GET", f"{V1}/cases/{case_id}/events"))["events"]
    assert events[-1]["kind"] == "session.scheduled" and events[-1]["session_id"] == titled["id"]
    assert events[-2]["session_id"] == created["id"]


async def test_a_session_time_must_be_an_iso_date_time_with_a_zone_and_not_in_the_past(mediator: Caller, core, world):
    path = f"{V1}/cases/{world.demo.case_id}/sessions"
    before = await db_state(core)
    for value, detail in (
        ("2026-12-01T09:30:00", "no_timezone"),
        ("2026-12-01", "no_timezone"),
        ("2026-11-27T09:00:00+00:00", "in_past"),
        ("9999-12-31T23:59:59-14:00", "out_of_range"),
    ):
        err = await expect_error(
            await mediator.post(path, {"scheduled_at": value}), 422, "invalid_input", fields=("scheduled_at",)
        )
        assert err["fields"]["scheduled_at"] == detail, value
    for value in (
        "tomorrow morning",
        "2026-13-01T09:00:00+08:00",
        "2026-12-01T09:30:00+25:00",
        "",
        1796000000,
        1796000000000,
        None,
        ["2026-12-01T09:30:00+08:00"],
        {"date": "2026-12-01"},
    ):
        await expect_error(
            await mediator.post(path, {"scheduled_at": value}), 422, "invalid_input", fields=("scheduled_at",)
        )
    await expect_error(await mediator.post(path, {}), 422, "invalid_input", fields=("scheduled_at",))
    await expect_error(
        await mediator.post(path, {"scheduled_at": "2026-12-01T09:30:00+08:00", "title": "题" * 201}),
        422,
        "invalid_input",
        fields=("title",),
    )
    assert await db_state(core) == before


async def test_a_session_a_day_in_the_past_is_still_accepted_for_late_entry(mediator: Caller, clock, world):
    earlier = (clock.now() - timedelta(hours=23)).isoformat()
    created = await mediator.ok("POST", f"{V1}/cases/{world.demo.case_id}/sessions", {"scheduled_at": earlier}, 201)
    assert parse_time(created["scheduled_at"]) == clock.now() - timedelta(hours=23)


async def test_a_closed_case_cannot_have_new_sessions(mediator: Caller, core):
    created = await mediator.ok("POST", f"{V1}/cases", case_body(), 201)
    await mediator.ok("POST", f"{V1}/cases/{created['id']}/transitions", {"to": "declined", "note": "重复立案"})
    before = await db_state(core)
    resp = await mediator.post(f"{V1}/cases/{created['id']}/sessions", {"scheduled_at": "2026-12-01T09:30:00+08:00"})
    err = await expect_error(resp, 409, "conflict")
    assert "declined" in err["message"]
    assert await db_state(core) == before


async def _issue(caller: Caller, session_id: str, body: dict, status: int = 201) -> dict:
    return await caller.ok("POST", f"{V1}/sessions/{session_id}/invitations", body, status)


async def test_an_invitation_can_be_issued_for_every_session_role(mediator: Caller, core, clock, world):
    session_id = world.demo.session_id
    parties = await party_ids(core, world.demo.case_id)
    mediator_account = await account_id(core, "demo-mediator")
    expert_account = await account_id(core, "demo-expert")
    bodies = {
        "mediator": ({"role": "mediator", "account_id": mediator_account}, "王建国", True),
        "applicant": ({"role": "applicant", "party_id": parties["applicant"]}, "李秀英", False),
        "respondent": ({"role": "respondent", "party_id": parties["respondent"]}, "清水镇卫生院", False),
        "agent": ({"role": "agent", "party_id": parties["respondent"]}, "赵院长", False),  # the agent on file
        "expert": (
            {"role": "expert", "account_id": expert_account},
            "陈敏医生",
            True,
        ),  # vetted staff: direct by default
        "observer": ({"role": "observer", "display_name": "村委会主任", "ttl_hours": 2}, "村委会主任", False),
    }
    before = len((await mediator.ok("GET", f"{V1}/cases/{world.demo.case_id}/invitations"))["invitations"])
    issued = {}
    for role, (body, name, direct) in bodies.items():
        inv = await _issue(mediator, session_id, body)
        issued[role] = inv
        assert inv["role"] == role and inv["display_name"] == name and inv["direct_entry"] is direct, inv
        assert inv["session_id"] == session_id and inv["case_id"] == world.demo.case_id
        assert inv["state"] == "active" and inv["revoked_at"] is None
        assert inv["link"].startswith(f"{core.settings.public_url}/j/")
        assert inv["qr_url"] == f"/api/v1/invitations/{inv['id']}/qr.png"
        hours = body.get("ttl_hours", core.settings.invitation_ttl_hours)
        assert parse_time(inv["expires_at"]) == (clock.now() + timedelta(hours=hours)).replace(microsecond=0)
        assert await mediator.ok("GET", f"{V1}/invitations/{inv['id']}") == inv
    assert issued["applicant"]["party_id"] == parties["applicant"]
    assert issued["expert"]["account_id"] == expert_account
    listed = (await mediator.ok("GET", f"{V1}/cases/{world.demo.case_id}/invitations"))["invitations"]
    assert len(listed) == before + len(bodies)
    assert {i["id"] for i in issued.values()} <= {i["id"] for i in listed}
    events = (await mediator.ok("GET", f"{V1}/cases/{world.demo.case_id}/events"))["events"][-len(bodies) :]
    assert [e["kind"] for e in events] == ["invitation.issued"] * len(bodies)
    assert [e["data"]["role"] for e in events] == list(bodies)
    # Either default can be overridden.
    assert (
        await _issue(mediator, session_id, {"role": "expert", "account_id": expert_account, "direct_entry": False})
    )["direct_entry"] is False
    assert (
        await _issue(
            mediator, session_id, {"role": "applicant", "party_id": parties["applicant"], "direct_entry": True}
        )
    )["direct_entry"] is True
    assert [e["data"]["invitation_id"] for e in events] == [i["id"] for i in issued.values()]


async def test_an_invitation_that_does_not_fit_its_role_is_422_and_nothing_is_issued(mediator: Caller, core, world):
    session_id = world.demo.session_id
    parties = await party_ids(core, world.demo.case_id)
    other_parties = await party_ids(core, world.other_case_id)
    mediator_account = await account_id(core, "demo-mediator")
    expert_account = await account_id(core, "demo-expert")
    before = await db_state(core)
    refused = [
        ({"role": "applicant"}, "party_id", "required"),
        ({"role": "agent", "display_name": "某律师"}, "party_id", "required"),
        ({"role": "observer", "party_id": parties["applicant"]}, "party_id", "not_allowed"),
        ({"role": "applicant", "party_id": parties["respondent"]}, "role", "side_mismatch"),
        ({"role": "respondent", "party_id": parties["applicant"]}, "role", "side_mismatch"),
        ({"role": "applicant", "party_id": other_parties["applicant"]}, "party_id", "not_in_case"),
        ({"role": "applicant", "party_id": str(uuid.uuid4())}, "party_id", "not_in_case"),
        ({"role": "agent", "party_id": parties["applicant"]}, "display_name", "required"),  # no agent on file
        ({"role": "mediator"}, "account_id", "required"),
        ({"role": "mediator", "account_id": expert_account}, "account_id", "invalid"),
        ({"role": "expert", "account_id": mediator_account}, "account_id", "invalid"),
        ({"role": "expert", "account_id": str(uuid.uuid4())}, "account_id", "invalid"),
        ({"role": "observer"}, "display_name", "required"),
        ({"role": "observer", "display_name": "   "}, "display_name", "required"),
    ]
    for body, field, detail in refused:
        err = await expect_error(
            await mediator.post(f"{V1}/sessions/{session_id}/invitations", body), 422, "invalid_input", fields=(field,)
        )
        assert err["fields"][field] == detail, (body, err)
    for body, field in (
        ({"role": "judge", "display_name": "x"}, "role"),
        ({"role": "observer", "display_name": "x", "ttl_hours": 0}, "ttl_hours"),
        ({"role": "observer", "display_name": "x", "ttl_hours": 24 * 90 + 1}, "ttl_hours"),
        ({"role": "observer", "display_name": "x", "ttl_hours": "soon"}, "ttl_hours"),
        ({"role": "observer", "display_name": "名" * 101}, "display_name"),
        ({"role": "observer", "display_name": "x", "direct_entry": "perhaps"}, "direct_entry"),
        ({"role": "observer", "display_name": "x", "seat": 3}, "seat"),
    ):
        await expect_error(
            await mediator.post(f"{V1}/sessions/{session_id}/invitations", body), 422, "invalid_input", fields=(field,)
        )
    assert await db_state(core) == before


async def test_invitation_names_with_sql_and_html_are_kept_verbatim(mediator: Caller, world):
    for name in (SQL_INJECTION, HTML_INJECTION):
        inv = await _issue(mediator, world.demo.session_id, {"role": "observer", "display_name": name})
        assert inv["display_name"] == name
        assert (await mediator.ok("GET", f"{V1}/invitations/{inv['id']}"))["display_name"] == name


async def test_revoking_an_invitation_ends_its_link_and_a_second_revoke_is_409(mediator: Caller, core, clock, world):
    inv = await _issue(mediator, world.demo.session_id, {"role": "observer", "display_name": "法院书记员"})
    revoked = await mediator.ok("POST", f"{V1}/invitations/{inv['id']}/revoke", {"reason": "  人员更换 "})
    assert revoked["state"] == "revoked"
    assert parse_time(revoked["revoked_at"]) == clock.now()
    assert revoked["link"] is None and revoked["qr_url"] is None
    assert await mediator.ok("GET", f"{V1}/invitations/{inv['id']}") == revoked
    last = (await mediator.ok("GET", f"{V1}/cases/{world.demo.case_id}/events"))["events"][-1]
    assert last["kind"] == "invitation.revoked"
    assert last["data"] == {"invitation_id": inv["id"], "reason": "人员更换"}
    before = await db_state(core)
    err = await expect_error(await mediator.post(f"{V1}/invitations/{inv['id']}/revoke", {}), 409, "conflict")
    assert "already revoked" in err["message"]
    assert await db_state(core) == before


async def test_a_revoke_body_is_validated(mediator: Caller, core, world):
    inv_id = (await invitation_ids(core, world.demo.session_id))["applicant"]
    before = await db_state(core)
    for body, field in (({"reason": "因" * 201}, "reason"), ({"reason": 5}, "reason"), ({"why": "x"}, "why")):
        await expect_error(
            await mediator.post(f"{V1}/invitations/{inv_id}/revoke", body), 422, "invalid_input", fields=(field,)
        )
    assert await db_state(core) == before


async def test_the_qr_code_of_an_active_invitation_is_a_private_png(mediator: Caller, core, world):
    inv_id = (await invitation_ids(core, world.demo.session_id))["applicant"]
    inv = await mediator.ok("GET", f"{V1}/invitations/{inv_id}")
    resp = await mediator.get(inv["qr_url"])
    assert resp.status == 200
    assert resp.content_type == "image/png"
    assert "no-store" in resp.headers["Cache-Control"] and "private" in resp.headers["Cache-Control"]
    png = await resp.read()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 200


async def test_a_revoked_or_expired_invitation_has_no_qr_code(mediator: Caller, core, clock, world):
    inv_id = (await invitation_ids(core, world.demo.session_id))["applicant"]
    await mediator.ok("POST", f"{V1}/invitations/{inv_id}/revoke", {"reason": "换人"})
    resp = await mediator.get(f"{V1}/invitations/{inv_id}/qr.png")
    err = await expect_error(resp, 409, "conflict")
    assert "withdrawn" in err["message"]
    short = await _issue(mediator, world.demo.session_id, {"role": "observer", "display_name": "旁听", "ttl_hours": 1})
    assert (await mediator.get(short["qr_url"])).status == 200
    clock.advance(hours=1)
    expired = await mediator.ok("GET", f"{V1}/invitations/{short['id']}")
    assert expired["state"] == "expired" and expired["link"] is None and expired["qr_url"] is None
    err = await expect_error(await mediator.get(f"{V1}/invitations/{short['id']}/qr.png"), 409, "conflict")
    assert "expired" in err["message"]


async def test_an_invitation_link_carries_a_token_that_opens_the_session(client, mediator: Caller, world):
    inv = await _issue(mediator, world.demo.session_id, {"role": "observer", "display_name": "人民陪审员"})
    resp = await enter_link(client, URL(inv["link"]).path, allow_redirects=False)  # the link page's form
    assert resp.status == 302
    assert resp.headers["Location"] == f"/s/{world.demo.session_id}"


async def test_times_in_responses_are_utc_with_an_offset(mediator: Caller, world):
    session = await mediator.ok("GET", f"{V1}/sessions/{world.demo.session_id}")
    at = parse_time(session["scheduled_at"])
    assert at.tzinfo is not None and at.utcoffset() == UTC.utcoffset(at)
