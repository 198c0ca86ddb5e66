"""Cases through the REST API: create, read (masked), list and filter, transitions, parties, events."""

from __future__ import annotations

import uuid

from server.services import eventlog
from tests.api.conftest import (
    HTML_INJECTION,
    SQL_INJECTION,
    V1,
    Caller,
    SignIn,
    account_id,
    case_body,
    db_state,
    expect_error,
    org_id,
)


async def test_a_mediator_creates_a_case_in_their_org_and_is_its_mediator(mediator: Caller, core, world):
    created = await mediator.ok("POST", f"{V1}/cases", case_body(), 201)
    assert created["number"] == "DEMO-QS-2026-0002"  # the demo case is 0001
    assert created["status"] == "registered"
    assert created["org_id"] == await org_id(core, "DEMO-QS")
    assert created["mediator_id"] == world.principals["demo-mediator"].account_id
    assert created["mediator_name"] == "王建国"
    assert created["can_manage"] is True
    assert created["allowed_transitions"] == ["accepted", "declined"]
    assert [(p["side"], p["name"]) for p in created["parties"]] == [("applicant", "张三"), ("respondent", "李四")]
    events = (await mediator.ok("GET", f"{V1}/cases/{created['id']}/events"))["events"]
    assert [e["kind"] for e in events] == ["case.created"]
    assert events[0]["actor"] == f"account:{world.principals['demo-mediator'].account_id}"
    assert events[0]["data"]["number"] == created["number"]
    assert await mediator.ok("GET", f"{V1}/cases/{created['id']}") == created


async def test_an_admin_creates_a_case_in_any_org_naming_its_mediator(admin: Caller, core, world):
    org = await org_id(core, "DEMO-QS-TH")
    mediator_id = world.principals["demo-mediator"].account_id
    created = await admin.ok("POST", f"{V1}/cases", case_body(org_id=org, mediator_id=mediator_id), 201)
    assert created["number"] == "DEMO-QS-TH-2026-0001"
    assert created["org_id"] == org and created["mediator_id"] == mediator_id


async def test_a_case_read_shows_phone_and_id_numbers_masked_and_never_whole(mediator: Caller):
    created = await mediator.ok(
        "POST",
        f"{V1}/cases",
        case_body(
            parties=[
                {
                    "side": "applicant",
                    "name": "张三",
                    "phone": "13912345678",
                    "id_number": "11010519491231002x",
                    "agent_name": "张律师",
                    "agent_phone": "021-55556666",
                },
                {"side": "respondent", "name": "李四", "phone": "+86 139 8765 4321"},
            ]
        ),
        201,
    )
    resp = await mediator.get(f"{V1}/cases/{created['id']}")
    text = await resp.text()
    case = await resp.json()
    applicant, respondent = case["parties"]
    assert applicant["phone"] == "139****5678"
    assert applicant["id_number"] == "110***********002X"
    assert applicant["agent_name"] == "张律师" and applicant["agent_phone"] == "021****6666"
    assert respondent["phone"] == "+86****4321" and respondent["id_number"] is None
    for secret in ("13912345678", "11010519491231002", "55556666", "87654321", "8765 4321"):
        assert secret not in text
    listed = await (await mediator.get(f"{V1}/cases?q=张三")).text()
    assert "13912345678" not in listed and "11010519491231002" not in listed


async def test_a_case_with_a_bad_party_is_refused_naming_the_field_and_nothing_is_stored(mediator: Caller, core):
    before = await db_state(core)
    applicant = {"side": "applicant", "name": "张三"}
    respondent = {"side": "respondent", "name": "李四"}
    bad_bodies = [
        (case_body(parties=[applicant, {**applicant, "name": "王五"}]), "parties"),  # no respondent
        (case_body(parties=[applicant]), "parties"),
        (case_body(parties=[applicant] + [respondent] * 50), "parties"),
        (case_body(parties=[{**applicant, "id_number": "110105194912310021"}, respondent]), "id_number"),
        (case_body(parties=[{**applicant, "id_number": "11010519491231002"}, respondent]), "id_number"),
        (case_body(parties=[{**applicant, "phone": "not a phone"}, respondent]), "phone"),
        (case_body(parties=[{**applicant, "agent_phone": "13900001111"}, respondent]), "agent_name"),
        (case_body(parties=[{**applicant, "name": "   "}, respondent]), "parties.0.name"),
        (case_body(parties=[{**applicant, "side": "bystander"}, respondent]), "parties.0.side"),
        (case_body(parties=[{**applicant, "age": 40}, respondent]), "parties.0.age"),
    ]
    for body, field in bad_bodies:
        resp = await mediator.post(f"{V1}/cases", body)
        await expect_error(resp, 422, "invalid_input", fields=(field,))
    assert await db_state(core) == before


