"""Judicial-confirmation requests and their deliveries: named queries and writes.

A request is a row, never a task in memory: any node's delivery loop claims a due one with a
lease (`claim_due`: one conditional UPDATE, so two nodes never hold it at once; a lease left
behind by a node that died runs out and the row is claimed again), sends it, and then writes
what happened with the lease it holds as its token (`finish_attempt`): a node whose lease ran
out and was taken over writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from server.domain.confirmation import RequestStatus

from .base import Tx, load
from .models import ConfirmationRequest, new_id


@dataclass(frozen=True, slots=True)
class ConfirmationRecord:
    id: str
    case_id: str
    agreement_id: str
    agreement_version_id: str
    endpoint: str
    package_path: str  # relative to the data directory
    package_sha256: str
    package_bytes: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    lease_until: datetime | None
    last_error: str | None
    created_by: str
    created_at: datetime
    queued_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, r: ConfirmationRequest) -> ConfirmationRecord:
        return cls(
            r.id,
            r.case_id,
            r.agreement_id,
            r.agreement_version_id,
            r.endpoint,
            r.package_path,
            r.package_sha256,
            r.package_bytes,
            r.status,
            r.attempts,
            r.next_attempt_at,
            r.lease_until,
            r.last_error,
            r.created_by,
            r.created_at,
            r.queued_at,
            r.delivered_at,
        )


MAX_ERROR = 500  # the column's width


def new_request_id() -> str:
    """An id for a request about to be made (its package is written under it first)."""
    return new_id()


async def insert(
    tx: Tx,
    *,
    request_id: str,
    case_id: str,
    agreement_id: str,
    agreement_version_id: str,
    endpoint: str,
    package_path: str,
    package_sha256: str,
    package_bytes: int,
    created_by: str,
    now: datetime,
) -> ConfirmationRecord:
    """A new pending request, due now."""
    row = ConfirmationRequest(
        id=request_id,
        case_id=case_id,
        agreement_id=agreement_id,
        agreement_version_id=agreement_version_id,
        endpoint=endpoint,
        package_path=package_path,
        package_sha256=package_sha256,
        package_bytes=package_bytes,
        status=RequestStatus.pending.value,
        attempts=0,
        next_attempt_at=now,
        lease_until=None,
        last_error=None,
        created_by=created_by,
        created_at=now,
        queued_at=now,
        delivered_at=None,
    )
    tx.add(row)
    await tx.flush()
    return ConfirmationRecord.of(row)


async def load_request(tx: Tx, request_id: str) -> ConfirmationRecord:
    """The request, or NotFound("confirmation request not found")."""
    return ConfirmationRecord.of(await load(tx, ConfirmationRequest, request_id, "confirmation request"))


async def for_case(tx: Tx, case_id: str) -> list[ConfirmationRecord]:
    """A case's requests, newest first."""
    rows = (
        await tx.execute(
            select(ConfirmationRequest)
            .where(ConfirmationRequest.case_id == case_id)
            .order_by(ConfirmationRequest.created_at.desc(), ConfirmationRequest.id)
        )
    ).scalars()
    return [ConfirmationRecord.of(r) for r in rows]


async def open_for_version(tx: Tx, agreement_version_id: str) -> ConfirmationRecord | None:
    """A request for this version that is pending or delivered (a failed one may be retried)."""
    row = (
        (
            await tx.execute(
                select(ConfirmationRequest).where(
                    ConfirmationRequest.agreement_version_id == agreement_version_id,
                    ConfirmationRequest.status != RequestStatus.failed.value,
                )
            )
        )
        .scalars()
        .first()
    )
    return ConfirmationRecord.of(row) if row is not None else None


def _claimable(now: datetime):  # type: ignore[no-untyped-def]
    return and_(
        ConfirmationRequest.status == RequestStatus.pending.value,
        ConfirmationRequest.next_attempt_at <= now,
        or_(ConfirmationRequest.lease_until.is_(None), ConfirmationRequest.lease_until <= now),
    )


async def due_ids(tx: Tx, now: datetime, *, limit: int = 10) -> list[str]:
    """Requests due now and not leased (a cheap read: the loop polls it)."""
    q = (
        select(ConfirmationRequest.id)
        .where(_claimable(now))
        .order_by(ConfirmationRequest.next_attempt_at, ConfirmationRequest.id)
        .limit(limit)
    )
    return list((await tx.execute(q)).scalars())


async def claim(tx: Tx, request_id: str, now: datetime, lease_until: datetime) -> ConfirmationRecord | None:
    """Lease one due request until `lease_until`, in one conditional statement: None when
    another node claimed it first (or it is no longer due). The lease is the holder's token."""
    result = await tx.execute(
        update(ConfirmationRequest)
        .where(ConfirmationRequest.id == request_id, _claimable(now))
        .values(lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await load_request_fresh(tx, request_id)


async def load_request_fresh(tx: Tx, request_id: str) -> ConfirmationRecord:
    """The request as the database has it now (not a copy this transaction loaded before)."""
    row = (
        (
            await tx.execute(
                select(ConfirmationRequest)
                .where(ConfirmationRequest.id == request_id)
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .one()
    )
    return ConfirmationRecord.of(row)


async def finish_attempt(
    tx: Tx,
    request_id: str,
    lease_until: datetime,
    *,
    status: RequestStatus,
    attempts: int,
    next_attempt_at: datetime | None,
    error: str | None,
    now: datetime,
) -> ConfirmationRecord | None:
    """Write one attempt's result, if the caller still holds the lease it claimed with (None
    when it ran out and another node took the request). Releases the lease."""
    values: dict[str, object] = {
        "status": status.value,
        "attempts": attempts,
        "next_attempt_at": next_attempt_at,
        "lease_until": None,
        "last_error": error[:MAX_ERROR] if error else None,
    }
    if status is RequestStatus.delivered:
        values["delivered_at"] = now
    result = await tx.execute(
        update(ConfirmationRequest)
        .where(
            ConfirmationRequest.id == request_id,
            ConfirmationRequest.status == RequestStatus.pending.value,
            ConfirmationRequest.lease_until == lease_until,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await load_request_fresh(tx, request_id)


async def requeue(tx: Tx, request_id: str, now: datetime) -> ConfirmationRecord | None:
    """Queue a failed request again, due now, with a new 48 hours; None when it is not failed."""
    result = await tx.execute(
        update(ConfirmationRequest)
        .where(ConfirmationRequest.id == request_id, ConfirmationRequest.status == RequestStatus.failed.value)
        .values(status=RequestStatus.pending.value, next_attempt_at=now, queued_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return await load_request_fresh(tx, request_id)
