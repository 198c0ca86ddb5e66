"""Agreements (调解协议书): templates, versions, previews, PDFs and signatures; the org's seal
and court endpoint. Parties call the read and sign routes with their join cookie
(auth="person"); writing agreements and org settings is for staff."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import Field, StringConstraints

from server.domain import agreements as rules
from server.domain.access import Principal
from server.domain.signatures import MAX_SEAL_BYTES, SignatureInput, check_png, parse_png_data_url
from server.http.keys import CORE
from server.http.requests import client_address, json_response, parse_query, read_json, require_person, require_staff
from server.services import agreements, orgs, signatures
from server.services.agreements import AgreementState, VersionState
from server.services.signatures import Signed
from server.storage.signatures import SignatureRecord

from .schemas import Id, Schema
from .table import V1, Route

Amount = Annotated[str, StringConstraints(max_length=20)] | int | None


class TermIn(Schema):
    obligation: Annotated[str, StringConstraints(max_length=rules.MAX_OBLIGATION)] = Field(
        description="what is to be done (义务内容)"
    )
    obligor: Annotated[str, StringConstraints(max_length=rules.MAX_OBLIGOR)] = Field(
        description="who does it (履行义务人)"
    )
    amount: Amount = Field(
        default=None, description='yuan, at most 2 decimal places, as text ("1200.50"); omit for none'
    )
    deadline: Annotated[str, StringConstraints(max_length=10)] | None = Field(
        default=None, description="ISO date (YYYY-MM-DD); omit for none"
    )
    manner: Annotated[str, StringConstraints(max_length=rules.MAX_MANNER)] | None = Field(
        default=None, description="manner of performance (履行方式)"
    )


Terms = Annotated[list[TermIn], Field(min_length=1, max_length=rules.MAX_TERMS)]
Facts = Annotated[str, StringConstraints(max_length=rules.MAX_FACTS)]
Matters = Annotated[str, StringConstraints(max_length=rules.MAX_MATTERS)]


class AgreementIn(Schema):
    template: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="a template id from GET /api/v1/agreement-templates"
    )
    terms: Terms
    facts: Facts | None = Field(default=None, description="main facts (纠纷主要事实); defaults to the case's summary")
    matters: Matters | None = Field(default=None, description="matters in dispute (争议事项)")
    session_id: Id | None = Field(default=None, description="the session the agreement was reached in")


class VersionIn(Schema):
    terms: Terms
    facts: Facts | None = Field(default=None, description="omit to keep the current version's")
    matters: Matters | None = Field(default=None, description="omit to keep the current version's")
    based_on: int | None = Field(default=None, ge=1, description="the version this change was made on; 409 if stale")


class SignatureIn(Schema):
    version_sha256: Annotated[str, StringConstraints(min_length=64, max_length=64)] = Field(
        description="the sha256 of the version being signed, as GET returned it"
    )
    name: Annotated[str, StringConstraints(max_length=100)] = Field(description="the signer's name, typed")
    image: Annotated[str, StringConstraints(max_length=300_000)] = Field(
        description="the drawn signature as a data:image/png;base64 URL (at most 200 KB of PNG)"
    )


class VersionQuery(Schema):
    version: int | None = Field(default=None, ge=1, description="a version number; default the current one")


class SealIn(Schema):
    image: Annotated[str, StringConstraints(max_length=700_000)] = Field(
        description="the seal as a data:image/png;base64 URL (or PUT the PNG itself as image/png)"
    )


class CourtIn(Schema):
    endpoint: Annotated[str, StringConstraints(max_length=500)] | None = Field(
        description="the court's http(s) URL packages are POSTed to; null clears endpoint and secret"
    )
    secret: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="HMAC-SHA256 key shared with the court (16-200 characters); never returned"
    )
    name: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        default=None,
        description="the court's name, as the application for judicial confirmation addresses it "
        "(e.g. 示范区人民法院); omitted: kept as it is; null or empty: 有管辖权的人民法院",
    )


# ---- views --------------------------------------------------------------------------------------


def signer_view(s: rules.Signer) -> dict[str, Any]:
    return {"signer": s.key, "role": s.role, "name": s.name}


def signature_view(s: SignatureRecord, *, number: int, staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "signer": s.signer,
        "signer_role": s.signer_role,
        "name": s.name,
        "version": number,
        "version_sha256": s.version_sha256,
        "image_sha256": s.image_sha256,
        "at": s.at.isoformat(),
    }
    if staff:  # where a party signed from is for the case's staff, not for the other side
        out.update(ip=s.ip, user_agent=s.user_agent, actor=s.actor)
    return out


def version_view(v: VersionState, *, staff: bool) -> dict[str, Any]:
    return {
        "version": v.record.version,
        "version_id": v.record.id,
        "sha256": v.record.sha256,
        "at": v.record.at.isoformat(),
        "locked": v.locked,
        "locked_at": v.record.locked_at.isoformat() if v.record.locked_at else None,
        "signatures": [signature_view(s, number=v.record.version, staff=staff) for s in v.signatures],
        "required": [signer_view(s) for s in v.required],
        "missing": [signer_view(s) for s in v.missing],
    }


def agreement_view(a: AgreementState, p: Principal) -> dict[str, Any]:
    cur = a.current
    content = cur.record.content
    base = f"{V1}/agreements/{a.agreement.id}"
    return {
        "id": a.agreement.id,
        "case_id": a.agreement.case_id,
        "case_number": a.case_number,
        "session_id": a.agreement.session_id,
        "template": a.agreement.template,
        "created_at": a.agreement.created_at.isoformat(),
        **version_view(cur, staff=p.is_staff),
        "facts": content.get("facts", ""),
        "matters": content.get("matters", ""),
        "terms": content.get("terms", []),
        "parties": [
            {k: party[k] for k in ("id", "side", "name", "id_number", "phone", "agent_name")}
            for party in content.get("parties", [])
        ],
        "mediator": {"id": content["mediator"]["id"], "name": content["mediator"]["name"]},
        "org": content.get("org"),
        "earlier_versions": [version_view(v, staff=p.is_staff) for v in a.versions if v is not cur],
        "preview_url": f"{base}/preview",
        "pdf_url": f"{base}.pdf",
    }


def summary_view(a: AgreementState) -> dict[str, Any]:
    cur = a.current
    return {
        "id": a.agreement.id,
        "template": a.agreement.template,
        "session_id": a.agreement.session_id,
        "created_at": a.agreement.created_at.isoformat(),
        "version": cur.record.version,
        "sha256": cur.record.sha256,
        "locked": cur.locked,
        "signed": len(cur.signatures),
        "missing": [signer_view(s) for s in cur.missing],
    }


def org_settings_view(s: orgs.OrgDocumentSettings) -> dict[str, Any]:
    return {
        "org_id": s.org_id,
        "has_seal": s.has_seal,
        "seal_sha256": s.seal_sha256,
        "court_endpoint": s.court_endpoint,
        "has_court_secret": s.has_court_secret,
        "court_name": s.court_name,
    }


def user_agent(request: web.Request) -> str:
    return request.headers.get("User-Agent", "")[:500]


# ---- handlers -----------------------------------------------------------------------------------


async def list_templates(request: web.Request) -> web.StreamResponse:
    await require_staff(request)
    cat = agreements.catalog(request.app[CORE])
    return json_response(
        {
            "templates": [
                {
                    "id": t.id,
                    "name": {"zh": t.name_zh, "en": t.name_en},
                    "dispute_types": list(t.dispute_types),
                    "source": t.source,
                }
                for t in cat.templates
            ],
            "problems": [{"file": x.file, "source": x.source, "error": x.error} for x in cat.problems],
        }
    )


async def create_agreement(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, AgreementIn)
    state = await agreements.create(
        request.app[CORE],
        p,
        request.match_info["case_id"],
        template=body.template,
        terms=[t.model_dump() for t in body.terms],
        facts=body.facts,
        matters=body.matters,
        session_id=body.session_id,
    )
    return json_response(agreement_view(state, p), status=201)


async def list_case_agreements(request: web.Request) -> web.StreamResponse:
    p = await require_person(request)
    rows = await agreements.list_for_case(request.app[CORE], p, request.match_info["case_id"])
    return json_response({"agreements": [summary_view(a) for a in rows]})


async def get_agreement(request: web.Request) -> web.StreamResponse:
    p = await require_person(request)
    state = await agreements.get(request.app[CORE], p, request.match_info["agreement_id"])
    return json_response(agreement_view(state, p))


async def revise_agreement(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, VersionIn)
    state = await agreements.revise(
        request.app[CORE],
        p,
        request.match_info["agreement_id"],
        terms=[t.model_dump() for t in body.terms],
        facts=body.facts,
        matters=body.matters,
        based_on=body.based_on,
    )
    return json_response(agreement_view(state, p), status=201)


async def preview_agreement(request: web.Request) -> web.StreamResponse:
    p = await require_person(request)
    q = parse_query(request, VersionQuery)
    v, html = await agreements.preview(request.app[CORE], p, request.match_info["agreement_id"], q.version)
    return web.Response(
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Cache-Control": "private, no-store",
            "X-Heshi-Version": str(v.version),
            "X-Heshi-Sha256": v.sha256,
            # The document is data, not a page: nothing in it runs, even if a template misbehaves.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        },
    )


async def agreement_pdf(request: web.Request) -> web.StreamResponse:
    p = await require_person(request)
    q = parse_query(request, VersionQuery)
    agreement_id = request.match_info["agreement_id"]
    v, data = await agreements.pdf_of(request.app[CORE], p, agreement_id, q.version)
    return web.Response(
        body=data,
        content_type="application/pdf",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": f'inline; filename="agreement-{agreement_id}-v{v.version}.pdf"',
            "X-Heshi-Version": str(v.version),
            "X-Heshi-Sha256": v.sha256,
        },
    )


async def _signing(request: web.Request) -> tuple[Principal, SignatureInput, dict[str, str]]:
    """Who signs, what they submitted, and where from (the IP address and user agent stored)."""
    p = await require_person(request)
    body = await read_json(request, SignatureIn)
    sig = SignatureInput.parse(body.version_sha256, body.name, body.image)
    return p, sig, {"ip": client_address(request), "user_agent": user_agent(request)}


def _signed_response(p: Principal, signed: Signed, number: int, document: str, view: dict[str, Any]) -> web.Response:
    return json_response(
        {
            "signature": signature_view(signed.signature, number=number, staff=p.is_staff),
            "locked": signed.locked,
            "missing": [signer_view(s) for s in signed.missing],
            document: view,
        },
        status=201,
    )


async def sign_agreement(request: web.Request) -> web.StreamResponse:
    p, sig, origin = await _signing(request)
    state, signed = await agreements.sign(request.app[CORE], p, request.match_info["agreement_id"], sig, **origin)
    return _signed_response(p, signed, state.current.record.version, "agreement", agreement_view(state, p))


async def put_seal(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype == "image/png":
        seal = check_png(await request.read(), max_bytes=MAX_SEAL_BYTES)
    else:
        body = await read_json(request, SealIn)
        seal = parse_png_data_url(body.image, max_bytes=MAX_SEAL_BYTES)
    out = await orgs.set_seal(request.app[CORE], p, request.match_info["org_id"], seal)
    return json_response(org_settings_view(out))


async def delete_seal(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    out = await orgs.set_seal(request.app[CORE], p, request.match_info["org_id"], None)
    return json_response(org_settings_view(out))


async def put_court(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    body = await read_json(request, CourtIn)
    org_id = request.match_info["org_id"]
    name = body.name
    if "name" not in body.model_fields_set:  # a new secret or URL keeps the court's name
        name = (await orgs.document_settings(request.app[CORE], p, org_id)).court_name
    out = await orgs.set_court(request.app[CORE], p, org_id, endpoint=body.endpoint, secret=body.secret, name=name)
    return json_response(org_settings_view(out))


async def get_org_documents(request: web.Request) -> web.StreamResponse:
    p = await require_staff(request)
    out = await orgs.document_settings(request.app[CORE], p, request.match_info["org_id"])
    return json_response(org_settings_view(out))


def minutes_signatures_view(m: signatures.MinutesSignatures, p: Principal) -> dict[str, Any]:
    staff = p.is_staff
    return {
        "session_id": m.session_id,
        "revision": m.revision,
        "sha256": m.sha256,
        "locked": m.locked,
        "signatures": [signature_view(s, number=m.revision or 0, staff=staff) for s in m.signatures],
        "required": [signer_view(s) for s in m.required],
        "missing": [signer_view(s) for s in m.missing],
        "earlier_revisions": [
            {
                "revision": number,
                "sha256": sha,
                "signatures": [signature_view(s, number=number, staff=staff) for s in sigs],
            }
            for number, sha, sigs in m.earlier
        ],
    }


async def get_minutes_signatures(request: web.Request) -> web.StreamResponse:
    p = await require_person(request)
    out = await signatures.minutes_signatures(request.app[CORE], p, request.match_info["session_id"])
    return json_response(minutes_signatures_view(out, p))


async def sign_minutes(request: web.Request) -> web.StreamResponse:
    p, sig, origin = await _signing(request)
    state, signed = await signatures.sign_minutes(request.app[CORE], p, request.match_info["session_id"], sig, **origin)
    return _signed_response(p, signed, state.revision or 0, "minutes", minutes_signatures_view(state, p))


A = f"{V1}/agreements/{{agreement_id}}"

ROUTES: list[Route] = [
    Route(
        "GET", f"{V1}/agreement-templates", list_templates, "List the agreement templates, and broken template files"
    ),
    Route(
        "POST",
        f"{V1}/cases/{{case_id}}/agreements",
        create_agreement,
        "Make an agreement (调解协议书) of a case from a template",
        body=AgreementIn,
        status=201,
    ),
    Route(
        "GET",
        f"{V1}/cases/{{case_id}}/agreements",
        list_case_agreements,
        "List a case's agreements (staff, or a party's join link of the case)",
        auth="person",
    ),
    # Before "{agreement_id}": that pattern would also match "<id>.pdf".
    Route(
        "GET",
        f"{A}.pdf",
        agreement_pdf,
        "The agreement as a PDF, with its signatures and the org's seal",
        query=VersionQuery,
        auth="person",
        produces="application/pdf",
    ),
    Route(
        "GET",
        A,
        get_agreement,
        "Read an agreement: current version, sha256, terms, signatures, who must still sign, earlier versions",
        auth="person",
    ),
    Route(
        "POST",
        f"{A}/versions",
        revise_agreement,
        "Change an agreement's text: a new version whose signatures start empty",
        body=VersionIn,
        status=201,
    ),
    Route(
        "GET",
        f"{A}/preview",
        preview_agreement,
        "A version's HTML exactly as stored and signed",
        query=VersionQuery,
        auth="person",
        produces="text/html",
    ),
    Route(
        "POST",
        f"{A}/signatures",
        sign_agreement,
        "Sign the current version (a party with its join cookie, or the case's mediator)",
        body=SignatureIn,
        status=201,
        auth="person",
    ),
    Route("GET", f"{V1}/orgs/{{org_id}}/documents", get_org_documents, "An org's seal and court settings"),
    Route(
        "PUT",
        f"{V1}/orgs/{{org_id}}/seal",
        put_seal,
        "Set the org's seal printed on agreements (admin; a PNG body, or JSON with a data URL)",
        body=SealIn,
    ),
    Route("DELETE", f"{V1}/orgs/{{org_id}}/seal", delete_seal, "Remove the org's seal (admin)"),
    Route(
        "PUT",
        f"{V1}/orgs/{{org_id}}/court",
        put_court,
        "Set the org's court endpoint and HMAC secret for judicial confirmation (admin; the secret is never returned)",
        body=CourtIn,
    ),
    Route(
        "GET",
        f"{V1}/sessions/{{session_id}}/minutes/signatures",
        get_minutes_signatures,
        "Signatures on a session's minutes: the current revision's, who must still sign, earlier revisions'",
        auth="person",
    ),
    Route(
        "POST",
        f"{V1}/sessions/{{session_id}}/minutes/signatures",
        sign_minutes,
        "Sign the current revision of the minutes (a party of the session with its join cookie, or the mediator)",
        body=SignatureIn,
        status=201,
        auth="person",
    ),
]
