"""Serving recordings: one response for every media file (the composite download, a review
track), with HTTP Range for players, and the viewer a media URL is bound to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from server.domain.access import Principal
from server.domain.errors import Unauthenticated

from .requests import JOIN_COOKIE, STAFF_COOKIE, join_session, staff_session


def media_file(path: Path, *, content_type: str, filename: str) -> web.FileResponse:
    """A recording for a player. aiohttp's FileResponse answers `Range` (206 with
    Content-Range, 416 for a range past the end or one it cannot parse), `If-Range` and HEAD,
    so that seeking works; nothing is cached on the way, as every viewing is logged."""
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type,
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="{filename}"',
        },
    )


@dataclass(frozen=True)
class SignedIn:
    """Who a request is from, the CSRF token of their browser session, and the value of the
    cookie that signed them in: the sign-in a media URL is bound to."""

    principal: Principal
    csrf: str
    sign_in: str
    staff: bool


async def signed_in(request: web.Request) -> SignedIn | None:
    """A signed-in staff member, else a join link's holder (as `require_person`: staff first, a
    party's link after its session too), or None."""
    found = await staff_session(request)
    if found is not None:
        return SignedIn(found[0], found[1], request.cookies[STAFF_COOKIE], staff=True)
    found = await join_session(request, documents=True)
    if found is not None:
        return SignedIn(found[0], found[1], request.cookies[JOIN_COOKIE], staff=False)
    return None


async def require_viewer(request: web.Request) -> tuple[Principal, str]:
    """`signed_in`'s principal and sign-in, or 401. GET only: no CSRF token is checked."""
    who = await signed_in(request)
    if who is None:
        raise Unauthenticated("sign in, or open your invitation link first")
    return who.principal, who.sign_in
