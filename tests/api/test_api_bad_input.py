"""Bad request bodies, for every route that takes one: each gets a 4xx JSON error and changes nothing.

Every route is sent its hostile bodies with its own method, by the caller who may use it (the
admin, or the case's mediator), with the headers it needs (If-Match for the minutes), after its
prerequisites are made through the real API and services: an agreement to revise and sign, a
saved revision of the minutes to sign, a locked agreement and a court endpoint to send it to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic import BaseModel

from server.api.routes import ROUTES
from server.api.table import Route
from server.app import DELIVERIES
from server.services.core import Core
from tests.agreements.helpers import SIGNATURE, data_url, png, term
from tests.api.conftest import (
    V1,
    Caller,
    SignIn,
    account_id,
    case_body,
    db_state,
    expect_error,
    invitation_ids,
    org_id,
)
from tests.confirmations.conftest import COURT_SECRET, free_port, locked_agreement, set_court
from tests.conftest import World

# Each route that takes a JSON body, by the name the tests use for it.
ROUTE_OF = {
    "login": ("POST", f"{V1}/auth/login"),
    "orgs": ("POST", f"{V1}/orgs"),
    "accounts": ("POST", f"{V1}/accounts"),
    "cases": ("POST", f"{V1}/cases"),
    "transitions": ("POST", f"{V1}/cases/{{case_id}}/transitions"),
    "parties": ("POST", f"{V1}/cases/{{case_id}}/parties"),
    "sessions": ("POST", f"{V1}/cases/{{case_id}}/sessions"),
    "invitations": ("POST", f"{V1}/sessions/{{session_id}}/invitations"),
    "revoke": ("POST", f"{V1}/invitations/{{invitation_id}}/revoke"),
    # The documents of issue 11.
    "minutes": ("PUT", f"{V1}/sessions/{{session_id}}/minutes"),
    "agreements": ("POST", f"{V1}/cases/{{case_id}}/agreements"),
    "versions": ("POST", f"{V1}/agreements/{{agreement_id}}/versions"),
    "agreement_signatures": ("POST", f"{V1}/agreements/{{agreement_id}}/signatures"),
    "minutes_signatures": ("POST", f"{V1}/sessions/{{session_id}}/minutes/signatures"),
    "seal": ("PUT", f"{V1}/orgs/{{org_id}}/seal"),
    "court": ("PUT", f"{V1}/orgs/{{org_id}}/court"),
    "confirmation_requests": ("POST", f"{V1}/cases/{{case_id}}/confirmation-requests"),
    # Retention and legal hold (issue 12).
    "retention": ("PUT", f"{V1}/orgs/{{org_id}}/retention"),
    "hold": ("POST", f"{V1}/cases/{{case_id}}/hold"),
    "hold_release": ("DELETE", f"{V1}/cases/{{case_id}}/hold"),
}
BODY_ROUTES = list(ROUTE_OF)


ROUTE_TABLE = {(r.method, r.path): r for r in ROUTES}


def route(name: str) -> Route:
    return ROUTE_TABLE[ROUTE_OF[name]]


# The body schema of each (a route missing from the table fails the coverage test, not the import).
SCHEMAS: dict[str, type[BaseModel]] = {
    name: body for name, key in ROUTE_OF.items() if key in ROUTE_TABLE and (body := ROUTE_TABLE[key].body) is not None
}

# Bodies of routes that act on a live room: tests/recordings/test_recording_refusals.py sends
# them the same bad bodies, with a room running.
LIVE_ROOM_BODIES = {"RecordingStopIn"}


@dataclass(frozen=True)
class Valid:
    """A request that succeeds: the bad bodies are variations of its body, sent the same way."""

    name: str
    method: str
    path: str
    body: dict[str, Any]
    status: int
    caller: str = "admin"  # or "mediator": the demo case's mediator
    headers: dict[str, str] = field(default_factory=dict)


USERNAMES = {"admin": "demo-admin", "mediator": "demo-mediator"}


@dataclass
class Ctx:
    """One test's app and data: its callers, each signed in when a request first needs it (so
    before any snapshot is taken), and the prerequisites of the document routes, each made once."""

    core: Core
    world: World
    sign_in: SignIn
    callers: dict[str, Caller] = field(default_factory=dict)
    made: dict[str, Any] = field(default_factory=dict)

    async def caller(self, who: str) -> Caller:
        if who not in self.callers:
            self.callers[who] = await self.sign_in(USERNAMES[who])
        return self.callers[who]

    async def send(self, req: Valid, body: Any) -> Any:
        """`body` as JSON, sent as `req` is: its method and path, by its caller, with its headers."""
        return await self.callers[req.caller].send(req.method, req.path, body, headers=req.headers)

    async def send_raw(self, req: Valid, data: bytes | str, content_type: str | None = "application/json") -> Any:
        return await self.callers[req.caller].send_raw(req.method, req.path, data, content_type, req.headers)


@pytest.fixture
async def ctx(core: Core, world: World, sign_in: SignIn) -> Ctx:
    return Ctx(core, world, sign_in)


# ---- prerequisites, made through the API and the services as the document suites make them ----


async def agreement(ctx: Ctx) -> dict[str, Any]:
    """An agreement of the demo case, made by its mediator over the API: to revise and to sign."""
    if "agreement" not in ctx.made:
        mediator = await ctx.caller("mediator")
        body = {"template": "medical", "terms": [term()]}
        url = f"{V1}/cases/{ctx.world.demo.case_id}/agreements"
        ctx.made["agreement"] = await mediator.ok("POST", url, body, status=201)
    return cast("dict[str, Any]", ctx.made["agreement"])


async def saved_minutes(ctx: Ctx) -> dict[str, Any]:
    """The demo session's minutes, saved once by the mediator over the API (revision 1), as
    GET …/minutes/signatures shows them: to sign, and to save on."""
    if "minutes" not in ctx.made:
        mediator = await ctx.caller("mediator")
        url = f"{V1}/sessions/{ctx.world.demo.session_id}/minutes"
        resp = await mediator.send("PUT", url, {"document": {"result": "双方同意调解"}}, headers={"If-Match": '"0"'})
        assert resp.status == 200, await resp.text()
        ctx.made["minutes"] = await mediator.ok("GET", f"{url}/signatures")
        assert ctx.made["minutes"]["revision"] == 1
    return cast("dict[str, Any]", ctx.made["minutes"])


def closed_court_url() -> str:
    """A court endpoint on loopback where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/confirmations"