async def test_a_mediator_cannot_create_a_case_in_another_org_or_name_a_non_mediator(mediator: Caller, core, world):
    before = await db_state(core)
    other_org = await org_id(core, "DEMO-YT")
    await expect_error(await mediator.post(f"{V1}/cases", case_body(org_id=other_org)), 403, "forbidden")
    expert = await account_id(core, "demo-expert")
    await expect_error(
        await mediator.post(f"{V1}/cases", case_body(mediator_id=expert)), 422, "invalid_input", fields=("mediator_id",)
    )
    await expect_error(
        await mediator.post(f"{V1}/cases", case_body(mediator_id=str(uuid.uuid4()))),
        422,
        "invalid_input",
        fields=("mediator_id",),
    )
    await expect_error(
        await mediator.post(f"{V1}/cases", case_body(org_id=str(uuid.uuid4()))), 404, "not_found", fields=("org_id",)
    )
    assert await db_state(core) == before


async def test_sql_and_html_in_case_fields_are_stored_and_returned_verbatim(mediator: Caller, core):
    created = await mediator.ok(
        "POST",
        f"{V1}/cases",
        case_body(
            title=f"{SQL_INJECTION} {HTML_INJECTION}",
            summary=HTML_INJECTION,
            parties=[
                {"side": "applicant", "name": SQL_INJECTION, "agent_name": HTML_INJECTION},
                {"side": "respondent", "name": HTML_INJECTION},
            ],
        ),
        201,
    )
    read = await mediator.ok("GET", f"{V1}/cases/{created['id']}")
    assert read["title"] == f"{SQL_INJECTION} {HTML_INJECTION}"
    assert read["summary"] == HTML_INJECTION
    assert [p["name"] for p in read["parties"]] == [SQL_INJECTION, HTML_INJECTION]
    assert read["parties"][0]["agent_name"] == HTML_INJECTION
    found = await mediator.ok("GET", f"{V1}/cases?q={SQL_INJECTION}")
    assert [c["id"] for c in found["cases"]] == [created["id"]]
    found = await mediator.ok("GET", f"{V1}/cases?q=<script>")
    assert [c["id"] for c in found["cases"]] == [created["id"]]
    assert found["cases"][0]["parties"][1]["name"] == HTML_INJECTION
    added = await mediator.ok(
        "POST",
        f"{V1}/cases/{created['id']}/parties",
        {"side": "respondent", "name": f"{HTML_INJECTION}{SQL_INJECTION}"},
        201,
    )
    assert added["name"] == f"{HTML_INJECTION}{SQL_INJECTION}"
    events = (await mediator.ok("GET", f"{V1}/cases/{created['id']}/events"))["events"]
    assert events[0]["data"]["title"] == f"{SQL_INJECTION} {HTML_INJECTION}"
    assert (await db_state(core))["cases"] == 3  # the table is still there, with every case in it


async def test_like_wildcards_in_the_search_text_match_only_themselves(mediator: Caller):
    await mediator.ok("POST", f"{V1}/cases", case_body(title="百分之百_赔偿"), 201)
    assert (await mediator.ok("GET", f"{V1}/cases?q=%25"))["total"] == 0
    assert (await mediator.ok("GET", f"{V1}/cases?q=_"))["total"] == 1
    assert (await mediator.ok("GET", f"{V1}/cases?q=百_之"))["total"] == 0  # as a wildcard it would match 百分之
    assert (await mediator.ok("GET", f"{V1}/cases?q=百_赔偿"))["total"] == 1


