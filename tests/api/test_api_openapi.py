"""The OpenAPI document: well-formed, and complete against the routes the real app serves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from server.api.routes import ROUTES


async def fetch(client: Any) -> dict[str, Any]:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    return await resp.json()


def served_operations(app: Any) -> set[tuple[str, str]]:
    """(path, method) of every route of the app under /api/ and /healthz; HEAD is implied by GET."""
    ops = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if (path.startswith("/api/") or path == "/healthz") and route.method != "HEAD":
            ops.add((path, route.method.lower()))
    return ops


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"unresolved $ref {ref}"
        node = node[part]
    return node


async def test_the_document_is_openapi_3_1_with_info_paths_and_components(client):
    doc = await fetch(client)
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"] and doc["info"]["version"]
    assert "X-CSRF-Token" in doc["info"]["description"]
    assert doc["paths"] and all(p.startswith("/") for p in doc["paths"])
    schemes = doc["components"]["securitySchemes"]
    assert schemes["session"] == {"type": "apiKey", "in": "cookie", "name": "heshi_session"}
    assert schemes["csrf"] == {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"}
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]


async def test_every_api_route_the_app_serves_is_in_the_document_with_its_method(client):
    doc = await fetch(client)
    served = served_operations(client.server.app)
    assert len(served) >= len(ROUTES) + 2  # the route table, /healthz and the document itself
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    missing = served - documented
    assert not missing, f"served but not in the OpenAPI document: {sorted(missing)}"
    extra = documented - served
    assert not extra, f"documented but not served: {sorted(extra)}"


async def test_every_operation_has_a_summary_an_operation_id_and_responses(client):
    doc = await fetch(client)
    ids = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert method in {"get", "post", "put", "patch", "delete"}, (path, method)
            assert isinstance(op.get("summary"), str) and op["summary"].strip(), (path, method)
            assert op.get("responses"), (path, method)
            for status, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", status), (path, method, status)
                assert response.get("description"), (path, method, status)
            ids.append(op["operationId"])
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (path, method)
    assert len(ids) == len(set(ids)), "operationIds must be unique"


async def test_each_route_documents_its_success_status_and_its_error_responses(client):
    doc = await fetch(client)
    for r in ROUTES:
        op = doc["paths"][r.path][r.method.lower()]
        assert str(r.status) in op["responses"], r.path
        assert r.produces in op["responses"][str(r.status)]["content"], r.path
        for status in ("401", "403", "404", "422"):
            assert op["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }
        staff = {"session": [], "csrf": []}
        assert op["security"] == {"none": [], "staff": [staff], "person": [staff, {"join": [], "csrf": []}]}[r.auth]
        if r.query is not None:
            names = {p["name"] for p in op["parameters"] if p["in"] == "query"}
            assert names == set(r.query.model_fields), r.path


async def test_every_request_body_references_a_schema_that_exists_and_matches_the_route(client):
    doc = await fetch(client)
    bodies = 0
    for r in ROUTES:
        op = doc["paths"][r.path][r.method.lower()]
        if r.body is None:
            assert "requestBody" not in op, r.path
            continue
        bodies += 1
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        target = resolve(doc, schema["$ref"])
        assert target["type"] == "object"
        assert set(target["properties"]) == set(r.body.model_fields), r.path
        assert target.get("additionalProperties") is False, r.path  # unknown fields are refused
    assert bodies == sum(1 for r in ROUTES if r.body is not None) > 0


async def test_every_ref_anywhere_in_the_document_resolves(client):
    doc = await fetch(client)
    found = list(refs(doc))
    assert "#/components/schemas/PartyIn" in found  # nested: CaseIn.parties
    for ref in found:
        resolve(doc, ref)


async def test_the_document_is_public_and_served_without_signing_in(client):
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert "heshi_session" not in resp.cookies
