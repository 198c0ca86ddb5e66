"""What every storage module shares: the transaction type callers hold, and the two reads
every aggregate needs ("load or NotFound", "list for a case"), written once.

Callers outside `server/storage` hold a `Tx` without knowing it is SQLAlchemy's session:
they open one with `Database.read()` / `Database.write()` and pass it to the named queries
and writes of the storage modules. Nothing outside this package imports SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from server.domain.errors import NotFound

from .models import Base

Tx = AsyncSession
"""One unit of work: a read or a write transaction, opened by `Database`."""

M = TypeVar("M", bound=Base)


async def load(
    tx: Tx,
    model: type[M],
    row_id: Any,
    what: str,
    *,
    field: str | None = None,
    for_update: bool = False,
) -> M:
    """The row with this primary key, or NotFound("<what> not found"). `field` names the input
    that pointed at it, so the client gets `fields={field: "not_found"}`; `for_update` locks
    the row until the transaction ends (PostgreSQL; SQLite's single writer already does)."""
    row = await tx.get(model, row_id, with_for_update={"of": model} if for_update else None) if row_id else None
    return found(row, what, field=field)


T = TypeVar("T")


def found(row: T | None, what: str, *, field: str | None = None) -> T:
    """`row`, or NotFound("<what> not found") when a query found none: the one wording."""
    if row is None:
        raise NotFound(f"{what} not found", fields={field: "not_found"} if field else None)
    return row


async def for_case(tx: Tx, model: type[M], case_id: str, *order_by: InstrumentedAttribute[Any]) -> Sequence[M]:
    """Every row of `model` that belongs to a case, in the given order."""
    column: InstrumentedAttribute[str] = getattr(model, "case_id")  # noqa: B009 - every case-owned table has one
    return (await tx.execute(select(model).where(column == case_id).order_by(*order_by))).scalars().all()


async def insert_unless_taken(tx: Tx, row: Base) -> bool:
    """Insert `row` in a savepoint: False when a unique constraint refuses it (someone else's
    row came first), and the caller's transaction stays usable to find out whose."""
    try:
        async with tx.begin_nested():
            tx.add(row)
            await tx.flush()
    except IntegrityError:
        return False
    return True
