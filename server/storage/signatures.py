"""Signatures on exact versions of documents (agreement versions, minutes revisions): named
queries and writes. One signature per signer and version; the image is read on its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import undefer

from .base import Tx
from .models import Signature


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    id: str
    case_id: str
    document: str  # agreement | minutes
    document_id: str  # the agreement, or the session of the minutes
    version_id: str
    version_sha256: str
    signer: str  # party:<party id> | account:<account id>
    signer_role: str
    name: str
    image_sha256: str
    ip: str
    user_agent: str
    actor: str
    at: datetime

    @classmethod
    def of(cls, s: Signature) -> SignatureRecord:
        return cls(
            s.id,
            s.case_id,
            s.document,
            s.document_id,
            s.version_id,
            s.version_sha256,
            s.signer,
            s.signer_role,
            s.name,
            s.image_sha256,
            s.ip,
            s.user_agent,
            s.actor,
            s.at,
        )


class AlreadySigned(Exception):
    """This signer has signed this version already (another request got there first)."""


async def of_document(tx: Tx, document: str, document_id: str) -> list[SignatureRecord]:
    """Every signature on every version of one document, oldest first."""
    rows = await tx.execute(
        select(Signature)
        .where(Signature.document == document, Signature.document_id == document_id)
        .order_by(Signature.at, Signature.id)
    )
    return [SignatureRecord.of(s) for s in rows.scalars()]


async def of_version(tx: Tx, version_id: str) -> list[SignatureRecord]:
    """The signatures on one version, oldest first."""
    rows = await tx.execute(select(Signature).where(Signature.version_id == version_id).order_by(Signature.at))
    return [SignatureRecord.of(s) for s in rows.scalars()]


async def images_of_version(tx: Tx, version_id: str) -> dict[str, bytes]:
    """The signature images of one version, by signer."""
    rows = await tx.execute(
        select(Signature).options(undefer(Signature.image_png)).where(Signature.version_id == version_id)
    )
    return {s.signer: s.image_png for s in rows.scalars()}


async def insert(
    tx: Tx,
    *,
    case_id: str,
    document: str,
    document_id: str,
    version_id: str,
    version_sha256: str,
    signer: str,
    signer_role: str,
    name: str,
    image_png: bytes,
    image_sha256: str,
    ip: str,
    user_agent: str,
    actor: str,
    at: datetime,
) -> SignatureRecord:
    """Store a signature; AlreadySigned when this signer has signed this version."""
    row = Signature(
        case_id=case_id,
        document=document,
        document_id=document_id,
        version_id=version_id,
        version_sha256=version_sha256,
        signer=signer,
        signer_role=signer_role,
        name=name,
        image_png=image_png,
        image_sha256=image_sha256,
        ip=ip[:64],
        user_agent=user_agent[:500],
        actor=actor,
        at=at,
    )
    tx.add(row)
    try:
        await tx.flush()
    except IntegrityError as exc:
        raise AlreadySigned(signer) from exc
    return SignatureRecord.of(row)
