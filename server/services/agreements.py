"""Agreements (调解协议书): made from a template, revised in versions, signed, printed as PDF.

Each version's HTML is rendered once from its template and stored with the SHA-256 of its
UTF-8 bytes: the preview serves exactly those bytes, signatures name that hash, and the PDF
is that HTML with the signature images and the org's seal put in their places. Every write
goes into the case log with its actor: `agreement.created`, `agreement.revised`,
`agreement.signed`, `agreement.locked`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.domain.access import Principal
from server.domain.actors import Actor
from server.domain.agreements import (
    AgreementText,
    PartyFacts,
    Signer,
    ensure_case_takes_signatures,
    ensure_link_reaches_agreement,
    ensure_read_agreements,
    ensure_write_agreements,
    link_reaches_agreement,
    missing_signers,
    required_signers,
)
from server.domain.cases import mask_id_number, mask_phone
from server.domain.clock import LOCAL_TZ
from server.domain.errors import Conflict, NotFound, ValidationFailed
from server.domain.signatures import DATA_URL_PREFIX, SignatureInput
from server.storage import accounts as stored_accounts
from server.storage import agreements as stored
from server.storage import cases as stored_cases
from server.storage import sessions as stored_sessions
from server.storage import signatures as stored_signatures
from server.storage.agreements import AgreementRecord, VersionRecord
from server.storage.base import Tx
from server.storage.cases import CaseRecord
from server.storage.signatures import SignatureRecord

from . import eventlog, pdf
from .agreement_templates import DISPUTE_TYPE_ZH, SIDE_ZH, Catalog, cn_date, fill_places, load_catalog
from .core import Core
from .signatures import Signed, Version, sign_version, signing_of

DOCUMENT = "agreement"


@dataclass(frozen=True)
class VersionState:
    """One version with its signatures, and who must still sign it."""

    record: VersionRecord
    signatures: tuple[SignatureRecord, ...]
    required: tuple[Signer, ...]

    @property
    def missing(self) -> tuple[Signer, ...]:
        return missing_signers(self.required, [s.signer for s in self.signatures])

    @property
    def locked(self) -> bool:
        return self.record.locked_at is not None


@dataclass(frozen=True)
class AgreementState:
    agreement: AgreementRecord
    case_number: str
    versions: tuple[VersionState, ...]  # first first

    @property
    def current(self) -> VersionState:
        return next(v for v in self.versions if v.record.version == self.agreement.current_version)


def catalog(core: Core) -> Catalog:
    """The agreement templates (built-in and the admin's), and the files that are broken."""
    return load_catalog(core.settings)


def required_of(v: VersionRecord) -> tuple[Signer, ...]:
    """The signers a version needs, as written into it when it was made."""
    return tuple(Signer(s["key"], s["role"], s["name"]) for s in v.content.get("signers", []))


def _content(
    case: CaseRecord, org_name: str, template: str, text: AgreementText, number: int, now: datetime
) -> dict[str, Any]:
    """Everything a template renders, as stored with the version (personal numbers masked)."""
    parties = [
        {
            "id": p.id,
            "side": p.side,
            "side_zh": SIDE_ZH.get(p.side, p.side),
            "name": p.name,
            "id_number": mask_id_number(p.id_number),
            "phone": mask_phone(p.phone),
            "agent_name": p.agent_name,
            "signer": f"party:{p.id}",
        }
        for p in case.parties
    ]
    signers = required_signers(
        [PartyFacts(p.id, p.side, p.name) for p in case.parties],
        case.mediator_id,
        case.mediator.display_name if case.mediator else None,
    )
    local = now.astimezone(LOCAL_TZ).date()
    return {
        "template": template,
        "version": number,
        "case": {
            "id": case.id,
            "number": case.number,
            "title": case.title,
            "dispute_type": case.dispute_type,
            "dispute_type_zh": DISPUTE_TYPE_ZH.get(case.dispute_type, case.dispute_type),
        },
        "org": {"id": case.org_id, "name": org_name},
        "mediator": {
            "id": case.mediator_id,
            "name": case.mediator.display_name if case.mediator else "",
            "signer": signers[-1].key,
        },
        "parties": parties,
        "applicants": [p for p in parties if p["side"] == "applicant"],
        "respondents": [p for p in parties if p["side"] == "respondent"],
        **text.as_dict(),
        "signers": [{"key": s.key, "role": s.role, "name": s.name} for s in signers],
        "copies": len(parties) + 1,
        "date": local.isoformat(),
        "date_cn": cn_date(local),
    }


def _sha256(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


async def _scoped_case(tx: Tx, core: Core, p: Principal, case_id: str) -> CaseRecord:
    case = await stored_cases.load_case(tx, case_id)
    try:
        ensure_read_agreements(p, await stored_cases.scope(tx, case, core.clock.now()))
    except NotFound:
        raise NotFound("case not found") from None
    return case


async def _readable(
    tx: Tx, core: Core, p: Principal, agreement_id: str, *, for_update: bool = False
) -> tuple[AgreementRecord, CaseRecord]:
    agreement = await stored.load_agreement(tx, agreement_id, for_update=for_update)
    case = await stored_cases.load_case(tx, agreement.case_id)
    ensure_read_agreements(p, await stored_cases.scope(tx, case, core.clock.now()))
    ensure_link_reaches_agreement(p, agreement.session_id)
    return agreement, case


async def _state(tx: Tx, agreement: AgreementRecord, case_number: str) -> AgreementState:
    sigs = await stored_signatures.of_document(tx, DOCUMENT, agreement.id)
    versions = tuple(
        VersionState(v, tuple(s for s in sigs if s.version_id == v.id), required_of(v))
        for v in await stored.versions(tx, agreement.id)
    )
    return AgreementState(agreement, case_number, versions)


async def create(
    core: Core,
    p: Principal,
    case_id: str,
    *,
    template: str,
    terms: object,
    facts: str | None = None,
    matters: str | None = None,
    session_id: str | None = None,
) -> AgreementState:
    """Make an agreement of a case from a template (the case's mediators); facts default to the
    case's summary. Version 1 is rendered, stored and logged."""
    text_facts = facts
    cat = catalog(core)
    info = cat.get(template)
    now = core.clock.now()
    actor = Actor.of(p)
    async with core.db.write() as tx:
        case = await stored_cases.load_case(tx, case_id)
        ensure_write_agreements(p, await stored_cases.scope(tx, case, now))
        if not info.fits(case.dispute_type):
            raise ValidationFailed(
                f"template: '{info.id}' is for {', '.join(info.dispute_types)}, not for a {case.dispute_type} dispute",
                fields={"template": "wrong_dispute_type"},
            )
        if session_id is not None:
            session = await stored_sessions.load_session(tx, session_id)
            if session.case_id != case.id:
                raise ValidationFailed("session_id: not a session of this case", fields={"session_id": "not_found"})
        text = AgreementText.check(
            facts=case.summary if text_facts is None else text_facts, matters=matters or "", terms=terms
        )
        agreement = await stored.insert_agreement(
            tx, case_id=case.id, session_id=session_id, template=info.id, created_by=str(actor), now=now
        )
        v = await _write_version(tx, cat, case, agreement, text, 1, actor, now)
        await eventlog.append(
            tx,
            case_id=case.id,
            kind="agreement.created",
            actor=actor,
            at=now,
            session_id=session_id,
            data={
                "agreement_id": agreement.id,
                "template": info.id,
                "version": 1,
                "sha256": v.sha256,
                "terms": len(text.terms),
            },
        )
        agreement = await stored.load_agreement(tx, agreement.id)
        return await _state(tx, agreement, case.number)


async def _write_version(
    tx: Tx,
    cat: Catalog,
    case: CaseRecord,
    agreement: AgreementRecord,
    text: AgreementText,
    number: int,
    actor: Actor,
    now: datetime,
) -> VersionRecord:
    """Render version `number` of an agreement from its template and store it, with the SHA-256
    of exactly the HTML rendered (what the parties read and sign)."""
    org = await stored_accounts.load_org(tx, case.org_id)
    content = _content(case, org.name, agreement.template, text, number, now)
    html = cat.render(agreement.template, content)
    return await stored.insert_version(
        tx,
        agreement_id=agreement.id,
        case_id=case.id,
        number=number,
        content=content,
        html=html,
        sha256=_sha256(html),
        actor=str(actor),
        now=now,
    )


async def revise(
    core: Core,
    p: Principal,
    agreement_id: str,
    *,
    terms: object,
    facts: str | None = None,
    matters: str | None = None,
    based_on: int | None = None,
) -> AgreementState:
    """Change an agreement: a new version, rendered from the same template, whose signatures
    start empty (the earlier versions keep theirs). Facts and matters left out stay as they
    were. `based_on`, when given, must be the current version (else Conflict)."""
    now = core.clock.now()
    actor = Actor.of(p)
    async with core.db.write() as tx:
        agreement = await stored.load_agreement(tx, agreement_id, for_update=True)
        case = await stored_cases.load_case(tx, agreement.case_id)
        scope = await stored_cases.scope(tx, case, now)
        try:
            ensure_write_agreements(p, scope)
        except NotFound:
            raise NotFound("agreement not found") from None
        if based_on is not None and based_on != agreement.current_version:
            raise Conflict(
                f"the agreement is at version {agreement.current_version}, not {based_on}: reload it",
                reason="stale_version",
                current_version=agreement.current_version,
            )
        previous = await stored.version(tx, agreement.id, agreement.current_version)
        text = AgreementText.check(
            facts=previous.content.get("facts", "") if facts is None else facts,
            matters=previous.content.get("matters", "") if matters is None else matters,
            terms=terms,
        )
        number = agreement.current_version + 1
        v = await _write_version(tx, catalog(core), case, agreement, text, number, actor, now)
        await eventlog.append(
            tx,
            case_id=case.id,
            kind="agreement.revised",
            actor=actor,
            at=now,
            session_id=agreement.session_id,
            data={
                "agreement_id": agreement.id,
                "version": number,
                "sha256": v.sha256,
                "previous_version": previous.version,
                "previous_sha256": previous.sha256,
                "terms": len(text.terms),
            },
        )
        agreement = await stored.load_agreement(tx, agreement.id)
        return await _state(tx, agreement, case.number)


async def get(core: Core, p: Principal, agreement_id: str) -> AgreementState:
    """An agreement with every version and its signatures, for someone who may read it."""
    async with core.db.read() as tx:
        agreement, case = await _readable(tx, core, p, agreement_id)
        return await _state(tx, agreement, case.number)


async def list_for_case(core: Core, p: Principal, case_id: str) -> list[AgreementState]:
    """A case's agreements, oldest first."""
    async with core.db.read() as tx:
        case = await _scoped_case(tx, core, p, case_id)
        return [
            await _state(tx, a, case.number)
            for a in await stored.of_case(tx, case.id)
            if link_reaches_agreement(p, a.session_id)
        ]


async def _version_of(tx: Tx, agreement: AgreementRecord, number: int | None) -> VersionRecord:
    return await stored.version(tx, agreement.id, agreement.current_version if number is None else number)


async def preview(core: Core, p: Principal, agreement_id: str, version: int | None = None) -> tuple[VersionRecord, str]:
    """A version's HTML exactly as stored and signed (its sha256 is of these bytes)."""
    async with core.db.read() as tx:
        agreement, _ = await _readable(tx, core, p, agreement_id)
        v = await _version_of(tx, agreement, version)
        return v, await stored.version_html(tx, v.id)


def _local_day(at: datetime) -> str:
    d = at.astimezone(LOCAL_TZ)
    return f"{d.year}年{d.month}月{d.day}日"


async def pdf_of(
    core: Core, p: Principal, agreement_id: str, version: int | None = None
) -> tuple[VersionRecord, bytes]:
    """A version as PDF: its stored HTML with the signatures drawn on it and the org's seal."""
    async with core.db.read() as tx:
        agreement, case = await _readable(tx, core, p, agreement_id)
        v = await _version_of(tx, agreement, version)
        html = await stored.version_html(tx, v.id)
        images = await stored_signatures.images_of_version(tx, v.id)
        sigs = await stored_signatures.of_version(tx, v.id)
        seal = await stored_accounts.seal_of(tx, case.org_id)
    b64 = base64.b64encode
    placed = {s.signer: (DATA_URL_PREFIX + b64(images[s.signer]).decode("ascii"), _local_day(s.at)) for s in sigs}
    seal_url = DATA_URL_PREFIX + b64(seal).decode("ascii") if seal else None
    return v, await pdf.render(fill_places(html, placed, seal_url))


async def sign(
    core: Core, p: Principal, agreement_id: str, sig: SignatureInput, *, ip: str, user_agent: str
) -> tuple[AgreementState, Signed]:
    """Sign the agreement's current version, as a party (through its own link) or as the case's
    mediator. The last required signature locks the version."""
    now = core.clock.now()
    actor = Actor.of(p)
    async with core.db.write() as tx:
        agreement = await stored.load_agreement(tx, agreement_id, for_update=True)
        case = await stored_cases.load_case(tx, agreement.case_id)
        if p.is_staff:  # staff outside the case's scope learn nothing; a link is checked by its case
            ensure_read_agreements(p, await stored_cases.scope(tx, case, now))
        ensure_link_reaches_agreement(p, agreement.session_id)
        ensure_case_takes_signatures(DOCUMENT, case.status)
        current = await stored.version(tx, agreement.id, agreement.current_version)
        required = required_of(current)
        signing = await signing_of(
            tx, p, case_id=case.id, mediator_id=case.mediator_id, required=required, session_id=None
        )
        version = Version(
            document=DOCUMENT,
            document_id=agreement.id,
            id_field="agreement_id",
            version_id=current.id,
            number=current.version,
            number_field="version",
            sha256=current.sha256,
            case_id=case.id,
            session_id=agreement.session_id,
            required=required,
        )
        signed = await sign_version(tx, version, signing, sig, ip=ip, user_agent=user_agent, actor=actor, now=now)
        if signed.locked:
            await stored.lock_version(tx, current.id, now)
        return await _state(tx, agreement, case.number), signed
