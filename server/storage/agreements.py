"""Agreements (调解协议书) and their versions: named queries and writes.

A version's `html` is the document exactly as rendered and signed; it is read on its own
(`version_html`), since listings never need it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import undefer

from server.domain.errors import Conflict, NotFound

from .base import Tx, found, load
from .models import Agreement, AgreementVersion


@dataclass(frozen=True, slots=True)
class AgreementRecord:
    id: str
    case_id: str
    session_id: str | None
    template: str
    current_version: int
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, a: Agreement) -> AgreementRecord:
        return cls(a.id, a.case_id, a.session_id, a.template, a.current_version, a.created_by, a.created_at)


@dataclass(frozen=True, slots=True)
class VersionRecord:
    id: str
    agreement_id: str
    case_id: str
    version: int
    content: dict[str, Any]
    sha256: str
    actor: str
    at: datetime
    locked_at: datetime | None

    @classmethod
    def of(cls, v: AgreementVersion) -> VersionRecord:
        return cls(v.id, v.agreement_id, v.case_id, v.version, v.content, v.sha256, v.actor, v.at, v.locked_at)


async def load_agreement(tx: Tx, agreement_id: str, *, for_update: bool = False) -> AgreementRecord:
    """The agreement, or NotFound; `for_update` serialises revising and signing it (PostgreSQL)."""
    return AgreementRecord.of(await load(tx, Agreement, agreement_id, "agreement", for_update=for_update))


async def of_case(tx: Tx, case_id: str) -> list[AgreementRecord]:
    """A case's agreements, oldest first."""
    rows = await tx.execute(select(Agreement).where(Agreement.case_id == case_id).order_by(Agreement.created_at))
    return [AgreementRecord.of(a) for a in rows.scalars()]


async def versions(tx: Tx, agreement_id: str) -> list[VersionRecord]:
    """Every version of an agreement, first first."""
    rows = await tx.execute(
        select(AgreementVersion).where(AgreementVersion.agreement_id == agreement_id).order_by(AgreementVersion.version)
    )
    return [VersionRecord.of(v) for v in rows.scalars()]


async def version(tx: Tx, agreement_id: str, number: int) -> VersionRecord:
    """One version of an agreement, or NotFound("agreement version not found")."""
    row = (
        await tx.execute(
            select(AgreementVersion).where(
                AgreementVersion.agreement_id == agreement_id, AgreementVersion.version == number
            )
        )
    ).scalar_one_or_none()
    return VersionRecord.of(found(row, "agreement version", field="version"))


async def version_html(tx: Tx, version_id: str) -> str:
    """The stored HTML of a version: exactly the bytes its sha256 is of."""
    row = (
        await tx.execute(
            select(AgreementVersion).options(undefer(AgreementVersion.html)).where(AgreementVersion.id == version_id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("agreement version not found")
    return row.html


async def insert_agreement(
    tx: Tx, *, case_id: str, session_id: str | None, template: str, created_by: str, now: datetime
) -> AgreementRecord:
    """A new agreement, at version 1 (whose text `insert_version` writes)."""
    row = Agreement(
        case_id=case_id,
        session_id=session_id,
        template=template,
        current_version=1,
        created_by=created_by,
        created_at=now,
    )
    tx.add(row)
    await tx.flush()
    return AgreementRecord.of(row)


async def insert_version(
    tx: Tx,
    *,
    agreement_id: str,
    case_id: str,
    number: int,
    content: dict[str, Any],
    html: str,
    sha256: str,
    actor: str,
    now: datetime,
) -> VersionRecord:
    """Write version `number` and make it the agreement's current one; Conflict when another
    writer made that version first."""
    row = AgreementVersion(
        agreement_id=agreement_id,
        case_id=case_id,
        version=number,
        content=content,
        html=html,
        sha256=sha256,
        actor=actor,
        at=now,
    )
    tx.add(row)
    try:
        await tx.flush()
    except IntegrityError:
        raise Conflict(f"version {number} of this agreement was just made by someone else; reload it") from None
    await tx.execute(update(Agreement).where(Agreement.id == agreement_id).values(current_version=number))
    return VersionRecord.of(row)


async def lock_version(tx: Tx, version_id: str, at: datetime) -> None:
    """Mark a version locked: every required signer has signed it."""
    await tx.execute(
        update(AgreementVersion)
        .where(AgreementVersion.id == version_id, AgreementVersion.locked_at.is_(None))
        .values(locked_at=at)
    )
