"""Evidence exports and the server's public key (issue 12): a case's files, its whole log, the
checkpoints that cover it and a manifest signed with the server's Ed25519 key, which
`heshi verify` checks offline. docs/evidence.md describes the format."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.domain.clock import wire_time
from server.http.keys import CORE
from server.http.requests import json_response, require_staff
from server.services import evidence_keys, exports
from server.services.exports import Exports
from server.storage.exports import ExportRecord

from .table import V1, Route

# This node's export builder (server/app.py starts it); asking for an export here wakes it.
EXPORTS = web.AppKey("exports", Exports)


def export_view(r: ExportRecord) -> dict[str, Any]:
    done = r.status == "done"
    return {
        "id": r.id,
        "case_id": r.case_id,
        "status": r.status,
        "created_by": r.created_by,
        "created_at": wire_time(r.created_at),
        "finished_at": wire_time(r.finished_at) if r.finished_at else None,
        "error": r.error,
        "checkpoint_seq": r.checkpoint_seq,
        "package": {
            "sha256": r.sha256,
            "bytes": r.bytes,
            "manifest_sha256": r.manifest_sha256,
            "url": f"{V1}/exports/{r.id}.zip",
        }
        if done
        else None,
    }


async def create_export(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    record = await exports.request(request.app[CORE], p, request.match_info["case_id"])
    builder = request.app.get(EXPORTS)
    if builder is not None:
        builder.wake()
    return json_response(export_view(record), status=202)


async def list_exports(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    rows = await exports.list_for_case(request.app[CORE], p, request.match_info["case_id"])
    return json_response({"exports": [export_view(r) for r in rows]})


async def download_export(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    record, path = await exports.download(
        request.app[CORE], p, request.match_info["export_id"], request.headers.get("Range")
    )
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "application/zip",
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'attachment; filename="evidence-{record.id}.zip"',
            "X-Package-SHA256": record.sha256 or "",
        },
    )


async def public_key(request: web.Request) -> web.StreamResponse:
    key = await evidence_keys.server_key(request.app[CORE])
    response = json_response(key.public_view())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


ROUTES: list[Route] = [
    Route(
        "POST",
        f"{V1}/cases/{{case_id}}/exports",
        create_export,
        "Queue an evidence export of the case: its files, its whole log, checkpoints, a signed manifest",
        status=202,
    ),
    Route(
        "GET",
        f"{V1}/cases/{{case_id}}/exports",
        list_exports,
        "A case's evidence exports and their status",
    ),
    Route(
        "GET",
        f"{V1}/exports/{{export_id}}.zip",
        download_export,
        "Download an evidence export (ZIP); logged in the case log",
        produces="application/zip",
    ),
    Route(
        "GET",
        f"{V1}/evidence/public-key",
        public_key,
        "The server's Ed25519 public key that signs checkpoints and export manifests, with its fingerprint",
        auth="none",
    ),
]
