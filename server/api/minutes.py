"""The minutes (调解笔录) of a session: read, save by revision, revisions, PDF.

Reads and saves take a staff sign-in or a join link (a clerk or expert invited by link, a
party reading on their phone); `server.services.minutes` decides what each may do.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.domain import inputs
from server.domain import minutes as rules
from server.domain.clock import wire_time
from server.http.errors import HttpError
from server.http.keys import CORE
from server.http.requests import json_response, parse_query, read_json, require_person
from server.services import minutes
from server.services.minutes import Editor, MinutesConflict, MinutesView

from .table import V1, Route

SAVE_ID_HEADER = "Idempotency-Key"
_SAVE_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_ETAG_RE = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


class MinutesPut(BaseModel):
    """The body of PUT …/minutes: what GET returns, with `document` changed. The read-only
    fields (session_id, revision, sha256, saved_by, saved_at, document.header) are ignored;
    the revision the save is made on goes in `If-Match`."""

    model_config = ConfigDict(extra="forbid")
    document: rules.MinutesIn
    session_id: Any = None
    revision: Any = None
    sha256: Any = None
    saved_by: Any = None
    saved_at: Any = None


class _AnyObject(BaseModel):
    model_config = ConfigDict(extra="allow")


async def _editor(request: web.Request) -> Editor:
    p = await require_person(request)
    return await minutes.editor_for(request.app[CORE], p, request.match_info["session_id"])


def _with_etag(view: MinutesView, status: int = 200) -> web.StreamResponse:
    response = json_response(view.public(), status=status)
    response.etag = str(view.revision)  # "<revision>", quoted as RFC 9110 has it
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def get_minutes(request: web.Request) -> web.StreamResponse:
    ed = await _editor(request)
    return _with_etag(await minutes.current(request.app[CORE], ed))


def _base_revision(request: web.Request) -> int:
    raw = request.headers.get("If-Match")
    if raw is None:
        raise HttpError(
            428,
            "precondition_required",
            "send If-Match with the revision this save is made on (the ETag of GET …/minutes)",
        )
    m = _ETAG_RE.match(raw)
    if m is None:
        raise HttpError(400, "bad_request", 'If-Match must be one revision number, e.g. "3"')
    return int(m.group(1))


def _save_id(request: web.Request) -> str:
    given = request.headers.get(SAVE_ID_HEADER)
    if given is None:
        return f"rest-{uuid.uuid4().hex}"  # no key: every request is a new save
    if not _SAVE_ID_RE.match(given):
        raise HttpError(400, "bad_request", f"{SAVE_ID_HEADER} must be 1–64 of A–Z a–z 0–9 _ . : -")
    return given


async def put_minutes(request: web.Request) -> web.StreamResponse:
    ed = await _editor(request)
    base = _base_revision(request)
    save_id = _save_id(request)
    raw = await read_json(request, _AnyObject)
    data = raw.model_dump()
    # The shape GET returns ({…, document}); a bare document is taken too.
    body = inputs.parse(MinutesPut, data if "document" in data else {"document": data}, "body")
    try:
        saved = await minutes.save(request.app[CORE], ed, base_revision=base, save_id=save_id, body=body.document)
    except MinutesConflict as exc:
        response = json_response({"error": exc.body()}, status=409)
        response.etag = str(exc.current.revision)
        return response
    out = _with_etag(saved.minutes)
    return out


async def list_revisions(request: web.Request) -> web.StreamResponse:
    ed = await _editor(request)
    rows, people = await minutes.revisions(request.app[CORE], ed)
    return json_response(
        {
            "session_id": ed.session_id,
            "revisions": [
                {
                    "revision": r.revision,
                    "base_revision": r.base_revision,
                    "sha256": r.sha256,
                    "actor": r.actor,
                    "actor_name": people.get(r.actor),
                    "at": wire_time(r.at),
                }
                for r in rows
            ],
        }
    )


class _RevisionPath(BaseModel):
    revision: int = Field(ge=0, le=10**9)


async def get_revision(request: web.Request) -> web.StreamResponse:
    ed = await _editor(request)
    number = inputs.parse(_RevisionPath, {"revision": request.match_info["revision"]}, "path").revision
    return _with_etag(await minutes.revision(request.app[CORE], ed, number))


class _PdfQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: int | None = Field(default=None, ge=0, le=10**9, description="a revision; default the current one")


async def minutes_pdf(request: web.Request) -> web.StreamResponse:
    ed = await _editor(request)
    q = parse_query(request, _PdfQuery)
    view, data = await minutes.minutes_pdf(request.app[CORE], ed, q.revision)
    return web.Response(
        body=data,
        content_type="application/pdf",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="minutes-{ed.session_id}-r{view.revision}.pdf"',
            "ETag": f'"{view.revision}"',
        },
    )


ROUTES: list[Route] = [
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/minutes",
        get_minutes,
        "The session's current minutes (调解笔录); the ETag header holds the revision",
        auth="person",
    ),
    Route(
        "PUT",
        f"{V1}/sessions/{{session_id}}/minutes",
        put_minutes,
        "Save the minutes as a new revision: needs If-Match: <revision> (428 without, 409 when stale); "
        "an Idempotency-Key header makes a resend return the first result",
        body=MinutesPut,
        auth="person",
    ),
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/minutes/revisions",
        list_revisions,
        "Every revision of the minutes: number, SHA-256, who saved it and when",
        auth="person",
    ),
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/minutes/revisions/{{revision}}",
        get_revision,
        "One revision of the minutes as it was saved",
        auth="person",
    ),
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/minutes.pdf",
        minutes_pdf,
        "The current minutes, or ?revision=n as saved, as a PDF (Chinese, selectable text)",
        auth="person",
        query=_PdfQuery,
        produces="application/pdf",
    ),
]