async def on_hold(ctx: Ctx) -> None:
    """The demo case on legal hold (by the admin, over the API), to be released."""
    if "hold" not in ctx.made:
        admin = await ctx.caller("admin")
        ctx.made["hold"] = await admin.ok("POST", f"{V1}/cases/{ctx.world.demo.case_id}/hold", {"reason": "复核"})


async def ready_to_confirm(ctx: Ctx) -> Any:
    """A locked agreement of the demo case and a court endpoint for its district (as
    tests/confirmations sets them up). The app starts a delivery loop (create_app's lifetime):
    it is stopped first, so a request that is made is never sent, even to the closed port."""
    if "signed" not in ctx.made:
        mediator = await ctx.caller("mediator")
        await mediator.client.server.app[DELIVERIES].stop()
        await set_court(ctx.core, "DEMO", closed_court_url())
        ctx.made["signed"] = await locked_agreement(ctx.core, ctx.world.demo.case_id)
    return ctx.made["signed"]


async def valid_request(name: str, ctx: Ctx) -> Valid:
    """A request to route `name` that succeeds: method, path, body, status, caller, headers.
    Its prerequisites are made, and its caller signed in."""
    req = await _valid_request(name, ctx)
    await ctx.caller(req.caller)
    return req


async def _valid_request(name: str, ctx: Ctx) -> Valid:
    core, world = ctx.core, ctx.world
    case_id, session_id = world.demo.case_id, world.demo.session_id
    method, template = ROUTE_OF[name]

    def request(
        body: dict[str, Any], status: int, caller: str = "admin", headers: dict[str, str] | None = None, **ids: str
    ) -> Valid:
        return Valid(name, method, template.format(**ids), body, status, caller, headers or {})

    if name == "login":
        return request({"username": "demo-admin", "password": world.passwords["demo-admin"]}, 200)
    if name == "orgs":
        return request(
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
        return request(
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
        return request(
            case_body(org_id=await org_id(core, "DEMO-QS"), mediator_id=await account_id(core, "demo-mediator")), 201
        )
    if name == "transitions":
        return request({"to": "mediating", "note": "开始调解"}, 200, case_id=case_id)
    if name == "parties":
        return request(
            {"side": "applicant", "name": "王五", "phone": "13900001111", "agent_name": "王律师"}, 201, case_id=case_id
        )
    if name == "sessions":
        return request({"scheduled_at": "2026-12-01T09:30:00+08:00", "title": "第二次"}, 201, case_id=case_id)
    if name == "invitations":
        return request(
            {"role": "observer", "display_name": "旁听", "direct_entry": False, "ttl_hours": 24},
            201,
            session_id=session_id,
        )
    if name == "revoke":
        inv = (await invitation_ids(core, session_id))["applicant"]
        return request({"reason": "换人"}, 200, invitation_id=inv)
    if name == "minutes":
        revision = (await saved_minutes(ctx))["revision"]
        document = {
            "result": "双方达成调解协议",
            "entries": [{"id": "e1", "speaker": "王建国", "text": "开始调解", "at": "2026-12-05T09:00:00+08:00"}],
        }
        return request({"document": document}, 200, "mediator", {"If-Match": f'"{revision}"'}, session_id=session_id)
    if name == "agreements":
        return request(
            {
                "template": "medical",
                "terms": [term()],
                "facts": "申请人之母住院期间摔伤",
                "matters": "护理是否存在过错及赔偿数额",
                "session_id": session_id,
            },
            201,
            "mediator",
            case_id=case_id,
        )
    if name == "versions":
        made = await agreement(ctx)
        return request(
            {
                "terms": [term(amount="15000")],
                "facts": "申请人之母住院期间摔伤",
                "matters": "赔偿数额",
                "based_on": made["version"],
            },
            201,
            "mediator",
            agreement_id=made["id"],
        )
    if name == "agreement_signatures":
        made = await agreement(ctx)
        return request(
            {"version_sha256": made["sha256"], "name": "王建国", "image": SIGNATURE},
            201,
            "mediator",
            agreement_id=made["id"],
        )
    if name == "minutes_signatures":
        minutes = await saved_minutes(ctx)
        return request(
            {"version_sha256": minutes["sha256"], "name": "王建国", "image": data_url(png(41))},
            201,
            "mediator",
            session_id=session_id,
        )
    if name == "seal":
        return request({"image": data_url(png(80, 80))}, 200, org_id=await org_id(core, "DEMO-QS"))
    if name == "court":
        return request(
            {"endpoint": closed_court_url(), "secret": COURT_SECRET}, 200, org_id=await org_id(core, "DEMO-QS")
        )
    if name == "retention":
        return request({"days": 365}, 200, org_id=await org_id(core, "DEMO-QS"))
    if name == "hold":
        return request({"reason": "法院调取证据"}, 200, case_id=case_id)
    if name == "hold_release":
        await on_hold(ctx)
        return request({"reason": "诉讼已结束"}, 200, case_id=case_id)
    if name == "confirmation_requests":
        signed = await ready_to_confirm(ctx)
        return request(
            {"agreement_id": signed.agreement_id, "version_sha256": signed.version_sha256},
            202,
            "mediator",
            case_id=case_id,
        )
    raise AssertionError(name)


async def each_route(ctx: Ctx, names: list[str] = BODY_ROUTES) -> list[Valid]:
    """A valid request of each route that takes a body."""
    return [await valid_request(name, ctx) for name in names]


# ---- the string fields of a body, and what the schema allows in each ----------------------------

Where = tuple[str | int, ...]


@dataclass(frozen=True)
class StringField:
    """A string anywhere in a valid body (top level, or nested in objects and lists)."""

    where: Where
    value: str
    max_length: int | None  # the schema's maxLength, if it has one
    union: bool  # the field may also be of another type: pydantic names each branch (field.str, field.int)

    @property
    def name(self) -> str:
        """As the error's `fields` names it: dotted, list items by index (parties.0.name)."""
        return ".".join(str(part) for part in self.where)


def _branches(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives a JSON schema node allows, with references resolved."""

    def resolve(n: dict[str, Any]) -> dict[str, Any]:
        while True:
            if "$ref" in n:
                n = defs[n["$ref"].rsplit("/", 1)[-1]]
            elif len(n.get("allOf", ())) == 1:
                n = n["allOf"][0]
            else:
                return n

    node = resolve(node)
    return [b for b in (resolve(alt) for alt in node.get("anyOf", [node])) if b.get("type") != "null"]


def string_fields(req: Valid) -> list[StringField]:
    schema = SCHEMAS[req.name].model_json_schema()
    defs = schema.get("$defs", {})

    def walk(value: Any, node: dict[str, Any], where: Where) -> Iterator[StringField]:
        branches = _branches(node, defs)
        if isinstance(value, str):
            lengths = [b["maxLength"] for b in branches if b.get("type") == "string" and "maxLength" in b]
            yield StringField(where, value, lengths[0] if lengths else None, len(branches) > 1)
        elif isinstance(value, dict):
            for key, item in value.items():
                (child,) = [b["properties"][key] for b in branches if key in b.get("properties", {})]
                yield from walk(item, child, (*where, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                (child,) = [b["items"] for b in branches if "items" in b]
                yield from walk(item, child, (*where, i))

    return list(walk(req.body, schema, ()))


def replaced(body: dict[str, Any], where: Where, value: Any) -> dict[str, Any]:
    """A copy of `body` with the value at `where` replaced."""
    out: Any = json.loads(json.dumps(body))
    parent = out
    for part in where[:-1]:
        parent = parent[part]
    parent[where[-1]] = value
    return cast("dict[str, Any]", out)


def too_long(f: StringField) -> str:
    """One character more than the field allows (10,001 where the schema sets no length)."""
    n = (f.max_length or 10_000) + 1
    # CJK where the body stays small (a limit in characters, not bytes); ASCII for the images,
    # whose limits are hundreds of thousands of characters (six bytes each as JSON escapes).
    return ("长" if n <= 20_000 else "x") * n


def names_field(err: dict[str, Any], field: str) -> bool:
    """The error names `field` itself or a part of it (e.g. parties.0)."""
    return any(k == field or k.startswith(field + ".") for k in err.get("fields", {}))


def names_string(err: dict[str, Any], f: StringField) -> bool:
    """The error names the string field exactly, or, for a union, one of its branches."""
    return names_field(err, f.name) if f.union else f.name in err.get("fields", {})


def test_the_bad_input_tests_cover_every_route_that_takes_a_body():
    assert len(set(ROUTE_OF.values())) == len(ROUTE_OF)
    with_body = {(r.method, r.path) for r in ROUTES if r.body is not None and r.body.__name__ not in LIVE_ROOM_BODIES}
    assert with_body == set(ROUTE_OF.values())
    assert set(SCHEMAS) == set(ROUTE_OF)
    assert {r.body.__name__ for r in ROUTES if r.body is not None} == {
        m.__name__ for m in SCHEMAS.values()
    } | LIVE_ROOM_BODIES


@pytest.mark.parametrize("name", BODY_ROUTES)
async def test_the_valid_body_of_each_route_is_accepted(ctx: Ctx, name: str):
    req = await valid_request(name, ctx)
    assert req.status == route(name).status  # as the route table, and so the OpenAPI document, says
    resp = await ctx.send(req, req.body)
    assert resp.status == req.status, await resp.text()


# Every route but the seal reads its body with the one shared reader (server/http/requests.read_json);
# the seal's PUT reads its content type itself (it also takes image/png). One of each is enough.
@pytest.mark.parametrize("name", ["cases", "minutes", "seal"])
async def test_json_with_a_charset_parameter_or_in_upper_case_is_still_json(ctx: Ctx, name: str):
    req = await valid_request(name, ctx)
    resp = await ctx.send_raw(req, json.dumps(req.body, ensure_ascii=False).encode(), "Application/JSON; charset=utf-8")
    assert resp.status == req.status, await resp.text()


async def test_malformed_json_is_400_invalid_json(ctx: Ctx):
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
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
            err = await expect_error(await ctx.send_raw(req, raw), 400, "invalid_json")
            assert err["message"].startswith("the body is not valid JSON")
    assert await db_state(ctx.core) == before


async def test_json_that_is_not_an_object_is_422(ctx: Ctx):
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
        for raw in ([req.body], [], "text", 42, None, True):
            err = await expect_error(await ctx.send_raw(req, json.dumps(raw)), 422, "invalid_input")
            assert "JSON object" in err["message"]
    assert await db_state(ctx.core) == before


async def test_a_body_that_is_not_sent_as_json_is_415(ctx: Ctx):
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
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
            await expect_error(await ctx.send_raw(req, json.dumps(req.body), ctype), 415, "unsupported_media_type")
    assert await db_state(ctx.core) == before


async def test_an_unknown_extra_field_is_422_naming_it(ctx: Ctx):
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
        err = await expect_error(
            await ctx.send(req, {**req.body, "is_admin": True}), 422, "invalid_input", fields=("is_admin",)
        )
        assert list(err["fields"]) == ["is_admin"]
    assert await db_state(ctx.core) == before


# Bodies where every field is optional. A revoke needs no reason; the minutes take a bare
# document as well as {document: …}, and an empty one changes no section.
EMPTY_IS_VALID = ["revoke", "minutes"]


async def test_an_empty_object_is_422_naming_every_required_field(ctx: Ctx):
    requests = await each_route(ctx, [n for n in BODY_ROUTES if n not in EMPTY_IS_VALID])
    before = await db_state(ctx.core)
    for req in requests:
        required = set(SCHEMAS[req.name].model_json_schema().get("required", []))
        assert required, req.name
        err = await expect_error(await ctx.send(req, {}), 422, "invalid_input", fields=tuple(required))
        assert set(err["fields"]) == required, (req.name, err)
    assert await db_state(ctx.core) == before
    for req in await each_route(ctx, EMPTY_IS_VALID):
        resp = await ctx.send(req, {})
        assert resp.status == 200, (req.name, await resp.text())


async def test_a_field_of_the_wrong_type_is_422_naming_it(ctx: Ctx):
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
        for name in req.body:
            for wrong in ({"nested": "object"}, [["list"]], 3.5):
                err = await expect_error(await ctx.send(req, {**req.body, name: wrong}), 422, "invalid_input")
                assert names_field(err, name), (req.name, name, wrong, err)
    assert await db_state(ctx.core) == before


# Some of the string fields the checks below must reach, nested ones too, with the limit each
# schema sets (None: no maxLength, so 10,001 characters are sent).
SOME_STRING_FIELDS: dict[str, dict[str, int | None]] = {
    "minutes": {"document.result": 10_000, "document.entries.0.text": 10_000, "document.entries.0.at": None},
    "cases": {"title": 200, "parties.0.name": 100, "parties.1.name": 100, "parties.0.id_number": 18},
    "agreements": {"template": 64, "terms.0.amount": 20, "terms.0.deadline": 10, "session_id": 36},
    "agreement_signatures": {"version_sha256": 64, "name": 100, "image": 300_000},
    "minutes_signatures": {"version_sha256": 64, "name": 100, "image": 300_000},
    "seal": {"image": 700_000},
    "court": {"endpoint": 500, "secret": 200},
    "confirmation_requests": {"agreement_id": 36, "version_sha256": None},
    "sessions": {"scheduled_at": None},
    "hold": {"reason": 500},
    "hold_release": {"reason": 500},
}


async def test_an_over_long_string_is_422_naming_the_field(ctx: Ctx):
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
        if req.name in SOME_STRING_FIELDS:
            found = {f.name: f.max_length for f in string_fields(req)}
            assert {k: found.get(k, "missing") for k in SOME_STRING_FIELDS[req.name]} == SOME_STRING_FIELDS[req.name]
    for req in requests:
        for f in string_fields(req):
            resp = await ctx.send(req, replaced(req.body, f.where, too_long(f)))
            err = await expect_error(resp, 422, "invalid_input")
            assert names_string(err, f), (req.name, f.name, err)
            if f.max_length is not None:  # refused for its length, not for something else
                problems = [v for k, v in err["fields"].items() if k == f.name or k.startswith(f.name + ".")]
                assert any(str(f.max_length) in v for v in problems), (req.name, f.name, err)
    assert await db_state(ctx.core) == before


async def test_a_nul_character_in_any_string_is_422_on_every_database(ctx: Ctx):
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
        for f in string_fields(req):
            resp = await ctx.send(req, replaced(req.body, f.where, f.value[:1] + "\x00" + f.value[1:]))
            err = await expect_error(resp, 422, "invalid_input", fields=(f.name,))
            assert "NUL" in err["fields"][f.name]
        await expect_error(await ctx.send(req, {**req.body, "a\x00b": 1}), 422, "invalid_input", fields=("a\\u0000b",))
    req = next(r for r in requests if r.name == "cases")
    body = {**req.body, "parties": [req.body["parties"][0], {"side": "respondent", "name": "李\x00四"}]}
    await expect_error(await ctx.send(req, body), 422, "invalid_input", fields=("parties.1.name",))
    assert await db_state(ctx.core) == before


async def test_lone_surrogates_in_strings_are_422_not_a_server_error(ctx: Ctx):
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
        for f in string_fields(req):
            raw = json.dumps(replaced(req.body, f.where, "@@")).replace("@@", "\\ud800")
            err = await expect_error(await ctx.send_raw(req, raw), 422, "invalid_input")
            assert names_string(err, f), (req.name, f.name, err)
        raw = json.dumps({**req.body, "@@": "\x00"}).replace("@@", "\\udfff")
        await expect_error(await ctx.send_raw(req, raw), 422, "invalid_input")
    assert await db_state(ctx.core) == before


async def test_a_body_over_the_size_limit_is_413_and_one_at_the_limit_is_read(ctx: Ctx):
    limit = ctx.core.settings.max_body_bytes
    assert limit == 1024 * 1024
    requests = await each_route(ctx)  # prerequisites made before the snapshot
    before = await db_state(ctx.core)
    for req in requests:
        head = json.dumps({**req.body, "padding": ""}).encode()

        def padded(size: int, head: bytes = head) -> bytes:
            data = head[:-2] + b"x" * (size - len(head)) + head[-2:]
            assert len(data) == size
            return data

        await expect_error(await ctx.send_raw(req, padded(limit + 1)), 413, "payload_too_large")
        await expect_error(await ctx.send_raw(req, padded(4 * limit)), 413, "payload_too_large")
        # At the limit the body is read and parsed: the padding is an unknown field.
        await expect_error(await ctx.send_raw(req, padded(limit)), 422, "invalid_input", fields=("padding",))
    assert await db_state(ctx.core) == before


async def test_bad_enum_values_are_422_naming_the_field(ctx: Ctx):
    names = ("orgs", "accounts", "cases", "transitions", "parties", "invitations")
    requests = {name: await valid_request(name, ctx) for name in names}
    before = await db_state(ctx.core)
    for name, field_name, value in (
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
        req = requests[name]
        await expect_error(
            await ctx.send(req, {**req.body, field_name: value}), 422, "invalid_input", fields=(field_name,)
        )
    assert await db_state(ctx.core) == before


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
