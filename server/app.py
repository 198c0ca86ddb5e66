"""The aiohttp application: route table, middlewares, and resource lifetimes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import jinja2
from aiohttp import web

from server import __version__
from server.api import openapi
from server.api.exports import EXPORTS
from server.api.routes import add_routes as add_api_routes
from server.config import REPO_ROOT, Settings
from server.domain.clock import Clock
from server.http import middleware
from server.http.keys import CATALOGS, CORE, ERROR_PAGE, TEMPLATES
from server.http.requests import json_response
from server.i18n import load_catalogs
from server.pages import review as review_pages
from server.pages import views as pages
from server.pages.render import render_error
from server.services.checkpoints import Checkpoints
from server.services.confirmations import Deliveries
from server.services.core import Core
from server.services.exports import Exports
from server.services.retention import Retention
from signaling.server import attach_signaling

log = logging.getLogger("heshi")

# This node's loop that sends judicial-confirmation packages to the courts (tests reach it here).
DELIVERIES = web.AppKey("deliveries", Deliveries)
# This node's loop that signs checkpoints of every case log's head; EXPORTS (server/api/exports.py,
# whose route wakes it) is its evidence-export builder.
CHECKPOINTS = web.AppKey("checkpoints", Checkpoints)
# This node's retention job: it deletes recording files their org no longer keeps (never of a held case).
RETENTION = web.AppKey("retention", Retention)


async def healthz(request: web.Request) -> web.StreamResponse:
    try:
        await request.app[CORE].db.ping()
    except Exception:
        log.exception("health check: database unreachable")
        return json_response({"status": "error", "database": "unreachable", "version": __version__}, status=503)
    return json_response({"status": "ok", "database": "ok", "version": __version__})


def make_templates(settings: Settings) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.web_dir / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["ext.i18n.trimmed"] = True
    return env


def create_app(settings: Settings, *, clock: Clock | None = None, core: Core | None = None) -> web.Application:
    """Build the app. The Core (database, clock, keys) is created here unless a test passes one."""
    # Outermost first: the security headers go on every response, error pages and redirects included.
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[middleware.security_headers, middleware.errors, middleware.same_origin],
    )
    app[CORE] = core or Core.build(settings, clock=clock)
    app[TEMPLATES] = make_templates(app[CORE].settings)
    app[CATALOGS] = load_catalogs(app[CORE].settings.web_dir / "locale")
    app[ERROR_PAGE] = render_error

    app[DELIVERIES] = Deliveries(app[CORE])
    every = timedelta(minutes=app[CORE].settings.checkpoint_interval_minutes)
    app[CHECKPOINTS] = Checkpoints(app[CORE], interval=every)
    app[EXPORTS] = Exports(app[CORE])
    app[RETENTION] = Retention(app[CORE])

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        await app[DELIVERIES].start()
        await app[CHECKPOINTS].start()
        await app[EXPORTS].start()
        await app[RETENTION].start()
        yield
        await app[RETENTION].stop()
        await app[EXPORTS].stop()
        await app[CHECKPOINTS].stop()
        await app[DELIVERIES].stop()
        await app[CORE].close()

    app.cleanup_ctx.append(lifetime)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/openapi.json", openapi.openapi)
    add_api_routes(app)
    pages.add_routes(app)
    review_pages.add_routes(app)
    attach_signaling(app, app[CORE])
    add_vendor_routes(app)
    app.router.add_static("/static", app[CORE].settings.web_dir / "static", append_version=True)
    return app


# Third-party browser modules, installed by `npm ci` from package-lock.json (see Makefile).
VENDOR = {"/static/vendor/socket.io": REPO_ROOT / "node_modules" / "socket.io-client" / "dist"}


def add_vendor_routes(app: web.Application) -> None:
    for prefix, path in VENDOR.items():
        if path.is_dir():
            app.router.add_static(prefix, path)
        else:
            log.warning("%s is missing: run `npm ci` (make run does); live sessions need it", path)