async def _filter_world(admin: Caller, mediator: Caller, core, world) -> dict[str, str]:
    """Cases of several kinds across the demo tree (plus the demo case and the other district's case)."""
    c1 = await mediator.ok("POST", f"{V1}/cases", case_body(title="相邻排水", source="court"), 201)
    c2 = await admin.ok(
        "POST",
        f"{V1}/cases",
        case_body(title="手术纠纷", dispute_type="medical", source="police", org_id=await org_id(core, "DEMO-YT")),
        201,
    )
    c3 = await admin.ok(
        "POST",
        f"{V1}/cases",
        case_body(
            title="承包地边界",
            dispute_type="land",
            source="petition",
            org_id=await org_id(core, "DEMO-QS-TH"),
            mediator_id=world.principals["demo-mediator"].account_id,
            parties=[{"side": "applicant", "name": "赵六"}, {"side": "respondent", "name": "钱七"}],
        ),
        201,
    )
    await admin.ok("POST", f"{V1}/cases/{c3['id']}/transitions", {"to": "accepted"})
    return {"demo": world.demo.case_id, "c1": c1["id"], "c2": c2["id"], "c3": c3["id"], "other": world.other_case_id}


async def test_the_case_list_filters_by_each_field_and_reports_the_total(admin: Caller, mediator: Caller, core, world):
    ids = await _filter_world(admin, mediator, core, world)
    name = {v: k for k, v in ids.items()}

    async def listed(query: str) -> set[str]:
        body = await admin.ok("GET", f"{V1}/cases?{query}")
        assert body["total"] == len(body["cases"])
        return {name[c["id"]] for c in body["cases"]}

    assert await listed("") == set(ids)
    assert await listed("status=registered") == {"c1", "c2", "other"}
    assert await listed("status=accepted") == {"demo", "c3"}
    assert await listed("status=closed") == set()
    assert await listed("dispute_type=land") == {"c3", "other"}
    assert await listed("dispute_type=medical") == {"demo", "c2"}
    assert await listed("source=court") == {"c1"}
    assert await listed("source=self_applied") == {"demo"}
    assert await listed(f"org_id={await org_id(core, 'DEMO-YT')}") == {"c2"}
    assert await listed(f"org_id={await org_id(core, 'DEMO')}") == set()  # the org itself, not its subtree
    assert await listed(f"mediator_id={world.principals['demo-mediator'].account_id}") == {"demo", "c1", "c3"}
    assert await listed("year=2026") == set(ids)
    assert await listed("year=2025") == set()
    assert await listed("q=李秀英") == {"demo"}  # a party's name
    assert await listed("q=钱七") == {"c3"}
    assert await listed("q=DEMO-QS-2026-0002") == {"c1"}  # the case number
    assert await listed("q=另一区") == {"other"}  # the title
    assert await listed("q=%20%20") == set(ids)  # blank search text is no filter
    assert await listed("status=registered&dispute_type=neighbour&source=court") == {"c1"}
    assert await listed("status=accepted&q=李秀英&year=2026") == {"demo"}


async def test_the_year_filter_follows_the_year_a_case_was_registered_in(sign_in: SignIn, clock):
    clock.advance(days=40)  # 2027-01-08: the demo case is from 2026
    mediator = await sign_in("demo-mediator")
    new = await mediator.ok("POST", f"{V1}/cases", case_body(), 201)
    assert new["number"] == "DEMO-QS-2027-0001"  # numbering restarts each year
    by_year = {y: {c["id"] for c in (await mediator.ok("GET", f"{V1}/cases?year={y}"))["cases"]} for y in (2026, 2027)}
    assert new["id"] in by_year[2027] and new["id"] not in by_year[2026]
    assert len(by_year[2026]) == 1
    first = (await mediator.ok("GET", f"{V1}/cases"))["cases"][0]
    assert first["id"] == new["id"]  # newest first


async def test_paging_through_the_case_list_visits_every_case_once_with_a_stable_total(
    admin: Caller, mediator: Caller, core, world
):
    ids = await _filter_world(admin, mediator, core, world)
    whole = await admin.ok("GET", f"{V1}/cases?limit=200")
    assert whole["total"] == 5 and whole["limit"] == 200 and whole["offset"] == 0
    seen: list[str] = []
    for offset in (0, 2, 4, 6):
        page = await admin.ok("GET", f"{V1}/cases?limit=2&offset={offset}")
        assert page["total"] == 5
        assert page["limit"] == 2 and page["offset"] == offset
        assert len(page["cases"]) == max(0, min(2, 5 - offset))
        seen += [c["id"] for c in page["cases"]]
    assert seen == [c["id"] for c in whole["cases"]]  # same order, no case twice, none skipped
    assert sorted(seen) == sorted(ids.values())
    filtered = await admin.ok("GET", f"{V1}/cases?status=registered&limit=1&offset=1")
    assert filtered["total"] == 3 and len(filtered["cases"]) == 1


