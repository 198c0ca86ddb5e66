"""Rendering pages in the reader's language, and the error page."""

from __future__ import annotations

import gettext
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from markupsafe import Markup

from server.domain.cases import CaseSource, CaseStatus, DisputeType, PartySide
from server.domain.errors import DomainError
from server.domain.grants import SessionRole
from server.domain.sessions import SessionStatus
from server.http.keys import CATALOGS, CORE, TEMPLATES
from server.http.requests import _PRINCIPAL as CACHED_STAFF  # set by staff_session(); read-only here
from server.i18n import ERROR_TITLES, FIELD_ERRORS, LABELS, LANGUAGE_NAMES, N_, JsCatalogs, pick_language

LANG_COOKIE = "heshi_lang"
# The browser code's share of the catalogs (server/i18n.py), held by the app like CATALOGS.
JS_CATALOGS = web.AppKey("js_catalogs", JsCatalogs)
CHINA = ZoneInfo("Asia/Shanghai")
# Enums the templates label with label_of(Enum, value).
ENUMS = {e.__name__: e for e in (CaseSource, CaseStatus, DisputeType, PartySide, SessionRole, SessionStatus)}


# Form fields of one party row are named party<i>_<field>; errors about them name the row.
_ROW_FIELD = re.compile(r"party(\d+)_(\w+)")


def describe_error(tr: gettext.NullTranslations, error: DomainError) -> str:
    """A user error in the reader's language: by its field and code, else by its message, else as sent."""
    for name, code in (error.fields or {}).items():
        row = _ROW_FIELD.fullmatch(name)
        text = FIELD_ERRORS.get((row.group(2) if row else name, code))
        if text is None:
            continue
        if row:
            return tr.gettext(N_("Party %(number)d: %(problem)s")) % {
                "number": int(row.group(1)) + 1,
                "problem": tr.gettext(text),
            }
        return tr.gettext(text)
    translated = tr.gettext(error.message)
    if translated != error.message or error.code not in ERROR_TITLES:
        return translated
    return f"{tr.gettext(ERROR_TITLES[error.code])}: {error.message}"


def script_json(data: Any) -> Markup:
    """JSON to put inside <script type="application/json">: no character in it can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def language(request: web.Request) -> str:
    return pick_language(
        request.cookies.get(LANG_COOKIE), request.query.get("lang"), request.app[CORE].settings.language
    )


def _gettext_callables(tr: gettext.NullTranslations) -> dict[str, Callable[..., str]]:
    """New-style gettext for Jinja: translate, mark safe only what autoescape made safe, then format."""

    @jinja2.pass_context
    def gettext(ctx: jinja2.runtime.Context, message: str, **variables: Any) -> str:
        rv: str = tr.gettext(message)
        if ctx.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables if variables else rv

    @jinja2.pass_context
    def ngettext(ctx: jinja2.runtime.Context, singular: str, plural: str, n: int, **variables: Any) -> str:
        variables.setdefault("num", n)
        rv: str = tr.ngettext(singular, plural, n)
        if ctx.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables

    return {"gettext": gettext, "ngettext": ngettext, "_": gettext}


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    principal: Any = None,
    csrf_token: str | None = None,
) -> web.Response:
    lang = language(request)
    tr = request.app[CATALOGS].get(lang) or request.app[CATALOGS]["en"]

    def label_of(enum_cls: type, value: str) -> str:
        try:
            return tr.gettext(LABELS[enum_cls(value)])
        except (ValueError, KeyError):
            return value

    def localtime(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone(CHINA).strftime(fmt) if value else ""

    error = (context or {}).get("error")

    def invalid(name: str) -> Markup:
        """aria-invalid on the form field the error is about."""
        if isinstance(error, DomainError) and error.fields and name in error.fields:
            return Markup(' aria-invalid="true"')
        return Markup("")

    ctx = {
        "lang": lang,
        "languages": LANGUAGE_NAMES,
        "principal": principal,
        "csrf_token": csrf_token,
        "label_of": label_of,
        "localtime": localtime,
        "request_path": request.path_qs,
        "error_titles": ERROR_TITLES,
        "describe_error": lambda e: describe_error(tr, e),
        "invalid": invalid,
        # Translate a string held in a variable. Unlike _() the result is escaped like any text.
        "translate": lambda text: str(tr.gettext(text)),
        **ENUMS,
        **_gettext_callables(tr),
        **(context or {}),
    }
    html = request.app[TEMPLATES].get_template(template).render(ctx)
    response = web.Response(text=html, content_type="text/html", status=status)
    response.headers["Content-Language"] = "zh-CN" if lang == "zh" else "en"
    return response


def render_error(request: web.Request, status: int, code: str, message: str) -> web.Response:
    """The error page. A signed-in staff member keeps the navigation (and a way to sign out)."""
    principal, csrf = request.get(CACHED_STAFF) or (None, None)
    return render(
        request,
        "error.html",
        {"status": status, "code": code, "message": message},
        status=status,
        principal=principal,
        csrf_token=csrf,
    )
