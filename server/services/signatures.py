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
from server.domain.agreements import Signer, Signing, check_signable, missing_signers, signer_for
from server.domain.errors import Conflict
from server.domain.signatures import SignatureInput
from server.storage import invitations as stored_invitations
from server.storage import signatures as stored
from server.storage.base import Tx
from server.storage.signatures import SignatureRecord

from . import eventlog


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
