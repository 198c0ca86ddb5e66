"""Typed application keys: every long-lived object the app holds, declared in one place."""

from __future__ import annotations

from collections.abc import Callable

import jinja2
from aiohttp import web
from babel.support import NullTranslations

from server.services.core import Core

CORE = web.AppKey("core", Core)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
CATALOGS = web.AppKey("catalogs", dict[str, NullTranslations])
# The error page for a browser (server.pages.render.render_error): the app sets it, so that the
# HTTP layer turns errors into pages without depending on the pages above it.
ErrorPage = Callable[[web.Request, int, str, str], web.Response]
ERROR_PAGE: web.AppKey[ErrorPage] = web.AppKey("error_page")
