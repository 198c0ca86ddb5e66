"""Page handlers. Like the API handlers they are thin: read the form, call a service, render."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast
from urllib.parse import quote

from aiohttp import web
from aiohttp.http import HttpProcessingError
from aiohttp.web import FileField
from multidict import MultiDictProxy

from server.api.views import case_summary, case_view, invitation_view, session_view
from server.domain.access import Principal
from server.domain.accounts import StaffRole
from server.domain.cases import CaseSource, CaseStatus, DisputeType, PartyInput, PartySide
from server.domain.clock import wire_time
from server.domain.errors import DomainError, Forbidden, InvalidToken, NotFound, ValidationFailed
from server.domain.grants import (
    CASE_STATES_WITH_DOCUMENTS,
    ROLE_GRANTS,
    Grant,
    SessionRole,
    case_panel_for,
    has_grant,
    link_outlives_session,
)
from server.domain.inputs import nul_location
from server.domain.sessions import SessionStatus
from server.http.errors import HttpError
from server.http.keys import CATALOGS, CORE
from server.http.requests import (
    JOIN_COOKIE,
    STAFF_COOKIE,
    check_csrf,
    client_address,
    join_session,
    json_response,
    set_staff_cookie,
    staff_session,
)
from server.i18n import INVALID_TOKEN_REASONS, LANGUAGES, N_, JsCatalogs
from server.services import accounts, casefile, cases, invitations, notices, sessions, signin

from .render import CHINA, JS_CATALOGS, LANG_COOKIE, language, render, script_json

LOGIN_CSRF_COOKIE = "heshi_login_csrf"
JOIN_CSRF_COOKIE = "heshi_join_csrf"
_CSRF_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24)
PARTY_ROWS = 4
# The invitation form's "how they enter": the role's default (experts and mediators directly,
# everyone else through the lobby), or either way explicitly.
ENTRY_CHOICES: dict[str, bool | None] = {"default": None, "direct": True, "lobby": False}


# A local path: one slash, then no slash or backslash; no whitespace or control characters
# anywhere (browsers drop tabs and newlines, so "/\t/evil.example" would become "//evil.example").
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\\\s\x00-\x1f\x7f]*")


def safe_next(value: str | None, default: str = "/cases") -> str:
    """Only local paths: a `next` parameter must never send someone to another site."""
    if value and len(value) <= 2000 and _LOCAL_PATH.fullmatch(value):
        return value
    return default


async def page_staff(request: web.Request) -> tuple[Principal, str]:
    """The signed-in staff member; others go to the sign-in page, invitation holders get 403."""
    found = await staff_session(request)
    if found is None:
        if await join_session(request) is not None:
            raise Forbidden(N_("An invitation link gives access to its own session only."))
        raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
    return found


# What request.post() raises for a body it cannot read (aiohttp 3.14, web_request.py and
# multipart.py). A body over the size limit raises HTTPRequestEntityTooLarge instead: a 413.
UNREADABLE_FORM = (
    ValueError,  # no or a bad boundary, a truncated body, a part without a name, a nested multipart, bad bytes
    LookupError,  # an unknown charset
    RuntimeError,  # an unknown Content-Transfer-Encoding of a part
    HttpProcessingError,  # a part's headers: not a header, too long, too many
    web.RequestPayloadError,  # a Content-Encoding the body does not match
)
# "%" not followed by two hex digits. Browsers never send one; parsers guess what it meant.
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _unreadable() -> HttpError:
    return HttpError(400, "bad_request", N_("The form could not be read. Reload the page and try again."))


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """The posted form, text fields only. A body that cannot be read is a 400 page; NUL
    characters are refused: PostgreSQL cannot store them and SQLite would."""
    try:
        if request.content_type in ("", "application/x-www-form-urlencoded") and _BAD_ESCAPE.search(
            await request.read()
        ):
            raise _unreadable()
        form = await request.post()
    except UNREADABLE_FORM:
        raise _unreadable() from None
    if any(not isinstance(value, str) for value in form.values()):
        # A file, or a part that is not text: no page form has one.
        for value in form.values():
            if isinstance(value, FileField):
                value.file.close()
        raise _unreadable()
    for name, value in form.items():  # text only: files were refused above
        where = nul_location({name: value}, "form")  # the rule every door applies
        if where is not None:
            raise ValidationFailed(N_("Text must not contain NUL characters."), fields={where: "nul"})
    return cast("MultiDictProxy[str]", form)


async def form_staff(request: web.Request) -> tuple[Principal, MultiDictProxy[str]]:
    """A signed-in staff member posting a form with a valid CSRF token."""
    principal, csrf = await page_staff(request)
    form = await read_form(request)
    check_csrf(request, csrf, str(form.get("csrf_token", "")))
    return principal, form


# ---- sign-in --------------------------------------------------------------------------------


async def index(request: web.Request) -> web.StreamResponse:
    """Staff go to their cases, an invitation holder back to their session, anyone else to sign in."""
    if await staff_session(request):
        raise web.HTTPFound("/cases")
    joined = await join_session(request, documents=True)  # the session page sends an ended one's signer on
    raise web.HTTPFound(f"/s/{joined[0].session_id}" if joined else "/login")


def _csrf_cookie(request: web.Request, name: str) -> str:
    """The token of a double-submit cookie: the one the browser holds, else a new one.

    Kept while the browser holds it, so a form open in another tab stays valid; a value we
    would not have made is replaced."""
    held = request.cookies.get(name, "")
    return held if _CSRF_TOKEN.fullmatch(held) else secrets.token_urlsafe(24)


def _login_page(
    request: web.Request, *, error: str | None = None, status: int = 200, username: str = ""
) -> web.Response:
    token = _csrf_cookie(request, LOGIN_CSRF_COOKIE)
    response = render(
        request,
        "login.html",
        {"error": error, "username": username, "login_csrf": token, "next": safe_next(request.query.get("next"))},
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        path="/login",
        secure=request.app[CORE].settings.cookie_secure,
    )
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    return _login_page(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await read_form(request)
    username = str(form.get("username", ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected:
        return _login_page(request, error="session_expired", status=403, username=username)
    check_csrf(request, expected, str(form.get("csrf_token", "")))
    try:
        session = await signin.login(
            request.app[CORE], username, str(form.get("password", "")), client_address(request)
        )
    except DomainError as exc:
        response = _login_page(request, error=exc.code, status=exc.http_status, username=username)
        if exc.code == "rate_limited":
            response.headers["Retry-After"] = str(exc.details.get("retry_after", 60))
        return response
    response = web.HTTPFound(safe_next(str(form.get("next", "")) or request.query.get("next")))
    set_staff_cookie(request, response, session)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    await form_staff(request)
    await signin.logout(request.app[CORE], request.cookies.get(STAFF_COOKIE))
    response = web.HTTPFound("/login")
    response.del_cookie(STAFF_COOKIE, path="/")
    raise response


async def set_language(request: web.Request) -> web.StreamResponse:
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise NotFound(f"unknown language '{lang[:20]}'")
    response = web.HTTPFound(safe_next(request.query.get("next"), "/"))
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="Lax")
    raise response


# ---- cases ----------------------------------------------------------------------------------


async def case_list(request: web.Request) -> web.StreamResponse:
    principal, csrf = await page_staff(request)
    q = request.query
    try:
        filters = cases.CaseFilters(
            status=CaseStatus(q["status"]) if q.get("status") else None,
            dispute_type=DisputeType(q["dispute_type"]) if q.get("dispute_type") else None,
            q=q.get("q", "")[:100] or None,
            offset=max(0, min(int(q.get("offset", "0") or 0), 1_000_000)),
            limit=50,
        )
    except ValueError:
        raise ValidationFailed("unknown filter value") from None
    rows, total = await cases.list_cases(request.app[CORE], principal, filters)
    return render(
        request,
        "cases.html",
        {
            "cases": [case_summary(c) for c in rows],
            "total": total,
            "filters": filters,
            "statuses": list(CaseStatus),
            "dispute_types": list(DisputeType),
            "can_create": principal.staff_role in (StaffRole.admin, StaffRole.mediator),
        },
        principal=principal,
        csrf_token=csrf,
    )


async def _new_case_page(
    request: web.Request, principal: Principal, csrf: str, *, form: Any = None, error: DomainError | None = None
) -> web.Response:
    mediators = await accounts.list_accounts(request.app[CORE], principal, role=StaffRole.mediator)
    return render(
        request,
        "case_new.html",
        {
            "form": form or {},
            "error": error,
            "dispute_types": list(DisputeType),
            "sources": list(CaseSource),
            "sides": list(PartySide),
            "party_rows": PARTY_ROWS,
            "mediators": mediators,
        },
        principal=principal,
        csrf_token=csrf,
        status=error.http_status if error else 200,
    )


async def case_new(request: web.Request) -> web.StreamResponse:
    principal, csrf = await page_staff(request)
    return await _new_case_page(request, principal, csrf)


def parties_from_form(form: MultiDictProxy[str]) -> list[PartyInput]:
    parties = []
    for i in range(PARTY_ROWS):
        name = str(form.get(f"party{i}_name", "")).strip()
        if not name:
            continue
        side = str(form.get(f"party{i}_side", ""))
        if side not in PartySide.__members__:
            raise ValidationFailed(
                "choose applicant or respondent for every party", fields={f"party{i}_side": "invalid"}, row=i
            )
        try:
            parties.append(
                PartyInput(
                    side=PartySide(side),
                    name=name[:100],
                    phone=str(form.get(f"party{i}_phone", ""))[:32] or None,
                    id_number=str(form.get(f"party{i}_id_number", ""))[:18] or None,
                    agent_name=str(form.get(f"party{i}_agent_name", ""))[:100] or None,
                )
            )
        except ValidationFailed as exc:
            # Name the form row, so the page can say which party and mark the field.
            raise ValidationFailed(
                exc.message, fields={f"party{i}_{k}": v for k, v in (exc.fields or {}).items()}, row=i
            ) from None
    return parties


async def case_create(request: web.Request) -> web.StreamResponse:
    principal, form = await form_staff(request)
    _, csrf = await page_staff(request)
    try:
        dispute = str(form.get("dispute_type", ""))
        source = str(form.get("source", ""))
        if dispute not in DisputeType.__members__:
            raise ValidationFailed("choose a dispute type", fields={"dispute_type": "required"})
        if source not in CaseSource.__members__:
            raise ValidationFailed("choose where the case came from", fields={"source": "required"})
        case = await cases.create_case(
            request.app[CORE],
            principal,
            title=str(form.get("title", ""))[:200],
            summary=str(form.get("summary", ""))[:10_000],
            dispute_type=DisputeType(dispute),
            source=CaseSource(source),
            parties=parties_from_form(form),
            mediator_id=str(form.get("mediator_id", "")) or None,
        )
    except DomainError as exc:
        return await _new_case_page(request, principal, csrf, form=form, error=exc)
    raise web.HTTPFound(f"/cases/{case.id}")


async def _case_page(
    request: web.Request, principal: Principal, csrf: str, case_id: str, error: DomainError | None = None
) -> web.Response:
    core = request.app[CORE]
    file = await casefile.case_file(core, principal, case_id)
    now = core.clock.now()
    by_session: dict[str, list[dict[str, Any]]] = {}
    for session_id, listed in file.invitations.items():
        by_session[session_id] = []
        for item in listed:
            view = invitation_view(item.invitation, link=item.link, now=now)
            if item.link is None:
                view["qr_url"] = None
            by_session[session_id].append(view)
    return render(
        request,
        "case_detail.html",
        {
            "case": case_view(file.access.case, can_manage=file.access.can_manage),
            "sessions": [session_view(s.session) for s in file.sessions],
            "invitations": by_session,
            "recordings": {sid: casefile.recording_view(rec) if rec else None for sid, rec in file.recordings.items()},
            "error": error,
            "roles": list(SessionRole),
            "party_roles": [r for r in SessionRole if link_outlives_session(r)],
            "case_has_documents": file.access.case.status in CASE_STATES_WITH_DOCUMENTS,
            "accounts": file.invitable,
            "now_local": now.astimezone(CHINA),
            "i18n_json": script_json(request.app[JS_CATALOGS].for_language(language(request))),
        },
        principal=principal,
        csrf_token=csrf,
        status=error.http_status if error else 200,
    )


async def case_detail(request: web.Request) -> web.StreamResponse:
    principal, csrf = await page_staff(request)
    return await _case_page(request, principal, csrf, request.match_info["case_id"])


async def _form_action(
    request: web.Request, case_id: str | Callable[[Principal], Awaitable[str]], action: Any
) -> web.StreamResponse:
    """Run a case-page form action; on a user error show the case page again with the message.

    Who is asking is settled first: `case_id` may be a lookup that runs only after that, so
    nobody learns from the answer whether a session exists without signing in."""
    principal, form = await form_staff(request)
    _, csrf = await page_staff(request)
    if not isinstance(case_id, str):
        case_id = await case_id(principal)
    try:
        await action(principal, form)
    except (ValidationFailed, DomainError) as exc:
        if exc.http_status == 404:
            raise
        return await _case_page(request, principal, csrf, case_id, error=exc)
    raise web.HTTPFound(f"/cases/{case_id}")


async def case_transition(request: web.Request) -> web.StreamResponse:
    case_id = request.match_info["case_id"]

    async def act(p: Principal, form: MultiDictProxy[str]) -> None:
        target = str(form.get("to", ""))
        if target not in CaseStatus.__members__:
            raise ValidationFailed("choose the new status", fields={"to": "required"})
        await cases.transition(request.app[CORE], p, case_id, CaseStatus(target), str(form.get("note", ""))[:2000])

    return await _form_action(request, case_id, act)


async def session_schedule(request: web.Request) -> web.StreamResponse:
    case_id = request.match_info["case_id"]

    async def act(p: Principal, form: MultiDictProxy[str]) -> None:
        try:
            when = datetime.fromisoformat(str(form.get("scheduled_at", "")))
            # The form's datetime-local field has no zone: it is Beijing time, as its label says.
            when = when if when.tzinfo else when.replace(tzinfo=CHINA)
        except ValueError:
            raise ValidationFailed(
                "enter the date and time of the session", fields={"scheduled_at": "invalid"}
            ) from None
        await sessions.schedule_session(
            request.app[CORE], p, case_id, scheduled_at=when, title=str(form.get("title", ""))[:200] or None
        )

    return await _form_action(request, case_id, act)


async def invitation_issue(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    session_id = request.match_info["session_id"]

    async def case_of(p: Principal) -> str:
        return (await sessions.get_session(core, p, session_id)).case_id

    async def act(p: Principal, form: MultiDictProxy[str]) -> None:
        role = str(form.get("role", ""))
        if role not in SessionRole.__members__:
            raise ValidationFailed("choose a role", fields={"role": "required"})
        entry = str(form.get("entry", "default"))
        if entry not in ENTRY_CHOICES:
            raise ValidationFailed("choose how they enter", fields={"entry": "required"})
        await invitations.issue(
            core,
            p,
            session_id,
            role=SessionRole(role),
            party_id=str(form.get("party_id", "")) or None,
            account_id=str(form.get("account_id", "")) or None,
            display_name=str(form.get("display_name", ""))[:100] or None,
            direct_entry=ENTRY_CHOICES[entry],
        )

    return await _form_action(request, case_of, act)


async def invitation_revoke(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE]
    principal, _ = await page_staff(request)
    inv = (await invitations.get(core, principal, request.match_info["invitation_id"])).invitation

    async def act(p: Principal, form: MultiDictProxy[str]) -> None:
        await invitations.revoke(core, p, inv.id, str(form.get("reason", ""))[:200] or None)

    return await _form_action(request, inv.case_id, act)


# ---- join links and the session page --------------------------------------------------------


def _refused(request: web.Request, reason: str) -> web.Response:
    """The page a join link or a join cookie that cannot be used shows: 401, and why."""
    return render(
        request,
        "join_refused.html",
        {"reason": reason, "explanation": INVALID_TOKEN_REASONS.get(reason, INVALID_TOKEN_REASONS["unknown"])},
        status=InvalidToken.http_status,
    )


def _join_page(request: web.Request, token: str, *, expired: bool = False, ended: bool = False) -> web.Response:
    """The page of a usable join link: a form that enters the room, with its CSRF token. A
    signer's link to a session that has ended opens its documents instead (`ended`).

    Its token is a double-submit cookie for /j/ only. SameSite=Lax, not Strict: the page of a
    link opened from a chat app comes from a cross-site navigation, and its own form must
    carry the cookie on a phone that has never seen the site; Lax still keeps it off any
    post from another site.
    """
    csrf = _csrf_cookie(request, JOIN_CSRF_COOKIE)
    response = render(
        request,
        "join_landing.html",
        {"action": f"/j/{quote(token, safe='')}", "csrf": csrf, "expired": expired, "ended": ended},
        status=403 if expired else 200,
    )
    response.set_cookie(
        JOIN_CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="Lax",
        path="/j/",
        secure=request.app[CORE].settings.cookie_secure,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


async def join(request: web.Request) -> web.StreamResponse:
    """A join link, opened: check it and show a page that enters the room with a POST.

    Opening the link changes nothing: chat apps fetch links to draw previews, and such a
    fetch must not sign anyone in or write "invitation opened" into the case log. A real
    browser submits the page's form by itself (web/static/js/join.js), so people on phones
    do not need an extra tap; without script, they press the button. The page names no
    case, party or dispute, since previews show what it says.

    After the session has ended, a party's link still opens the session's documents, to read
    and sign them (grants.link_outlives_session); anyone else's link is refused.
    """
    core = request.app[CORE]
    token = request.match_info["token"]
    try:
        inv = await invitations.resolve(core, token, documents=True)
    except InvalidToken as exc:
        return _refused(request, exc.reason)
    return _join_page(request, token, ended=await invitations.session_has_ended(core, inv))


async def join_open(request: web.Request) -> web.StreamResponse:
    """Sign the link's holder into its one session and role, then open the session page.

    The form must carry the token of its page's cookie: otherwise another site could sign a
    visitor into a session of its choosing. Without it, the page comes back (403) for a
    press of its button, and without its script, so that a forged post goes no further.
    """
    core = request.app[CORE]
    token = request.match_info["token"]
    form = await read_form(request)
    try:
        # An unusable link says why, form or no form.
        inv = await invitations.resolve(core, token, documents=True)
        check_csrf(request, request.cookies.get(JOIN_CSRF_COOKIE, ""), form.get("csrf_token", ""))
    except InvalidToken as exc:
        return _refused(request, exc.reason)
    except Forbidden:
        return _join_page(request, token, expired=True, ended=await invitations.session_has_ended(core, inv))
    try:
        session, inv = await signin.open_invitation(core, token, documents=True)
    except InvalidToken as exc:
        return _refused(request, exc.reason)
    ended = await invitations.session_has_ended(core, inv)
    response = web.HTTPFound(f"/s/{inv.session_id}/sign" if ended else f"/s/{inv.session_id}")
    response.set_cookie(
        JOIN_COOKIE,
        session.token,
        httponly=True,
        samesite="Lax",
        path="/",
        secure=core.settings.cookie_secure,
        max_age=max(60, int((inv.expires_at - core.clock.now()).total_seconds())),
    )
    raise response


async def session_page(request: web.Request) -> web.StreamResponse:
    """The session's page: the room for its invitation holders and the staff who run the case;
    a read-only summary for other staff in scope."""
    core = request.app[CORE]
    session_id = request.match_info["session_id"]
    joined = await join_session(request)
    if joined is not None and joined[0].session_id == session_id:
        principal, csrf = joined
        session = await sessions.load_session(core, session_id)
        if session.status == SessionStatus.ended.value:  # ended since the cookie was checked a moment ago
            return _refused(request, "session_ended")
        case = await cases.load_case(core, session.case_id)
        role = principal.session_role or SessionRole.observer
        return await _room_page(request, session, case, name=principal.display_name, role=role, csrf=csrf)
    found = await staff_session(request)
    if found is None:
        if joined is not None:
            raise Forbidden(N_("Your invitation is for another session."))
        if request.cookies.get(JOIN_COOKIE):
            signer = await join_session(request, documents=True)
            if signer is not None:
                if signer[0].session_id == session_id:
                    # The session has ended, and this party still has its documents to read and sign.
                    raise web.HTTPFound(f"/s/{session_id}/sign")
                # The cookie still opens the documents of its own session: keep it.
                raise Forbidden(N_("Your invitation is for another session."))
            # A party on a phone whose link was revoked, expired or whose session ended must see
            # why they cannot get in, not a staff sign-in form.
            reason = await signin.why_refused(core, request.cookies.get(JOIN_COOKIE))
            response = _refused(request, reason if reason != "unknown" else "no_longer_valid")
            response.del_cookie(JOIN_COOKIE, path="/")
            return response
        raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
    principal, csrf = found
    session = await sessions.get_session(core, principal, session_id)
    access = await cases.case_access(core, principal, session.case_id)
    case, manage = access.case, access.can_manage
    if manage and session.status != SessionStatus.ended.value:
        # Staff who run the case join as its mediator, as the signaling server binds them.
        return await _room_page(
            request,
            session,
            case,
            name=principal.display_name,
            role=SessionRole.mediator,
            csrf=csrf,
            principal=principal,
        )
    return render(
        request,
        "session.html",
        {
            "session": session_view(session),
            "case_number": case.number,
            "case_title": case.title,
            "case_id": case.id,
            "role": SessionRole.mediator.value if manage else SessionRole.observer.value,
            "name": principal.display_name,
            "staff": True,
        },
        principal=principal,
        csrf_token=csrf,
    )


def case_panel(case: Any, role: SessionRole) -> dict[str, Any]:
    """What the room's case panel shows of the case to someone in `role` (the rule is the
    domain's: grants.case_panel_for)."""
    shows = case_panel_for(role)
    return {
        "number": case.number,
        "title": case.title,
        "dispute_type": case.dispute_type,
        "parties": [
            {"side": p.side, "name": p.name, "agent_name": p.agent_name if shows.agents else None} for p in case.parties
        ],
        "summary": case.summary if shows.summary else None,
    }


