"""Reading requests: JSON bodies into schemas, query strings, the caller's principal, CSRF."""

from __future__ import annotations

import hmac
import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.domain.access import Principal, PrincipalKind
from server.domain.errors import Forbidden, Unauthenticated
from server.services import signin

from .errors import HttpError, from_pydantic
from .keys import CORE

M = TypeVar("M", bound=BaseModel)

STAFF_COOKIE = "heshi_session"
JOIN_COOKIE = "heshi_join"
CSRF_HEADER = "X-CSRF-Token"
_PRINCIPAL = "heshi.principal"


async def read_json(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body. Wrong content type, bad JSON or bad fields are 4xx."""
    ctype = request.headers.get("Content-Type", "")
    if not ctype.split(";")[0].strip().lower() == "application/json":
        raise HttpError(415, "unsupported_media_type", "send the body as application/json")
    raw = await request.read()  # aiohttp enforces client_max_size (413)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise HttpError(422, "invalid_input", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise from_pydantic(exc) from None


async def staff_session(request: web.Request) -> tuple[Principal, str] | None:
    cached = request.get(_PRINCIPAL)
    if cached is None:
        cached = await signin.authenticate(request.app[CORE], request.cookies.get(STAFF_COOKIE),
                                           PrincipalKind.staff) or False
        request[_PRINCIPAL] = cached
    return cached or None


async def join_session(request: web.Request) -> tuple[Principal, str] | None:
    return await signin.authenticate(request.app[CORE], request.cookies.get(JOIN_COOKIE), PrincipalKind.invitation)


async def require_staff(request: web.Request) -> Principal:
    """The signed-in staff principal; 401 without one, and CSRF checked on unsafe methods."""
    found = await staff_session(request)
    if found is None:
        if request.cookies.get(JOIN_COOKIE):
            raise Forbidden("an invitation link gives access to its session only; staff must sign in")
        raise Unauthenticated("sign in first")
    principal, csrf = found
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(request, csrf)
    return principal


def check_csrf(request: web.Request, expected: str, submitted: str | None = None) -> None:
    token = submitted if submitted is not None else request.headers.get(CSRF_HEADER, "")
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("missing or wrong CSRF token", reason="csrf")


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))
