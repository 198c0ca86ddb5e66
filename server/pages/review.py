"""The review page of a recorded session (issue 12): every recorded track played together on
one timeline, with the chat, the minutes and the session's events beside it. The page is
drawn by web/static/js/review/; what it plays and shows comes from server/api/review.py."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """The review pages' routes (none yet: they come with the review page)."""
