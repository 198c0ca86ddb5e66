"""Signing in: browser sessions (`web_sessions`) and the sign-in throttles (`login_failures`).

The throttling policy, how many tries and how long a wait, is `server.services.signin`'s;
this module counts tries and stores waits, so that every node shares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .base import Tx
from .models import LoginFailure, WebSession


@dataclass(frozen=True, slots=True)
class WebSessionRecord:
    """A signed-in browser: a staff account (`account_id`) or an invitation's holder (`invitation_id`)."""

    token_hash: str
    kind: str
    account_id: str | None
    invitation_id: str | None
    csrf_token: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, w: WebSession) -> WebSessionRecord:
        return cls(w.token_hash, w.kind, w.account_id, w.invitation_id, w.csrf_token, w.created_at, w.expires_at)


# ---- browser sessions ---------------------------------------------------------------------------


async def add_web_session(
    tx: Tx,
    *,
    token_hash: str,
    kind: str,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
    account_id: str | None = None,
    invitation_id: str | None = None,
) -> WebSessionRecord:
    """Write a browser session; only the hash of its cookie's token is stored."""
    row = WebSession(
        token_hash=token_hash,
        kind=kind,
        account_id=account_id,
        invitation_id=invitation_id,
        csrf_token=csrf_token,
        created_at=now,
        expires_at=expires_at,
    )
    tx.add(row)
    await tx.flush()
    return WebSessionRecord.of(row)


async def web_session(tx: Tx, token_hash: str) -> WebSessionRecord | None:
    """The browser session with this token hash, if any (expired ones included: callers decide)."""
    row = await tx.get(WebSession, token_hash)
    return WebSessionRecord.of(row) if row is not None else None


async def end_web_session(tx: Tx, token_hash: str) -> None:
    """Forget a browser session; nothing happens when there is none."""
    await tx.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


# ---- sign-in throttles --------------------------------------------------------------------------


async def count_try(tx: Tx, key: str, now: datetime, window: timedelta) -> int | None:
    """Count one try against the counter `key` and return its count since it was last quiet for
    `window`; None, counting nothing, while the counter makes tries wait (see `block`).

    One upsert, so concurrent tries queue on the row: on PostgreSQL its row lock, on SQLite
    the database's single writer.
    """
    insert = postgresql.insert if tx.get_bind().dialect.name == "postgresql" else sqlite.insert
    quiet = LoginFailure.last_at <= now - window
    stmt = insert(LoginFailure).values(key=key, hits=1, last_at=now, blocked_until=None)
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={"hits": case((quiet, 1), else_=LoginFailure.hits + 1), "last_at": now, "blocked_until": None},
        where=or_(quiet, LoginFailure.blocked_until.is_(None), LoginFailure.blocked_until <= now),
    )
    hits: int | None = (await tx.execute(stmt.returning(LoginFailure.hits))).scalar_one_or_none()
    return hits


async def blocked_until(tx: Tx, key: str) -> datetime | None:
    """Until when the counter `key` makes tries wait; None when it does not, or does not exist."""
    until: datetime | None = (
        await tx.execute(select(LoginFailure.blocked_until).where(LoginFailure.key == key))
    ).scalar_one_or_none()
    return until


async def block(tx: Tx, key: str, until: datetime) -> None:
    """Make tries against the counter `key` wait until `until`."""
    await tx.execute(update(LoginFailure).where(LoginFailure.key == key).values(blocked_until=until))


async def forgive(tx: Tx, key: str, amount: int, *, unblock_below: int) -> None:
    """Take `amount` tries off the counter `key`: the row goes when nothing is left, and its wait
    ends when fewer than `unblock_below` tries are left."""
    await tx.execute(delete(LoginFailure).where(LoginFailure.key == key, LoginFailure.hits <= amount))
    left = LoginFailure.hits - amount
    await tx.execute(
        update(LoginFailure)
        .where(LoginFailure.key == key)
        .values(hits=left, blocked_until=case((left < unblock_below, None), else_=LoginFailure.blocked_until))
    )


async def prune(tx: Tx, now: datetime, window: timedelta) -> None:
    """Delete the counters that have been quiet for `window`: they count for nothing."""
    # SKIP LOCKED: never wait on a row another sign-in holds (no deadlock with it); that row
    # is not quiet anyway. SQLite ignores the clause and has one writer.
    quiet = select(LoginFailure.key).where(LoginFailure.last_at <= now - window).with_for_update(skip_locked=True)
    await tx.execute(delete(LoginFailure).where(LoginFailure.key.in_(quiet)))
