"""Middlewares: one place where errors become responses, and security headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from server.domain.errors import Forbidden

from .errors import classify, error_body, wants_json
from .keys import CORE, ERROR_PAGE
from .requests import json_response, reject_unusable_url

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        reject_unusable_url(request)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like pass through
        status, code, message, fields, headers = classify(exc)
        if status == 413:
            message = "the request body is too large"
    except Exception as exc:
        status, code, message, fields, headers = classify(exc)
    if wants_json(request):
        response = json_response(error_body(code, message, fields), status=status)
    else:
        response = request.app[ERROR_PAGE](request, status, code, message)
    response.headers.update(headers)
    return response


# Pages load only our own files. Anything else (JSON, files, redirects) is never a document that
# should run or load anything, should a browser be tricked into opening it as one.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# A recording opened in its own tab is a media document: the browser's player must load the
# file itself (with `media-src 'none'` it waits forever), and nothing else.
MEDIA_CSP = "default-src 'none'; media-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Camera and microphone are the product; everything else is off.
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}


def add_security_headers(response: web.StreamResponse) -> None:
    """Set the security headers a handler has not set itself."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    ctype = response.content_type
    response.headers.setdefault(
        "Content-Security-Policy",
        PAGE_CSP if ctype == "text/html" else MEDIA_CSP if ctype.startswith(("video/", "audio/")) else OTHER_CSP,
    )


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: every response gets the headers, the error pages and JSON of `errors` included,
    and so do redirects, which handlers raise rather than return."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        add_security_headers(exc)
        raise
    add_security_headers(response)
    return response


UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse unsafe cross-origin requests, on top of CSRF tokens (defence in depth)."""
    origin = request.headers.get("Origin")
    # No Origin at all: a client that is not a browser, or an old one; the CSRF token decides.
    # "null" is an opaque origin (a sandboxed frame, a data: URL, a cross-site redirect): never
    # one of our pages, and our own pages send their origin (Referrer-Policy: same-origin).
    if request.method in UNSAFE and origin is not None:
        settings = request.app[CORE].settings
        own = {f"{request.scheme}://{request.host}", settings.public_url, *settings.allowed_origins}
        if origin.rstrip("/") not in own:
            raise Forbidden(f"cross-origin request from {origin[:100]} refused", reason="origin")
    return await handler(request)