async def test_bad_list_parameters_are_422_naming_the_parameter(admin: Caller):
    for query, field in (
        ("status=open", "status"),
        ("dispute_type=murder", "dispute_type"),
        ("source=tv", "source"),
        ("year=abc", "year"),
        ("year=1999", "year"),
        ("year=2101", "year"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=1000001", "offset"),
        ("q=" + "字" * 101, "q"),
        ("sort=title", "sort"),
        ("org_id=" + "x" * 37, "org_id"),
    ):
        await expect_error(await admin.get(f"{V1}/cases?{query}"), 422, "invalid_input", fields=(field,))


async def test_a_valid_transition_moves_the_case_and_is_logged(mediator: Caller, world):
    case_id = world.demo.case_id
    moved = await mediator.ok("POST", f"{V1}/cases/{case_id}/transitions", {"to": "mediating", "note": "开始调解"})
    assert moved["status"] == "mediating"
    assert moved["allowed_transitions"] == ["settled", "unsettled", "withdrawn"]
    assert (await mediator.ok("GET", f"{V1}/cases/{case_id}"))["status"] == "mediating"
    last = (await mediator.ok("GET", f"{V1}/cases/{case_id}/events"))["events"][-1]
    assert last["kind"] == "case.transitioned"
    assert last["data"] == {"from": "accepted", "to": "mediating", "note": "开始调解"}
    await mediator.ok("POST", f"{V1}/cases/{case_id}/transitions", {"to": "settled"})
    closed = await mediator.ok("POST", f"{V1}/cases/{case_id}/transitions", {"to": "closed"})
    assert closed["status"] == "closed" and closed["allowed_transitions"] == []


async def test_an_invalid_transition_is_409_naming_the_allowed_moves_and_changes_nothing(mediator: Caller, core, world):
    case_id = world.demo.case_id  # accepted
    before = await db_state(core)
    err = await expect_error(
        await mediator.post(f"{V1}/cases/{case_id}/transitions", {"to": "settled"}), 409, "invalid_transition"
    )
    assert "'accepted'" in err["message"] and "'settled'" in err["message"]
    assert "mediating, withdrawn" in err["message"]
    case = await mediator.ok("GET", f"{V1}/cases/{case_id}")
    assert case["allowed_transitions"] == ["mediating", "withdrawn"]
    await expect_error(
        await mediator.post(f"{V1}/cases/{case_id}/transitions", {"to": "accepted"}), 409, "invalid_transition"
    )
    assert await db_state(core) == before


async def test_a_final_status_allows_no_move_at_all(mediator: Caller, world):
    created = await mediator.ok("POST", f"{V1}/cases", case_body(), 201)
    await mediator.ok("POST", f"{V1}/cases/{created['id']}/transitions", {"to": "declined", "note": "不属于调解范围"})
    err = await expect_error(
        await mediator.post(f"{V1}/cases/{created['id']}/transitions", {"to": "accepted"}), 409, "invalid_transition"
    )
    assert "none (final state)" in err["message"]


async def test_moves_that_end_mediation_need_a_note_and_without_one_nothing_changes(mediator: Caller, core, world):
    case_id = world.demo.case_id
    await mediator.ok("POST", f"{V1}/cases/{case_id}/transitions", {"to": "mediating"})
    before = await db_state(core)
    for body in (
        {"to": "withdrawn"},
        {"to": "unsettled", "note": ""},
        {"to": "unsettled", "note": "   "},
        {"to": "withdrawn", "note": None},
    ):
        resp = await mediator.post(f"{V1}/cases/{case_id}/transitions", body)
        await expect_error(resp, 422, "invalid_input", fields=("note",))
    assert await db_state(core) == before
    moved = await mediator.ok(
        "POST", f"{V1}/cases/{case_id}/transitions", {"to": "unsettled", "note": "  双方差距过大 "}
    )
    assert moved["status"] == "unsettled"
    last = (await mediator.ok("GET", f"{V1}/cases/{case_id}/events"))["events"][-1]
    assert last["data"]["note"] == "双方差距过大"


async def test_a_transition_body_that_is_not_a_status_is_422(mediator: Caller, core, world):
    before = await db_state(core)
    for body, field in (
        ({}, "to"),
        ({"to": "finished"}, "to"),
        ({"to": 3}, "to"),
        ({"to": "mediating", "note": "注" * 2001}, "note"),
        ({"to": "mediating", "by": "me"}, "by"),
    ):
        resp = await mediator.post(f"{V1}/cases/{world.demo.case_id}/transitions", body)
        await expect_error(resp, 422, "invalid_input", fields=(field,))
    assert await db_state(core) == before


async def test_adding_a_party_returns_it_masked_and_logs_it(mediator: Caller, world):
    case_id = world.demo.case_id
    party = await mediator.ok(
        "POST",
        f"{V1}/cases/{case_id}/parties",
        {"side": "respondent", "name": "清水镇人民政府", "phone": "023 6555 1234", "id_number": "11010519491231002X"},
        201,
    )
    assert party["side"] == "respondent" and party["name"] == "清水镇人民政府"
    assert party["phone"] == "023****1234" and party["id_number"] == "110***********002X"
    case = await mediator.ok("GET", f"{V1}/cases/{case_id}")
    assert case["parties"][-1] == party
    last = (await mediator.ok("GET", f"{V1}/cases/{case_id}/events"))["events"][-1]
    assert last["kind"] == "party.added"
    assert last["data"] == {"party_id": party["id"], "side": "respondent", "name": "清水镇人民政府"}
    assert "11010519491231002X" not in str(last)


async def test_a_bad_party_is_422_and_a_case_holds_at_most_fifty(mediator: Caller, core, world):
    case_id = world.demo.case_id
    before = await db_state(core)
    for body, field in (
        ({"side": "applicant"}, "name"),
        ({"side": "both", "name": "x"}, "side"),
        ({"side": "applicant", "name": "名" * 101}, "name"),
        ({"side": "applicant", "name": "x", "id_number": "1" * 19}, "id_number"),
        ({"side": "applicant", "name": "x", "id_number": "110105194912310021"}, "id_number"),
        ({"side": "applicant", "name": "x", "agent_phone": "13900001111"}, "agent_name"),
    ):
        await expect_error(
            await mediator.post(f"{V1}/cases/{case_id}/parties", body), 422, "invalid_input", fields=(field,)
        )
    assert await db_state(core) == before
    for i in range(48):  # the demo case has two parties
        await mediator.ok("POST", f"{V1}/cases/{case_id}/parties", {"side": "applicant", "name": f"申请人{i}"}, 201)
    before = await db_state(core)
    await expect_error(
        await mediator.post(f"{V1}/cases/{case_id}/parties", {"side": "applicant", "name": "第51人"}),
        422,
        "invalid_input",
        fields=("parties",),
    )
    assert await db_state(core) == before


async def test_the_event_log_is_a_hash_chain_from_genesis(mediator: Caller, core, world):
    case_id = world.demo.case_id
    await mediator.ok("POST", f"{V1}/cases/{case_id}/transitions", {"to": "mediating"})
    await mediator.ok("POST", f"{V1}/cases/{case_id}/parties", {"side": "applicant", "name": "李秀英之子"}, 201)
    events = (await mediator.ok("GET", f"{V1}/cases/{case_id}/events"))["events"]
    assert [e["kind"] for e in events] == [
        "case.created",
        "case.transitioned",
        "session.scheduled",
        "invitation.issued",
        "invitation.issued",
        "invitation.issued",
        "invitation.issued",
        "case.transitioned",
        "party.added",
    ]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["prev_hash"] == eventlog.GENESIS
    for previous, entry in zip(events, events[1:]):
        assert entry["prev_hash"] == previous["hash"]
    assert len({e["hash"] for e in events}) == len(events)
    assert all(len(e["hash"]) == 64 for e in events)
    async with core.db.read() as s:
        check = await eventlog.verify(s, case_id)
    assert check.ok and check.count == len(events)
    other = (await mediator.ok("POST", f"{V1}/cases", case_body(), 201))["id"]
    first = (await mediator.ok("GET", f"{V1}/cases/{other}/events"))["events"]
    assert first[0]["prev_hash"] == eventlog.GENESIS  # each case has its own chain
