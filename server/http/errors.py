"""Every error leaves the server in one of two shapes, decided here and nowhere else.

JSON (under /api and for clients that ask for JSON): {"error": {"code", "message", "fields"?}}.
HTML (pages): the error page, in the reader's language.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http import HttpProcessingError  # BadHttpMessage, InvalidHeader, LineTooLong, …
from pydantic import ValidationError

from server.domain import inputs
from server.domain.errors import DomainError, RateLimited

log = logging.getLogger("heshi.http")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


class HttpError(DomainError):
    """An error about the request itself (body, content type), not about the domain."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None):
        super().__init__(message, fields=fields)
        self.http_status = status
        self.code = code


def wants_json(request: web.Request) -> bool:
    return (
        request.path.startswith("/api/")
        or request.path == "/healthz"
        or "application/json" in request.headers.get("Accept", "")
    )


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if fields:
        err["fields"] = fields
    return {"error": err}


def classify(exc: BaseException) -> tuple[int, str, str, dict[str, str] | None, dict[str, str]]:
    """Map any exception to (status, code, message, fields, extra headers)."""
    if isinstance(exc, ValidationError):
        exc = inputs.invalid(exc, "body")
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
        return exc.http_status, exc.code, exc.message, exc.fields, headers
    if isinstance(exc, (HttpProcessingError, web.RequestPayloadError)):
        # aiohttp could not parse the body: a part's headers in a multipart body, or a
        # Content-Encoding the body does not match. The client's fault, whichever handler read it.
        return 400, "bad_request", "the request body could not be read", None, {}
    if isinstance(exc, web.HTTPException):
        status = exc.status
        # 405 must say which methods the resource has (RFC 9110 §15.5.6).
        keep = {k: v for k, v in exc.headers.items() if k == "Allow"}
        return status, HTTP_CODES.get(status, "http_error"), exc.reason, None, keep
    log.exception("unhandled error", exc_info=exc)
    return 500, "internal_error", "the server hit an unexpected error; it has been logged", None, {}
