"""Evidence exports of a case: their rows, and what a package is made of, as named queries.

An export is a row, never a task in memory: any node's builder claims a queued one with one
conditional UPDATE (queued -> running), so two nodes never build the same one, and writes the
outcome only while it is still running (done or failed). A build cut off by a node that
stopped is failed by the next sweep (`stale_running`), and can be requested again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from server.domain.evidence import ExportStatus

from .base import Tx, load
from .models import CaseExport, RecordingComposite, RecordingSegment, Signature, new_id
from .recordings import CompositeRecord
from .signatures import SignatureRecord

MAX_ERROR = 400  # the column's width


@dataclass(frozen=True, slots=True)
class ExportRecord:
    id: str
    case_id: str
    status: str
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    path: str | None  # relative to the data directory
    sha256: str | None
    bytes: int | None
    manifest_sha256: str | None
    checkpoint_seq: int | None
    error: str | None

    @classmethod
    def of(cls, e: CaseExport) -> ExportRecord:
        return cls(
            e.id,
            e.case_id,
            e.status,
            e.created_by,
            e.created_at,
            e.finished_at,
            e.path,
            e.sha256,
            e.bytes,
            e.manifest_sha256,
            e.checkpoint_seq,
            e.error,
        )


async def insert(tx: Tx, *, case_id: str, created_by: str, now: datetime) -> ExportRecord:
    """A new export, queued."""
    row = CaseExport(
        id=new_id(), case_id=case_id, status=ExportStatus.queued.value, created_by=created_by, created_at=now
    )
    tx.add(row)
    await tx.flush()
    return ExportRecord.of(row)


async def load_export(tx: Tx, export_id: str) -> ExportRecord:
    """The export, or NotFound("export not found")."""
    return ExportRecord.of(await load(tx, CaseExport, export_id, "export"))


async def for_case(tx: Tx, case_id: str) -> list[ExportRecord]:
    """A case's exports, newest first."""
    rows = await tx.execute(
        select(CaseExport).where(CaseExport.case_id == case_id).order_by(CaseExport.created_at.desc(), CaseExport.id)
    )
    return [ExportRecord.of(e) for e in rows.scalars()]


async def open_for_case(tx: Tx, case_id: str) -> ExportRecord | None:
    """The case's export being built (queued or running), if any."""
    row = (
        await tx.execute(
            select(CaseExport)
            .where(
                CaseExport.case_id == case_id,
                CaseExport.status.in_((ExportStatus.queued.value, ExportStatus.running.value)),
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    return ExportRecord.of(row) if row is not None else None


async def queued_ids(tx: Tx) -> list[str]:
    """Exports waiting for a builder, oldest first."""
    rows = await tx.execute(
        select(CaseExport.id).where(CaseExport.status == ExportStatus.queued.value).order_by(CaseExport.created_at)
    )
    return list(rows.scalars())


async def claim(tx: Tx, export_id: str) -> ExportRecord | None:
    """Take a queued export to build (queued -> running); None when another builder has it."""
    result = await tx.execute(
        update(CaseExport)
        .where(CaseExport.id == export_id, CaseExport.status == ExportStatus.queued.value)
        .values(status=ExportStatus.running.value)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await load_export(tx, export_id)


async def finish(
    tx: Tx, export_id: str, *, status: ExportStatus, now: datetime, error: str | None = None, **done: Any
) -> ExportRecord | None:
    """A running export built (`done`: path, sha256, bytes, manifest_sha256, checkpoint_seq) or
    failed; None when it is not running any more (a sweep failed it meanwhile)."""
    result = await tx.execute(
        update(CaseExport)
        .where(CaseExport.id == export_id, CaseExport.status == ExportStatus.running.value)
        .values(status=status.value, finished_at=now, error=error[:MAX_ERROR] if error else None, **done)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await load_export(tx, export_id)


async def requeue(tx: Tx, export_id: str) -> bool:
    """A running export back to queued (its builder stopped cleanly before finishing it)."""
    result = await tx.execute(
        update(CaseExport)
        .where(CaseExport.id == export_id, CaseExport.status == ExportStatus.running.value)
        .values(status=ExportStatus.queued.value)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def stale_running(tx: Tx, created_before: datetime) -> list[ExportRecord]:
    """Exports still running that were asked for before `created_before`."""
    rows = await tx.execute(
        select(CaseExport).where(
            CaseExport.status == ExportStatus.running.value, CaseExport.created_at < created_before
        )
    )
    return [ExportRecord.of(e) for e in rows.scalars()]


# ---- what a package is made of -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """A recording segment of the case, deleted by retention or not."""

    id: str
    recording_id: str
    session_id: str
    pid: str
    kind: str
    track: str
    index: int
    path: str  # relative to the data directory
    sha256: str
    bytes: int
    deleted_at: datetime | None


async def segments_of_case(tx: Tx, case_id: str) -> list[SegmentFile]:
    rows = await tx.execute(
        select(RecordingSegment)
        .where(RecordingSegment.case_id == case_id)
        .order_by(RecordingSegment.session_id, RecordingSegment.first_wallclock, RecordingSegment.id)
    )
    return [
        SegmentFile(
            g.id, g.recording_id, g.session_id, g.pid, g.kind, g.track, g.index, g.path, g.sha256, g.bytes, g.deleted_at
        )
        for g in rows.scalars()
    ]


async def composites_of_case(tx: Tx, case_id: str) -> list[CompositeRecord]:
    rows = await tx.execute(
        select(RecordingComposite).where(RecordingComposite.case_id == case_id).order_by(RecordingComposite.session_id)
    )
    return [CompositeRecord.of(c) for c in rows.scalars()]


async def signatures_of_case(tx: Tx, case_id: str) -> list[tuple[SignatureRecord, bytes]]:
    """Every signature on every document of the case, oldest first, with its image."""
    rows = await tx.execute(
        select(Signature)
        .options(undefer(Signature.image_png))
        .where(Signature.case_id == case_id)
        .order_by(Signature.at, Signature.id)
    )
    return [(SignatureRecord.of(s), bytes(s.image_png)) for s in rows.scalars()]
