"""Judicial confirmation (司法确认): packages and their delivery to the court."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import StringConstraints

from server.domain.clock import wire_time
from server.http.keys import CORE
from server.http.requests import json_response, read_json, require_staff
from server.services import confirmations
from server.services.confirmations import Listed

from .schemas import Id, Schema
from .table import V1, Route

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ConfirmationRequestIn(Schema):
    agreement_id: Id
    # the exact version to send; the agreement's latest version signed by everyone when left out
    version_sha256: Sha256 | None = None


def request_view(listed: Listed) -> dict[str, Any]:
    r, w = listed.request, listed.window
    return {
        "id": r.id,
        "case_id": r.case_id,
        "agreement_id": r.agreement_id,
        "agreement_version_id": r.agreement_version_id,
        "endpoint": r.endpoint,
        "status": r.status,
        "attempts": r.attempts,
        "last_error": r.last_error,
        "next_attempt_at": wire_time(r.next_attempt_at) if r.next_attempt_at and r.status == "pending" else None,
        "created_by": r.created_by,
        "created_at": wire_time(r.created_at),
        "delivered_at": wire_time(r.delivered_at) if r.delivered_at else None,
        "package": {
            "sha256": r.package_sha256,
            "bytes": r.package_bytes,
            "url": f"{V1}/confirmation-requests/{r.id}/package.zip",
        },
        "deadline": None
        if w is None
        else {
            "took_effect": wire_time(w.took_effect),
            "last_day": w.last_day.isoformat(),
            "closes_at": wire_time(w.closes_at),
            "days_left": w.days_left,
            "expired": w.expired,
        },
    }


async def create_request(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, ConfirmationRequestIn)
    listed = await confirmations.request(
        request.app[CORE], p, request.match_info["case_id"], body.agreement_id, version_sha256=body.version_sha256
    )
    return json_response(request_view(listed), status=202)


async def list_requests(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    rows = await confirmations.list_for_case(request.app[CORE], p, request.match_info["case_id"])
    return json_response({"confirmation_requests": [request_view(r) for r in rows]})


async def download_package(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    record, path = await confirmations.package(request.app[CORE], p, request.match_info["request_id"])
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/zip",
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'attachment; filename="confirmation-{record.id}.zip"',
            "X-Package-SHA256": record.package_sha256,
        },
    )


async def retry_request(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    listed = await confirmations.retry(request.app[CORE], p, request.match_info["request_id"])
    return json_response(request_view(listed), status=202)


ROUTES: list[Route] = [
    Route(
        "POST",
        f"{V1}/cases/{{case_id}}/confirmation-requests",
        create_request,
        "Make the judicial-confirmation package of a signed agreement and queue it for the court",
        body=ConfirmationRequestIn,
        status=202,
    ),
    Route(
        "GET",
        f"{V1}/cases/{{case_id}}/confirmation-requests",
        list_requests,
        "A case's judicial-confirmation requests: delivery status and the days left of the 30",
    ),
    Route(
        "GET",
        f"{V1}/confirmation-requests/{{request_id}}/package.zip",
        download_package,
        "Download a judicial-confirmation package (ZIP) exactly as it is sent",
        produces="application/zip",
    ),
    Route(
        "POST",
        f"{V1}/confirmation-requests/{{request_id}}/retry",
        retry_request,
        "Queue a failed judicial-confirmation request again",
        status=202,
    ),
]
