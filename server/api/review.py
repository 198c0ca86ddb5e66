"""Reviewing a recorded session (issue 12): what the review page plays and shows beside the
media, and the media itself through short-lived URLs bound to the viewer's sign-in.
docs/review.md describes the routes."""

from __future__ import annotations

from aiohttp import web

from server.domain.errors import Unauthenticated
from server.http.keys import CORE
from server.http.media import media_file, require_viewer
from server.http.requests import json_response
from server.services import review
from server.services.review import Viewer

from .table import V1, Route


async def _viewer(request: web.Request) -> Viewer:
    principal, sign_in = await require_viewer(request)
    return Viewer(principal, sign_in)


def _private(response: web.Response) -> web.Response:
    # The URLs inside are this browser's alone: never stored on the way.
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def review_session(request: web.Request) -> web.StreamResponse:
    """Everything the review page needs; logged as `recording.reviewed`."""
    viewer = await _viewer(request)
    out = await review.review(request.app[CORE], viewer, request.match_info["session_id"])
    return _private(json_response(out))


async def review_media_urls(request: web.Request) -> web.StreamResponse:
    """Fresh media URLs for a page that plays for longer than they last."""
    viewer = await _viewer(request)
    out = await review.media_urls(request.app[CORE], viewer, request.match_info["session_id"])
    return _private(json_response(out))


async def review_media(request: web.Request) -> web.StreamResponse:
    """One track's file, with Range; every view logged as `recording.accessed`."""
    try:
        viewer = await _viewer(request)
    except Unauthenticated:
        review.anonymous_media_request(request.app[CORE], request.match_info["token"])
        raise
    found = await review.media(request.app[CORE], viewer, request.match_info["token"], request.headers.get("Range"))
    return media_file(found.path, content_type=found.content_type, filename=found.filename)


ROUTES: list[Route] = [
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/review",
        review_session,
        "Review a recorded session: its tracks with media URLs for this browser, spans and gaps on the wall "
        "clock, the chat, the minutes entries and the session's events (logged as recording.reviewed)",
        auth="person",
    ),
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/review/urls",
        review_media_urls,
        "Fresh media URLs for the session's tracks (each lasts 10 minutes)",
        auth="person",
    ),
    Route(
        "GET",
        f"{V1}/media/{{token}}",
        review_media,
        "One recorded track as a WebM file, with Range, through a URL signed for this sign-in only "
        "(logged as recording.accessed)",
        auth="person",
        produces="video/webm",
    ),
]
