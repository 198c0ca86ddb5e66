"""The database engine and session factory, applying migrations, and whether they are applied."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(database_url: str) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(database_url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(database_url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def migrate_sync(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (blocking; run it outside the event loop)."""
    from alembic import command

    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)


async def migrate(database_url: str, revision: str = "head") -> None:
    await asyncio.to_thread(migrate_sync, database_url, revision)


class DatabaseUnavailable(Exception):
    """The database could not be opened or migrated; the message is the driver's reason."""


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc)


def upgrade(database_url: str) -> None:
    """`migrate_sync` to the head, for the command line: a failure is DatabaseUnavailable."""
    try:
        migrate_sync(database_url)
    except (OSError, SQLAlchemyError) as exc:
        raise DatabaseUnavailable(_reason(exc)) from None


async def schema_is_current(database_url: str) -> bool:
    """Whether the database is at the migrations' head; DatabaseUnavailable when it cannot be opened."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads()))
    except (OSError, SQLAlchemyError) as exc:
        raise DatabaseUnavailable(_reason(exc)) from None
    finally:
        await engine.dispose()
    return current == heads
