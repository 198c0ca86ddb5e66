"""Signing one exact version of a document (an agreement version, a minutes revision).

The rules are the domain's (`server.domain.agreements`: who signs as whom, only the current
version, once; `server.domain.signatures`: the image and the name). This module applies them
inside the caller's write transaction, stores the signature and writes `<document>.signed`,
and `<document>.locked` when the last required signer has signed, into the case log with the
actor who signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.domain.access import Principal, PrincipalKind
from server.domain.actors import Actor
from server.domain.agreements import (
    PartyFacts,
    Signer,
    Signing,
    check_signable,
    ensure_case_takes_signatures,
    ensure_read_minutes_signatures,
    missing_signers,
    required_signers,
    signer_for,
)
from server.domain.errors import Conflict
from server.domain.signatures import SignatureInput
from server.storage import cases as stored_cases
from server.storage import invitations as stored_invitations
from server.storage import minutes as stored_minutes
from server.storage import sessions as stored_sessions
from server.storage import signatures as stored
from server.storage.base import Tx
from server.storage.cases import CaseRecord
from server.storage.minutes import MinutesRevisionRecord
from server.storage.signatures import SignatureRecord

from . import eventlog
from .core import Core


@dataclass(frozen=True)
class Signed:
    signature: SignatureRecord
    locked: bool  # this signature was the last one the version needed
    missing: tuple[Signer, ...]


@dataclass(frozen=True)
class Version:
    """The version being signed: which document, which version, its SHA-256, who must sign."""

    document: str  # agreement | minutes
    document_id: str  # the agreement id, or the session id of the minutes
    id_field: str  # how the log names the document: agreement_id | session_id
    version_id: str
    number: int
    number_field: str  # version | revision
    sha256: str
    case_id: str
    session_id: str | None
    required: tuple[Signer, ...]


async def signing_of(
    tx: Tx, p: Principal, *, case_id: str, mediator_id: str | None, required: Sequence[Signer], session_id: str | None
) -> Signing:
    """Whom `p` signs as (the domain decides from their link or account)."""
    inv = (
        await stored_invitations.invitation_or_none(tx, p.invitation_id) if p.kind is PrincipalKind.invitation else None
    )
    return signer_for(
        p,
        case_id=case_id,
        mediator_id=mediator_id,
        required=required,
        invitation_party_id=inv.party_id if inv is not None else None,
        invitation_account_id=inv.account_id if inv is not None else None,
        session_id=session_id,
    )


async def sign_version(
    tx: Tx,
    v: Version,
    signing: Signing,
    sig: SignatureInput,
    *,
    ip: str,
    user_agent: str,
    actor: Actor,
    now: datetime,
) -> Signed:
    """Sign the current version `v` as `signing.signer`; Conflict for another version or a second
    signature. The caller holds the document's lock (its row, for update)."""
    signed = [s.signer for s in await stored.of_version(tx, v.version_id)]
    check_signable(
        current_version=v.number,
        current_sha256=v.sha256,
        given_sha256=sig.version_sha256,
        signer_key=signing.signer.key,
        signed=signed,
    )
    try:
        record = await stored.insert(
            tx,
            case_id=v.case_id,
            document=v.document,
            document_id=v.document_id,
            version_id=v.version_id,
            version_sha256=v.sha256,
            signer=signing.signer.key,
            signer_role=signing.as_role,
            name=sig.name,
            image_png=sig.image.data,
            image_sha256=sig.image.sha256,
            ip=ip,
            user_agent=user_agent,
            actor=str(actor),
            at=now,
        )
    except stored.AlreadySigned:
        raise Conflict("you have already signed this version", reason="already_signed") from None
    head: dict[str, Any] = {v.id_field: v.document_id, v.number_field: v.number}
    await eventlog.append(
        tx,
        case_id=v.case_id,
        kind=f"{v.document}.signed",
        actor=actor,
        at=now,
        session_id=v.session_id,
        data={
            **head,
            "signer": signing.signer.key,
            "signer_role": signing.signer.role,
            "signed_as": signing.as_role,
            "name": sig.name,
            "version_sha256": v.sha256,
            "image_sha256": sig.image.sha256,
            "ip": record.ip,
            "user_agent": record.user_agent,
        },
    )
    missing = missing_signers(v.required, [*signed, signing.signer.key])
    if not missing:
        await eventlog.append(
            tx,
            case_id=v.case_id,
            kind=f"{v.document}.locked",
            actor=actor,
            at=now,
            session_id=v.session_id,
            data={**head, "sha256": v.sha256, "signers": [s.key for s in v.required]},
        )
    return Signed(record, locked=not missing, missing=missing)


# ---- the minutes of a session ------------------------------------------------------------------

MINUTES = "minutes"


@dataclass(frozen=True)
class MinutesSignatures:
    """The signatures on a session's minutes: the current revision's, who must still sign it,
    and the earlier revisions' (which keep theirs)."""

    session_id: str
    revision: int | None  # None: nothing saved yet
    sha256: str | None
    required: tuple[Signer, ...]
    signatures: tuple[SignatureRecord, ...]  # on the current revision
    earlier: tuple[tuple[int, str, tuple[SignatureRecord, ...]], ...]  # (revision, sha256, signatures)

    @property
    def missing(self) -> tuple[Signer, ...]:
        return missing_signers(self.required, [s.signer for s in self.signatures])

    @property
    def locked(self) -> bool:
        return self.revision is not None and not self.missing


