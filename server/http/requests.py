"""Reading requests: JSON bodies into schemas, query strings, the caller's principal, CSRF."""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any, TypeVar, cast

from aiohttp import web
from pydantic import BaseModel

from server.domain import inputs
from server.domain.access import Principal, PrincipalKind
from server.domain.errors import Forbidden, Unauthenticated
from server.services import signin

from .errors import HttpError
from .keys import CORE

M = TypeVar("M", bound=BaseModel)

STAFF_COOKIE = "heshi_session"
JOIN_COOKIE = "heshi_join"
CSRF_HEADER = "X-CSRF-Token"
# The staff principal of this request (False: looked up, nobody signed in), resolved once.
_PRINCIPAL = web.RequestKey("heshi.principal", object)


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
    except RecursionError:  # a few hundred kilobytes of '[' is valid-looking JSON that json cannot parse
        raise HttpError(400, "invalid_json", "the body is not valid JSON: nested too deeply") from None
    return inputs.parse(model, data, "body")


def reject_unusable_url(request: web.Request) -> None:
    """A NUL character in the URL names nothing, and PostgreSQL refuses it in a query: 4xx, not 500."""
    if "\x00" in request.path:
        raise HttpError(404, "not_found", "not found")
    if any("\x00" in k or "\x00" in v for k, v in request.query.items()):
        raise HttpError(400, "bad_request", "the query string must not contain NUL characters")


def parse_query(request: web.Request, model: type[M]) -> M:
    return inputs.parse(model, dict(request.query), "query")


async def staff_session(request: web.Request) -> tuple[Principal, str] | None:
    cached = request.get(_PRINCIPAL)
    if cached is None:  # not looked up yet in this request; False: looked up, nobody signed in
        found = await signin.authenticate(request.app[CORE], request.cookies.get(STAFF_COOKIE), PrincipalKind.staff)
        request[_PRINCIPAL] = found if found is not None else False
        return found
    return cast("tuple[Principal, str]", cached) if cached is not False else None


async def join_session(request: web.Request, *, documents: bool = False) -> tuple[Principal, str] | None:
    """The holder of a join cookie. documents=True: for the session's documents, which a signer's
    link still reaches after its session ended; otherwise for the room, which it does not."""
    return await signin.authenticate(
        request.app[CORE], request.cookies.get(JOIN_COOKIE), PrincipalKind.invitation, documents=documents
    )


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


async def require_person(request: web.Request) -> Principal:
    """A signed-in staff member, or else the holder of a join link (a party signing on their own
    phone, a clerk invited by link): 401 with neither. CSRF is checked on unsafe methods, with
    the token of whichever session is used. Staff sign-in wins when a browser has both.

    For the session's documents: a party's link keeps reaching them after the session ended."""
    found = await staff_session(request) or await join_session(request, documents=True)
    if found is None:
        raise Unauthenticated("sign in, or open your invitation link first")
    principal, csrf = found
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf(request, csrf)
    return principal


def check_csrf(request: web.Request, expected: str, submitted: str | None = None) -> None:
    token = submitted if submitted is not None else request.headers.get(CSRF_HEADER, "")
    # Tokens are ASCII; a header with other bytes (decoded with surrogates) cannot match and must not crash.
    if not token or not token.isascii() or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("missing or wrong CSRF token", reason="csrf")


def client_address(request: web.Request) -> str:
    """The address a request came from, for rate limits. Behind a reverse proxy every request
    comes from the proxy: when the peer is one of HESHI_TRUSTED_PROXIES, the address is the
    last one in X-Forwarded-For that is not itself a trusted proxy (the earlier entries are
    whatever the client claimed, and a client must not pick its own rate-limit key)."""
    peer = request.remote or "unknown"
    trusted = request.app[CORE].settings.trusted_proxies
    if not trusted or not _in_any(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in_any(hop, trusted):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _in_any(address: str, networks: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def set_staff_cookie(request: web.Request, response: web.StreamResponse, session: signin.BrowserSession) -> None:
    core = request.app[CORE]
    response.set_cookie(
        STAFF_COOKIE,
        session.token,
        httponly=True,
        samesite="Lax",
        path="/",
        secure=core.settings.cookie_secure,
        max_age=core.settings.staff_session_hours * 3600,
    )


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))
