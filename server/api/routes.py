"""REST handlers under /api/v1 and their route table.

Each handler: parse and validate → authenticate → call one service → shape the response.
The table carries what the OpenAPI document needs; see openapi.py.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from datetime import timedelta

import segno
from aiohttp import web

from server.auth.passwords import generate_password
from server.domain.access import Principal
from server.domain.actors import Actor
from server.domain.cases import PartyInput
from server.domain.errors import Conflict
from server.http.keys import CORE, LIVE
from server.http.media import media_file
from server.http.requests import (
    STAFF_COOKIE,
    client_address,
    json_response,
    parse_query,
    read_json,
    require_staff,
    set_staff_cookie,
    staff_session,
)
from server.services import accounts, cases, invitations, orgs, recording, sessions, signin
from server.storage.sessions import SessionRecord

from . import agreements, confirmations, exports, minutes, retention, review
from . import schemas as S
from .table import V1, Route
from .views import (
    account_view,
    case_summary,
    case_view,
    event_view,
    invitation_view,
    org_view,
    party_view,
    session_view,
)


def _me(p: Principal) -> dict[str, object]:
    return {
        "account_id": p.account_id,
        "display_name": p.display_name,
        "role": p.staff_role.value if p.staff_role else None,
        "org_id": p.org_id,
    }


async def login(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, S.LoginIn)
    session = await signin.login(request.app[CORE], body.username, body.password, client_address(request))
    response = json_response({**_me(session.principal), "csrf_token": session.csrf_token})
    set_staff_cookie(request, response, session)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    await require_staff(request)
    await signin.logout(request.app[CORE], request.cookies.get(STAFF_COOKIE))
    response = json_response({"ok": True})
    response.del_cookie(STAFF_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.StreamResponse:
    await require_staff(request)  # 401, or 403 for an invitation holder, like every other staff route
    found = await staff_session(request)
    assert found is not None
    principal, csrf = found
    return json_response({**_me(principal), "csrf_token": csrf})


async def list_orgs(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    return json_response({"orgs": [org_view(o) for o in await orgs.list_orgs(request.app[CORE], p)]})


async def create_org(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, S.OrgIn)
    org = await orgs.create_org(
        request.app[CORE], p, name=body.name, code=body.code, kind=body.kind, level=body.level, parent_id=body.parent_id
    )
    return json_response(org_view(org), status=201)


async def get_org(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    return json_response(org_view(await orgs.get_org(request.app[CORE], p, request.match_info["org_id"])))


async def list_accounts(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    q = parse_query(request, S.AccountQuery)
    rows = await accounts.list_accounts(request.app[CORE], p, role=q.role, org_id=q.org_id)
    return json_response({"accounts": [account_view(a) for a in rows]})


async def create_account(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, S.AccountIn)
    password = body.password or generate_password()
    account = await accounts.create_account(
        request.app[CORE],
        p,
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        org_id=body.org_id,
        password=password,
        phone=body.phone,
    )
    out = account_view(account)
    if body.password is None:
        out["generated_password"] = password
    return json_response(out, status=201)


async def list_cases(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    q = parse_query(request, S.CaseQuery)
    rows, total = await cases.list_cases(request.app[CORE], p, cases.CaseFilters(**q.model_dump()))
    return json_response(
        {"cases": [case_summary(c) for c in rows], "total": total, "limit": q.limit, "offset": q.offset}
    )


async def create_case(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, S.CaseIn)
    parties = [PartyInput(**party.model_dump()) for party in body.parties]
    case = await cases.create_case(
        request.app[CORE],
        p,
        title=body.title,
        summary=body.summary,
        dispute_type=body.dispute_type,
        source=body.source,
        parties=parties,
        org_id=body.org_id,
        mediator_id=body.mediator_id,
    )
    access = await cases.case_access(request.app[CORE], p, case.id)
    return json_response(case_view(case, can_manage=access.can_manage), status=201)


async def get_case(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    access = await cases.case_access(request.app[CORE], p, request.match_info["case_id"])
    return json_response(case_view(access.case, can_manage=access.can_manage))


async def transition_case(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, S.TransitionIn)
    core = request.app[CORE]
    case = await cases.transition(core, p, request.match_info["case_id"], body.to, body.note)
    return json_response(case_view(case, can_manage=True))


async def add_party(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, S.PartyIn)
    party = await cases.add_party(request.app[CORE], p, request.match_info["case_id"], PartyInput(**body.model_dump()))
    return json_response(party_view(party), status=201)


async def case_events(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    log = await cases.case_events(request.app[CORE], p, request.match_info["case_id"])
    return json_response(
        {
            "events": [event_view(e, readable=readable) for e, readable in log.entries],
            "chain": asdict(log.chain),
            "names": log.names,
        }
    )


async def list_sessions(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    rows = await sessions.list_sessions(request.app[CORE], p, request.match_info["case_id"])
    return json_response({"sessions": [session_view(s) for s in rows]})


async def create_session(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, S.SessionIn)
    session = await sessions.schedule_session(
        request.app[CORE], p, request.match_info["case_id"], scheduled_at=body.scheduled_at, title=body.title
    )
    return json_response(session_view(session), status=201)


async def get_session(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    return json_response(
        session_view(await sessions.get_session(request.app[CORE], p, request.match_info["session_id"]))
    )


def _invitation_out(request: web.Request, listed: invitations.Listed) -> dict[str, object]:
    return invitation_view(listed.invitation, link=listed.link, now=request.app[CORE].clock.now())


async def list_invitations(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    rows = await invitations.list_for_case(request.app[CORE], p, request.match_info["case_id"])
    return json_response({"invitations": [_invitation_out(request, i) for i in rows]})


async def issue_invitation(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, S.InvitationIn)
    core = request.app[CORE]
    inv = await invitations.issue(
        core,
        p,
        request.match_info["session_id"],
        role=body.role,
        party_id=body.party_id,
        account_id=body.account_id,
        display_name=body.display_name,
        direct_entry=body.direct_entry,
        ttl=timedelta(hours=body.ttl_hours) if body.ttl_hours else None,
    )
    return json_response(_invitation_out(request, invitations.listed_for_issuer(core, inv)), status=201)


async def get_invitation(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    return json_response(
        _invitation_out(request, await invitations.get(request.app[CORE], p, request.match_info["invitation_id"]))
    )


async def revoke_invitation(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, S.RevokeIn)
    core = request.app[CORE]
    inv = await invitations.revoke(core, p, request.match_info["invitation_id"], body.reason)
    return json_response(_invitation_out(request, invitations.listed_for_issuer(core, inv)))


async def invitation_qr(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    link = await invitations.link_of(request.app[CORE], p, request.match_info["invitation_id"])
    buf = io.BytesIO()
    segno.make(link, error="m").save(buf, kind="png", scale=8, border=2)
    return web.Response(body=buf.getvalue(), content_type="image/png", headers={"Cache-Control": "private, no-store"})


async def _recording_session(request: web.Request) -> tuple[Principal, SessionRecord]:
    """The session, for someone who may start and stop its recording (the service decides)."""
    p = await require_staff(request)
    return p, await sessions.for_recording_control(request.app[CORE], p, request.match_info["session_id"])


async def start_recording(request: web.Request) -> web.StreamResponse:
    p, session = await _recording_session(request)
    out = await request.app[LIVE].start_recording(request, session.id, session.case_id, Actor.of(p))
    return json_response(out, status=202)


async def stop_recording(request: web.Request) -> web.StreamResponse:
    p, session = await _recording_session(request)
    body = await read_json(request, S.RecordingStopIn) if request.can_read_body else S.RecordingStopIn()
    out = await request.app[LIVE].stop_recording(session.id, Actor.of(p), body.reason or "stopped over the API")
    return json_response(out)


async def _recordings_readable(request: web.Request) -> tuple[Principal, SessionRecord]:
    """The session, for someone who may see its recordings (the service decides)."""
    p = await require_staff(request)
    return p, await sessions.for_recording_review(request.app[CORE], p, request.match_info["session_id"])


async def get_recording(request: web.Request) -> web.StreamResponse:
    """Runs, consents and segments of a session."""
    p, session = await _recordings_readable(request)
    return json_response(await recording.summary(request.app[CORE], session.id))


async def make_composite(request: web.Request) -> web.StreamResponse:
    """(Re)make the one-file download; it is also made when a recorded session ends."""
    p, session = await _recording_session(request)
    if not request.app[LIVE].make_download(session.case_id, session.id, Actor.of(p)):
        raise Conflict("the download is already being made")
    state = await recording.download_state(request.app[CORE], session.id)
    return json_response({"ok": True, "composite": state}, status=202)


async def download_composite(request: web.Request) -> web.StreamResponse:
    """The composite WebM, for anyone who may read the case; every download is logged."""
    p, session = await _recordings_readable(request)
    path = await recording.download(request.app[CORE], Actor.of(p), session, request.headers.get("Range"))
    return media_file(path, content_type="video/webm", filename=f"{session.id}.webm")


ROUTES: list[Route] = [
    Route("POST", f"{V1}/auth/login", login, "Sign in with username and password", body=S.LoginIn, auth="none"),
    Route("POST", f"{V1}/auth/logout", logout, "Sign out this browser session"),
    Route("GET", f"{V1}/auth/me", me, "Who is signed in, and the CSRF token for unsafe requests"),
    Route("GET", f"{V1}/orgs", list_orgs, "List the orgs of your subtree (admins: all)"),
    Route("POST", f"{V1}/orgs", create_org, "Create an org (admin)", body=S.OrgIn, status=201),
    Route("GET", f"{V1}/orgs/{{org_id}}", get_org, "Read one org"),
    Route(
        "GET", f"{V1}/accounts", list_accounts, "List staff accounts in the caller's org subtree", query=S.AccountQuery
    ),
    Route("POST", f"{V1}/accounts", create_account, "Create a staff account (admin)", body=S.AccountIn, status=201),
    Route("GET", f"{V1}/cases", list_cases, "List the cases the caller may see, with filters", query=S.CaseQuery),
    Route("POST", f"{V1}/cases", create_case, "Create a case with its parties", body=S.CaseIn, status=201),
    Route("GET", f"{V1}/cases/{{case_id}}", get_case, "Read a case (personal data masked)"),
    Route(
        "POST",
        f"{V1}/cases/{{case_id}}/transitions",
        transition_case,
        "Move a case to another status",
        body=S.TransitionIn,
    ),
    Route("POST", f"{V1}/cases/{{case_id}}/parties", add_party, "Add a party to a case", body=S.PartyIn, status=201),
    Route("GET", f"{V1}/cases/{{case_id}}/events", case_events, "The case's hash-chained event log"),
    Route("GET", f"{V1}/cases/{{case_id}}/sessions", list_sessions, "List a case's sessions"),
    Route(
        "POST", f"{V1}/cases/{{case_id}}/sessions", create_session, "Schedule a session", body=S.SessionIn, status=201
    ),
    Route("GET", f"{V1}/cases/{{case_id}}/invitations", list_invitations, "List a case's invitations"),
    Route("GET", f"{V1}/sessions/{{session_id}}", get_session, "Read a session"),
    Route(
        "POST",
        f"{V1}/sessions/{{session_id}}/invitations",
        issue_invitation,
        "Issue an invitation (one person, one session, one role)",
        body=S.InvitationIn,
        status=201,
    ),
    Route("GET", f"{V1}/invitations/{{invitation_id}}", get_invitation, "Read an invitation and its link"),
    Route(
        "POST",
        f"{V1}/invitations/{{invitation_id}}/revoke",
        revoke_invitation,
        "Revoke an invitation; sessions opened with it end",
        body=S.RevokeIn,
    ),
    Route(
        "GET",
        f"{V1}/invitations/{{invitation_id}}/qr.png",
        invitation_qr,
        "The join link as a QR code",
        produces="image/png",
    ),
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/recording",
        get_recording,
        "A session's recording: runs, consents, segments with SHA-256",
    ),
    Route(
        "POST",
        f"{V1}/sessions/{{session_id}}/recording/start",
        start_recording,
        "Start recording a live session: everyone present is asked for consent",
        status=202,
    ),
    Route(
        "POST",
        f"{V1}/sessions/{{session_id}}/recording/stop",
        stop_recording,
        "Stop recording a live session",
        body=S.RecordingStopIn,
    ),
    Route(
        "POST",
        f"{V1}/sessions/{{session_id}}/recording/composite",
        make_composite,
        "Make the session's one-file download again (made anyway when a recorded session ends)",
        status=202,
    ),
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/recording/composite.webm",
        download_composite,
        "Download the session's recording as one WebM file (logged in the case log)",
        produces="video/webm",
    ),
    *minutes.ROUTES,
    *agreements.ROUTES,
    *confirmations.ROUTES,
    *exports.ROUTES,
    *review.ROUTES,
    *retention.ROUTES,
]


def add_routes(app: web.Application) -> None:
    for r in ROUTES:
        app.router.add_route(r.method, r.path, r.handler)