async def _room_page(
    request: web.Request,
    session: Any,
    case: Any,
    *,
    name: str,
    role: SessionRole,
    csrf: str,
    principal: Principal | None = None,
) -> web.Response:
    """The live room: prejoin, lobby and the meeting itself, run by web/static/js/room/."""
    core = request.app[CORE]
    settings = core.settings
    acks = None
    if has_grant(role, Grant.moderate):
        # Who has acknowledged the rights notice so far: a mediator who reloads still sees it.
        acks = [
            {"pid": a.pid, "name": a.name, "role": a.role, "at": wire_time(a.at)}
            for a in await notices.acknowledgements(core, session.id)
        ]
    response = render(
        request,
        "room.html",
        {
            "session": session_view(session),
            "case_number": case.number,
            "case_title": case.title,
            "case_id": case.id if principal is not None else None,
            "case_panel": case_panel(case, role),
            "name": name,
            "role": role.value,
            "grants": sorted(g.value for g in ROLE_GRANTS[role]),
            "video_max_kbps": settings.video_max_kbps,
            "i18n_json": script_json(request.app[JS_CATALOGS].for_language(language(request))),
            "notice_acks_json": script_json(acks) if acks is not None else None,
        },
        principal=principal,
        csrf_token=csrf,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def sign_page(request: web.Request) -> web.StreamResponse:
    """A party's (or the mediator's) signing page: the current agreement and minutes in full, a
    confirmation, the typed name and a drawn signature, on the person's own device. Run by
    web/static/js/signing/; it reads and signs through the REST API with this page's CSRF token.

    Reached from the room (the Case tab) with the join link's cookie, or by the case's staff
    signed in. Who may read and sign what is the API's rule; the page only decides who sees it.
    A party's link reaches it after the session has ended, too (grants.link_outlives_session)."""
    core = request.app[CORE]
    session_id = request.match_info["session_id"]
    joined = await join_session(request, documents=True)
    principal: Principal | None = None
    if joined is not None and joined[0].session_id == session_id:
        person, csrf = joined
        session = await sessions.load_session(core, session_id)
        role = person.session_role or SessionRole.observer
    else:
        found = await staff_session(request)
        if found is None:
            if joined is not None:
                raise Forbidden(N_("Your invitation is for another session."))
            raise web.HTTPFound(f"/login?next={quote(request.path_qs)}")
        principal, csrf = found
        person = principal
        session = await sessions.get_session(core, principal, session_id)
        if not (await cases.case_access(core, principal, session.case_id)).can_manage:
            raise Forbidden(N_("Only the parties and the case's mediator sign its documents."))
        role = SessionRole.mediator
    case = await cases.load_case(core, session.case_id)
    response = render(
        request,
        "sign.html",
        {
            "session": session_view(session),
            "case_number": case.number,
            "case_title": case.title,
            "case_id": case.id,
            "name": person.display_name,
            "role": role.value,
            "staff": principal is not None,
            "i18n_json": script_json(request.app[JS_CATALOGS].for_language(language(request))),
        },
        principal=principal,
        csrf_token=csrf,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def js_catalog(request: web.Request) -> web.StreamResponse:
    """The browser code's messages in one language, for clients that do not load a page (e.g. an app)."""
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise NotFound(f"unknown language '{lang[:20]}'")
    response = json_response(request.app[JS_CATALOGS].for_language(lang))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", index)
    r.add_get("/login", login_form)
    r.add_post("/login", login_submit)
    r.add_post("/logout", logout)
    r.add_get("/lang/{lang}", set_language)
    r.add_get("/cases", case_list)
    r.add_get("/cases/new", case_new)
    r.add_post("/cases/new", case_create)
    r.add_get("/cases/{case_id}", case_detail)
    r.add_post("/cases/{case_id}/transition", case_transition)
    r.add_post("/cases/{case_id}/sessions", session_schedule)
    r.add_post("/sessions/{session_id}/invitations", invitation_issue)
    r.add_post("/invitations/{invitation_id}/revoke", invitation_revoke)
    r.add_get("/j/{token}", join)
    r.add_post("/j/{token}", join_open)
    r.add_get("/s/{session_id}", session_page)
    r.add_get("/s/{session_id}/sign", sign_page)
    r.add_get("/i18n/{lang}.json", js_catalog)
    app[JS_CATALOGS] = JsCatalogs(app[CORE].settings.web_dir / "static" / "js", app[CATALOGS])