async def minutes_signers(tx: Tx, case: CaseRecord, session_id: str) -> tuple[Signer, ...]:
    """Who signs a session's minutes: the parties of the case holding an invitation to that
    session (not revoked), in the case's order, and the case's mediator."""
    invited = {
        i.party_id
        for i in await stored_invitations.invitations_of_case(tx, case.id)
        if i.session_id == session_id and i.party_id and i.revoked_at is None
    }
    return required_signers(
        [PartyFacts(p.id, p.side, p.name) for p in case.parties if p.id in invited],
        case.mediator_id,
        case.mediator.display_name if case.mediator else None,
    )


async def signers_to_store(tx: Tx, case: CaseRecord, session_id: str) -> list[dict[str, str]] | None:
    """Who must sign a revision of the minutes saved now, kept with it (None when that cannot be
    said yet: the case has no mediator; it is then worked out when someone signs)."""
    try:
        signers = await minutes_signers(tx, case, session_id)
    except Conflict:
        return None
    return [{"key": s.key, "role": s.role, "name": s.name} for s in signers]


async def revision_signers(
    tx: Tx, case: CaseRecord, session_id: str, revision: MinutesRevisionRecord | None
) -> tuple[Signer, ...]:
    """Who must sign `revision`: as kept when it was saved, so that an invitation issued or
    revoked afterwards does not change what locks it; worked out now for a revision without."""
    if revision is not None and revision.signers is not None:
        return tuple(Signer(s["key"], s["role"], s["name"]) for s in revision.signers)
    return await minutes_signers(tx, case, session_id)


async def _minutes_state(tx: Tx, case: CaseRecord, session_id: str) -> MinutesSignatures:
    required = await revision_signers(tx, case, session_id, await stored_minutes.current(tx, session_id))
    history = await stored_minutes.revisions(tx, session_id)
    numbers = {r.id: r.revision for r in history}
    current = max(history, key=lambda r: r.revision) if history else None
    by_revision: dict[str, list[SignatureRecord]] = {}
    for s in await stored.of_document(tx, MINUTES, session_id):
        by_revision.setdefault(s.version_id, []).append(s)
    earlier = sorted(
        (numbers.get(version_id, 0), signed[0].version_sha256, tuple(signed))
        for version_id, signed in by_revision.items()
        if current is None or version_id != current.id
    )
    return MinutesSignatures(
        session_id=session_id,
        revision=current.revision if current else None,
        sha256=current.sha256 if current else None,
        required=required,
        signatures=tuple(by_revision.get(current.id, [])) if current else (),
        earlier=tuple(earlier),
    )


async def _minutes_case(tx: Tx, core: Core, p: Principal, session_id: str) -> CaseRecord:
    session = await stored_sessions.load_session(tx, session_id)
    case = await stored_cases.load_case(tx, session.case_id)
    ensure_read_minutes_signatures(p, await stored_cases.scope(tx, case, core.clock.now()), session_id)
    return case


async def minutes_signatures(core: Core, p: Principal, session_id: str) -> MinutesSignatures:
    """The signatures on a session's minutes, for someone who reads those minutes."""
    async with core.db.read() as tx:
        case = await _minutes_case(tx, core, p, session_id)
        return await _minutes_state(tx, case, session_id)


async def sign_minutes(
    core: Core, p: Principal, session_id: str, sig: SignatureInput, *, ip: str, user_agent: str
) -> tuple[MinutesSignatures, Signed]:
    """Sign the current revision of a session's minutes, as a party of that session (through its
    own link) or as the case's mediator. The last required signature locks the revision (a
    `minutes.locked` entry); a later revision needs new signatures."""
    now = core.clock.now()
    actor = Actor.of(p)
    async with core.db.write() as tx:
        session = await stored_sessions.load_session(tx, session_id, for_update=True)
        case = await stored_cases.load_case(tx, session.case_id)
        if p.is_staff:
            ensure_read_minutes_signatures(p, await stored_cases.scope(tx, case, now), session_id)
        current = await stored_minutes.current(tx, session_id)
        if current is None:
            raise Conflict("there are no minutes to sign yet", reason="no_minutes")
        ensure_case_takes_signatures(MINUTES, case.status)
        required = await revision_signers(tx, case, session_id, current)
        signing = await signing_of(
            tx, p, case_id=case.id, mediator_id=case.mediator_id, required=required, session_id=session_id
        )
        version = Version(
            document=MINUTES,
            document_id=session_id,
            id_field="session_id",
            version_id=current.id,
            number=current.revision,
            number_field="revision",
            sha256=current.sha256,
            case_id=case.id,
            session_id=session_id,
            required=required,
        )
        signed = await sign_version(tx, version, signing, sig, ip=ip, user_agent=user_agent, actor=actor, now=now)
        return await _minutes_state(tx, case, session_id), signed
