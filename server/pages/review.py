"""The review page of a recorded session (issue 12): every recorded track played together on
one timeline, with the chat, the minutes and the session's events beside it. The page is
drawn by web/static/js/review/; what it plays and shows comes from server/api/review.py."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from server.http.keys import CORE
from server.http.media import signed_in
from server.i18n import N_
from server.services import review
from server.services.review import Viewer

from .render import JS_CATALOGS, language, render, script_json

# The domain's refusals (server/domain/review.py) as the error page tells them, translated.
REFUSALS = (
    N_("only the case's mediators, its reviewers and admins may watch its recordings"),
    N_("your role may not watch this session's recording"),
    N_("this mediation organisation does not let the parties watch recordings"),
)


async def review_page(request: web.Request) -> web.StreamResponse:
    """The page itself; who may see it is the API's rule (server/domain/review.py), checked here
    too so that a refusal is an error page, not an empty player. Staff who are not signed in go
    to the sign-in page; a party reaches it with their join link's cookie."""
    who = await signed_in(request)
    if who is None:
        raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
    viewer = Viewer(who.principal, who.sign_in)
    page = await review.may_review(request.app[CORE], viewer, request.match_info["session_id"])
    response = render(
        request,
        "review.html",
        {
            "page": page,
            "i18n_json": script_json(request.app[JS_CATALOGS].for_language(language(request))),
        },
        principal=who.principal if who.staff else None,
        csrf_token=who.csrf,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def add_routes(app: web.Application) -> None:
    """The review pages' routes."""
    app.router.add_get("/s/{session_id}/review", review_page)
