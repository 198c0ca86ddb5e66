"""Retention of recordings and legal hold (issue 12): an org's retention period, a case put on
or taken off legal hold. The deletion job itself is server/services/retention.py."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, StringConstraints

from server.domain.clock import wire_time
from server.domain.retention import MAX_DAYS, MAX_REASON, MIN_DAYS
from server.http.keys import CORE
from server.http.requests import json_response, read_json, require_staff
from server.services import retention
from server.services.retention import HoldState, RetentionSetting

from .schemas import Schema
from .table import V1, Route


class RetentionIn(Schema):
    # Strict: "30", 30.0 and true are not a number of days.
    days: Annotated[int, Field(strict=True, ge=MIN_DAYS, le=MAX_DAYS)] | None = Field(
        description=f"days after a session ended that its recording is kept ({MIN_DAYS}-{MAX_DAYS}); "
        "null keeps recordings until an admin sets a period"
    )
    parties_see_recordings: Annotated[bool, Field(strict=True)] | None = Field(
        default=None,
        description="whether the parties of the org's cases may watch their sessions' recordings; left out: unchanged",
    )


class LegalHoldIn(Schema):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=MAX_REASON)] = Field(
        description="why the hold is set or released; it goes into the case log"
    )


def retention_view(r: RetentionSetting) -> dict[str, Any]:
    return {
        "org_id": r.org_id,
        "recording_retention_days": r.days,
        "parties_see_recordings": r.parties_see_recordings,
    }


def hold_view(h: HoldState) -> dict[str, Any]:
    return {
        "case_id": h.case_id,
        "legal_hold": h.legal_hold,
        "last_change": None
        if h.kind is None
        else {"kind": h.kind, "actor": h.actor, "at": wire_time(h.at) if h.at else None, "reason": h.reason},
    }


async def get_retention(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    out = await retention.retention_of(request.app[CORE], p, request.match_info["org_id"])
    return json_response(retention_view(out))


async def put_retention(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, RetentionIn)
    out = await retention.set_retention(
        request.app[CORE], p, request.match_info["org_id"], body.days, parties_see=body.parties_see_recordings
    )
    return json_response(retention_view(out))


async def get_hold(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    return json_response(hold_view(await retention.hold_state(request.app[CORE], p, request.match_info["case_id"])))


async def set_hold(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, LegalHoldIn)
    out = await retention.set_hold(request.app[CORE], p, request.match_info["case_id"], body.reason)
    return json_response(hold_view(out))


async def release_hold(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, LegalHoldIn)
    out = await retention.release_hold(request.app[CORE], p, request.match_info["case_id"], body.reason)
    return json_response(hold_view(out))


ROUTES: list[Route] = [
    Route(
        "GET",
        f"{V1}/orgs/{{org_id}}/retention",
        get_retention,
        "How long the org keeps recordings after a session ended (null: kept)",
    ),
    Route(
        "PUT",
        f"{V1}/orgs/{{org_id}}/retention",
        put_retention,
        "Set how many days the org keeps recordings after a session ended, or null to keep them (admin)",
        body=RetentionIn,
    ),
    Route(
        "GET",
        f"{V1}/cases/{{case_id}}/hold",
        get_hold,
        "Whether the case is on legal hold, and who last set or released it, when and why",
    ),
    Route(
        "POST",
        f"{V1}/cases/{{case_id}}/hold",
        set_hold,
        "Put the case on legal hold: retention deletes none of its recordings (admins, reviewers over its org)",
        body=LegalHoldIn,
    ),
    Route(
        "DELETE",
        f"{V1}/cases/{{case_id}}/hold",
        release_hold,
        "Release the case's legal hold, saying why (admins, reviewers over its org)",
        body=LegalHoldIn,
    ),
]
