"""The OpenAPI 3.1 document, built from the route table and the request schemas."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from server import __version__
from server.http.requests import CSRF_HEADER, JOIN_COOKIE, STAFF_COOKIE, json_response

from .routes import ROUTES
from .table import Route

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}
ERRORS = {
    "400": "Malformed request (e.g. invalid JSON)",
    "401": "Not signed in",
    "403": "Signed in, but the role or CSRF token does not allow this",
    "404": "Unknown ID, or outside the caller's scope",
    "409": "Conflicts with the current state",
    "413": "Body too large",
    "415": "Body is not application/json",
    "422": "Fields are invalid",
    "428": "A precondition is required (PUT …/minutes without If-Match)",
    "429": "Rate limited",
}


def _operation(r: Route, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": r.summary, "operationId": r.handler.__name__}
    params = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in re.findall(r"{(\w+)}", r.path)
    ]
    if r.query is not None:
        schema = r.query.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))  # enums of query parameters are referenced, like body ones
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop})
    if params:
        op["parameters"] = params
    if r.body is not None:
        schema = r.body.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[r.body.__name__] = schema
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{r.body.__name__}"}}},
        }
    ok = {
        "description": "OK",
        "content": {
            r.produces: {
                "schema": {"type": "string", "format": "binary"}
                if r.produces != "application/json"
                else {"type": "object"}
            }
        },
    }
    op["responses"] = {
        str(r.status): ok,
        **{
            code: {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
            for code, text in ERRORS.items()
        },
    }
    op["security"] = {
        "none": [],
        "staff": [{"session": [], "csrf": []}],
        "person": [{"session": [], "csrf": []}, {"join": [], "csrf": []}],
    }[r.auth]
    return op


def build_document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for r in ROUTES:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, components)
    paths["/healthz"] = {
        "get": {
            "summary": "Liveness and database check",
            "operationId": "healthz",
            "security": [],
            "responses": {"200": {"description": "healthy"}, "503": {"description": "database unreachable"}},
        }
    }
    paths["/api/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Heshi REST API",
            "version": __version__,
            "description": "Cases, sessions and invitations of the Heshi mediation server. "
            "Sign in with POST /api/v1/auth/login; send the returned csrf_token in the "
            f'{CSRF_HEADER} header with every POST. Errors: {{"error": {{code, message, fields?}}}}.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": STAFF_COOKIE},
                # The cookie a join link sets: a party's own device, for the routes that take it.
                "join": {"type": "apiKey", "in": "cookie", "name": JOIN_COOKIE},
                "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER},
            },
        },
    }


async def openapi(request: web.Request) -> web.StreamResponse:
    return json_response(build_document())
