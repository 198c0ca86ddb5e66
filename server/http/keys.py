"""Typed application keys: every long-lived object the app holds, declared in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jinja2
from aiohttp import web
from babel.support import NullTranslations

from server.domain.actors import Actor
from server.services.core import Core

CORE = web.AppKey("core", Core)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
CATALOGS = web.AppKey("catalogs", dict[str, NullTranslations])
# The error page for a browser (server.pages.render.render_error): the app sets it, so that the
# HTTP layer turns errors into pages without depending on the pages above it.
ErrorPage = Callable[[web.Request, int, str, str], web.Response]
ERROR_PAGE: web.AppKey[ErrorPage] = web.AppKey("error_page")


class LiveRecording(Protocol):
    """What the REST API asks of the live rooms: signaling.server.SignalingServer, set by the app,
    so that the API does not depend on the signaling edge beside it."""

    async def start_recording(
        self, request: web.Request, session_id: str, case_id: str, actor: Actor
    ) -> dict[str, Any]:
        """Ask everyone present for consent and start the recorder, as the mediator would."""
        ...

    async def stop_recording(self, session_id: str, actor: Actor, reason: str) -> dict[str, Any]: ...

    def make_download(self, case_id: str, session_id: str, actor: Actor) -> bool:
        """Start (re)making the session's download; False while one is being made."""
        ...


LIVE: web.AppKey[LiveRecording] = web.AppKey("live")
