"""Typed application keys: every long-lived object the app holds, declared in one place."""

from __future__ import annotations

import jinja2
from aiohttp import web
from babel.support import NullTranslations

from server.services.core import Core

CORE = web.AppKey("core", Core)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
CATALOGS = web.AppKey("catalogs", dict[str, NullTranslations])
