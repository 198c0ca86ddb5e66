"""Middlewares: one place where errors become responses, and security headers."""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from .errors import classify, error_body, wants_json
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
    except Exception as exc:  # noqa: BLE001 — every error is rendered; unknown ones are logged in classify()
        status, code, message, fields, headers = classify(exc)
    if wants_json(request):
        response = json_response(error_body(code, message, fields), status=status)
    else:
        from server.pages.render import render_error

        response = render_error(request, status, code, message)
    response.headers.update(headers)
    return response


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # Camera and microphone are the product; everything else is off.
    response.headers.setdefault("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
    if response.content_type == "text/html":
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
    return response


UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def same_origin(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse unsafe cross-origin requests, on top of CSRF tokens (defence in depth)."""
    origin = request.headers.get("Origin")
    if request.method in UNSAFE and origin and origin != "null":
        from .keys import CORE
        from server.domain.errors import Forbidden

        settings = request.app[CORE].settings
        own = {f"{request.scheme}://{request.host}", settings.public_url, *settings.allowed_origins}
        if origin.rstrip("/") not in own:
            raise Forbidden(f"cross-origin request from {origin} refused", reason="origin")
    return await handler(request)
