"""Bad request bodies, for every route that takes one: each gets a 4xx JSON error and changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from server.api import schemas as S
from server.api.routes import ROUTES
from tests.api.conftest import V1, Caller, account_id, case_body, db_state, expect_error, invitation_ids, org_id

SCHEMAS = {
    "login": S.LoginIn,
    "orgs": S.OrgIn,
    "accounts": S.AccountIn,
    "cases": S.CaseIn,
    "transitions": S.TransitionIn,
    "parties": S.PartyIn,
    "sessions": S.SessionIn,
    "invitations": S.InvitationIn,
    "revoke": S.RevokeIn,
}
BODY_ROUTES = list(SCHEMAS)


async def valid_request(name: str, core: Any, world: Any) -> tuple[str, dict[str, Any], int]:
    """A path, a body that the admin may send there successfully, and the success status."""
    case_id, session_id = world.demo.case_id, world.demo.session_id
    if name == "login":
        return f"{V1}/auth/login", {"username": "demo-admin", "password": world.passwords["demo-admin"]}, 200
    if name == "orgs":
        return (
            f"{V1}/orgs",
            {
                "name": "新调委会",
                "code": "NEW-1",
                "kind": "people",
                "level": "village",
                "parent_id": await org_id(core, "DEMO-QS"),
            },
            201,
        )
    if name == "accounts":
        return (
            f"{V1}/accounts",
            {
                "username": "new-user",
                "display_name": "新用户",
                "role": "mediator",
                "org_id": await org_id(core, "DEMO-QS"),
                "password": "long-password-1",
                "phone": "13900001111",
            },
            201,
        )
    if name == "cases":
        return (
            f"{V1}/cases",
            case_body(org_id=await org_id(core, "DEMO-QS"), mediator_id=await account_id(core, "demo-mediator")),
            201,
        )
    if name == "transitions":
        return f"{V1}/cases/{case_id}/transitions", {"to": "mediating", "note": "开始调解"}, 200
    if name == "parties":
        return (
            f"{V1}/cases/{case_id}/parties",
            {"side": "applicant", "name": "王五", "phone": "13900001111", "agent_name": "王律师"},
            201,
        )
    if name == "sessions":
        return f"{V1}/cases/{case_id}/sessions", {"scheduled_at": "2026-12-01T09:30:00+08:00", "title": "第二次"}, 201
    if name == "invitations":
        return (
            f"{V1}/sessions/{session_id}/invitations",
            {"role": "observer", "display_name": "旁听", "direct_entry": False, "ttl_hours": 24},
            201,
        )
    if name == "revoke":
        inv = (await invitation_ids(core, session_id))["applicant"]
        return f"{V1}/invitations/{inv}/revoke", {"reason": "换人"}, 200
    raise AssertionError(name)


# Bodies of routes that act on a live room: tests/recordings/test_recording_refusals.py sends
# them the same bad bodies, with a room running.
LIVE_ROOM_BODIES = {"RecordingStopIn"}


# Bodies of the minutes, agreement and confirmation routes (issue 11): their own suites send
# them bad input (and the shared hostile bodies below do not yet). Each names that suite, which
# must exist and call the route; bringing them into this suite's generic cases is still to do.
DOCUMENT_BODIES = {
    "MinutesPut": "tests/minutes/test_minutes_api.py",
    "AgreementIn": "tests/agreements/test_api.py",
    "VersionIn": "tests/agreements/test_api.py",
    "SignatureIn": "tests/agreements/test_api.py",
    "SealIn": "tests/agreements/test_api.py",
    "CourtIn": "tests/agreements/test_api.py",
    "ConfirmationRequestIn": "tests/confirmations/test_confirmation_api.py",
}


def test_the_bad_input_tests_cover_every_route_that_takes_a_body():
    assert sorted({r.body.__name__ for r in ROUTES if r.body is not None}) == sorted(
        [m.__name__ for m in SCHEMAS.values()] + list(LIVE_ROOM_BODIES) + list(DOCUMENT_BODIES)
    )
    root = Path(__file__).resolve().parents[2]
    for name, suite in DOCUMENT_BODIES.items():
        text = (root / suite).read_text(encoding="utf-8")
        paths = {r.path for r in ROUTES if r.body is not None and r.body.__name__ == name}
        tails = {path.rsplit("}", 1)[-1] for path in paths}
        assert any(tail in text for tail in tails), (name, suite, tails)


async def each_route(core: Any, world: Any, names: list[str] = BODY_ROUTES) -> Any:
    """(name, path, valid body) for each route that takes a body."""
    return [(name, *(await valid_request(name, core, world))[:2]) for name in names]


def names_field(err: dict[str, Any], field: str) -> bool:
    """The error names `field` itself or a part of it (e.g. parties.0)."""
    return any(k == field or k.startswith(field + ".") for k in err.get("fields", {}))


@pytest.mark.parametrize("name", BODY_ROUTES)
async def test_the_valid_body_of_each_route_is_accepted(admin: Caller, core, world, name: str):
    path, body, status = await valid_request(name, core, world)
    resp = await admin.post(path, body)
    assert resp.status == status, await resp.text()


@pytest.mark.parametrize("name", BODY_ROUTES)
async def test_json_with_a_charset_parameter_or_in_upper_case_is_still_json(admin: Caller, core, world, name: str):
    path, body, status = await valid_request(name, core, world)
    resp = await admin.post_raw(path, json.dumps(body, ensure_ascii=False).encode(), "Application/JSON; charset=utf-8")
    assert resp.status == status, await resp.text()


async def test_malformed_json_is_400_invalid_json(admin: Caller, core, world):
    before = await db_state(core)
    for _, path, _ in await each_route(core, world):
        for raw in (
            "{",
            '{"to": }',
            "{'to': 'mediating'}",
            '{"a": 1} trailing',
            "",
            "   ",
            "\xff\xfe{",
            "NaN-ish",
            b"\xff\xfe\xfd",
            "[" * 100_000 + "]" * 100_000,
            '{"a":' * 50_000 + "1" + "}" * 50_000,
        ):
            err = await expect_error(await admin.post_raw(path, raw), 400, "invalid_json")
            assert err["message"].startswith("the body is not valid JSON")
    assert await db_state(core) == before


async def test_json_that_is_not_an_object_is_422(admin: Caller, core, world):
    before = await db_state(core)
    for _, path, body in await each_route(core, world):
        for raw in ([body], [], "text", 42, None, True):
            err = await expect_error(await admin.post_raw(path, json.dumps(raw)), 422, "invalid_input")
            assert "JSON object" in err["message"]
    assert await db_state(core) == before


async def test_a_body_that_is_not_sent_as_json_is_415(admin: Caller, core, world):
    before = await db_state(core)
    for _, path, body in await each_route(core, world):
        for ctype in (
            None,
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json",
            "application/jsonp",
            "application/json-patch+json",
        ):
            await expect_error(await admin.post_raw(path, json.dumps(body), ctype), 415, "unsupported_media_type")
    assert await db_state(core) == before


async def test_an_unknown_extra_field_is_422_naming_it(admin: Caller, core, world):
    before = await db_state(core)
    for _, path, body in await each_route(core, world):
        err = await expect_error(
            await admin.post(path, {**body, "is_admin": True}), 422, "invalid_input", fields=("is_admin",)
        )
        assert list(err["fields"]) == ["is_admin"]
    assert await db_state(core) == before


async def test_an_empty_object_is_422_naming_every_required_field(admin: Caller, core, world):
    before = await db_state(core)
    for name, path, _ in await each_route(core, world, [n for n in BODY_ROUTES if n != "revoke"]):
        required = set(SCHEMAS[name].model_json_schema().get("required", []))
        assert required, name
        err = await expect_error(await admin.post(path, {}), 422, "invalid_input", fields=tuple(required))
        assert set(err["fields"]) == required
    assert await db_state(core) == before
    # Every field of a revoke is optional: an empty object is a valid revoke.
    _, path, _ = (await each_route(core, world, ["revoke"]))[0]
    assert (await admin.post(path, {})).status == 200


async def test_a_field_of_the_wrong_type_is_422_naming_it(admin: Caller, core, world):
    before = await db_state(core)
    for _, path, body in await each_route(core, world):
        for field in body:
            for wrong in ({"nested": "object"}, [["list"]], 3.5):
                err = await expect_error(await admin.post(path, {**body, field: wrong}), 422, "invalid_input")
                assert names_field(err, field), (path, field, wrong, err)
    assert await db_state(core) == before


async def test_an_over_long_string_is_422_naming_the_field(admin: Caller, core, world):
    before = await db_state(core)
    for _, path, body in await each_route(core, world):
        for field, value in body.items():
            if isinstance(value, str):
                resp = await admin.post(path, {**body, field: "长" * 10_001})  # longer than any field allows
                await expect_error(resp, 422, "invalid_input", fields=(field,))
    assert await db_state(core) == before


async def test_a_nul_character_in_any_string_is_422_on_every_database(admin: Caller, core, world):
    before = await db_state(core)
    for _, path, body in await each_route(core, world):
        for field, value in body.items():
            if isinstance(value, str):
                resp = await admin.post(path, {**body, field: value[:1] + "\x00" + value[1:]})
                err = await expect_error(resp, 422, "invalid_input", fields=(field,))
                assert "NUL" in err["fields"][field]
        await expect_error(await admin.post(path, {**body, "a\x00b": 1}), 422, "invalid_input", fields=("a\\u0000b",))
    _, path, body = (await each_route(core, world, ["cases"]))[0]
    resp = await admin.post(path, {**body, "parties": [body["parties"][0], {"side": "respondent", "name": "李\x00四"}]})
    await expect_error(resp, 422, "invalid_input", fields=("parties.1.name",))
    assert await db_state(core) == before


async def test_lone_surrogates_in_strings_are_422_not_a_server_error(admin: Caller, core, world):
    before = await db_state(core)
    for _, path, body in await each_route(core, world):
        for field, value in body.items():
            if isinstance(value, str):
                raw = json.dumps({**body, field: "@@"}).replace("@@", "\\ud800")
                await expect_error(await admin.post_raw(path, raw), 422, "invalid_input", fields=(field,))
        raw = json.dumps({**body, "@@": "\x00"}).replace("@@", "\\udfff")
        await expect_error(await admin.post_raw(path, raw), 422, "invalid_input")
    assert await db_state(core) == before


async def test_a_body_over_the_size_limit_is_413_and_one_at_the_limit_is_read(admin: Caller, core, world):
    limit = core.settings.max_body_bytes
    assert limit == 1024 * 1024
    before = await db_state(core)
    for _, path, body in await each_route(core, world):
        head = json.dumps({**body, "padding": ""}).encode()

        def padded(size: int, head: bytes = head) -> bytes:
            data = head[:-2] + b"x" * (size - len(head)) + head[-2:]
            assert len(data) == size
            return data

        await expect_error(await admin.post_raw(path, padded(limit + 1)), 413, "payload_too_large")
        await expect_error(await admin.post_raw(path, padded(4 * limit)), 413, "payload_too_large")
        # At the limit the body is read and parsed: the padding is an unknown field.
        await expect_error(await admin.post_raw(path, padded(limit)), 422, "invalid_input", fields=("padding",))
    assert await db_state(core) == before


async def test_bad_enum_values_are_422_naming_the_field(admin: Caller, core, world):
    before = await db_state(core)
    for name, field, value in (
        ("orgs", "kind", "bank"),
        ("orgs", "level", "province"),
        ("accounts", "role", "root"),
        ("cases", "dispute_type", "murder"),
        ("cases", "source", "rumour"),
        ("transitions", "to", "finished"),
        ("parties", "side", "neutral"),
        ("invitations", "role", "judge"),
        ("cases", "dispute_type", "NEIGHBOUR"),
        ("transitions", "to", " mediating_"),
    ):
        path, body, _ = await valid_request(name, core, world)
        await expect_error(await admin.post(path, {**body, field: value}), 422, "invalid_input", fields=(field,))
    assert await db_state(core) == before


async def test_an_unsupported_method_is_405_with_the_allowed_methods(admin: Caller):
    resp = await admin.client.put(f"{V1}/cases", json={}, headers={"X-CSRF-Token": admin.csrf})
    await expect_error(resp, 405, "method_not_allowed")
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == {"GET", "POST"}
    resp = await admin.client.delete(f"{V1}/cases/{'x' * 8}", headers={"X-CSRF-Token": admin.csrf})
    await expect_error(resp, 405, "method_not_allowed")
    assert {m.strip() for m in resp.headers["Allow"].split(",")} == {"GET"}


async def test_an_unknown_api_path_is_a_json_404(admin: Caller, client):
    for c in (admin.client, client):
        await expect_error(await c.get(f"{V1}/nothing/here"), 404, "not_found")
        await expect_error(await c.get("/api/v2/cases"), 404, "not_found")


async def test_a_nul_character_in_the_url_is_a_4xx_not_a_server_error(admin: Caller, core):
    before = await db_state(core)
    await expect_error(await admin.get(f"{V1}/cases?q=a%00b"), 400, "bad_request")
    await expect_error(await admin.get(f"{V1}/cases?status%00=x"), 400, "bad_request")
    await expect_error(await admin.get(f"{V1}/accounts?org_id=%00"), 400, "bad_request")
    await expect_error(await admin.post(f"{V1}/cases/%00/transitions", {"to": "accepted"}), 404, "not_found")
    assert await db_state(core) == before
