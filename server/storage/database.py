"""Unit-of-work access to the database: `async with db.write() as s` / `async with db.read() as s`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .base import Tx
from .db import make_engine, make_sessionmaker


class Database:
    """Owns the engine. Writes on SQLite are serialised in-process.

    SQLite allows one writer; a deferred transaction that reads and then writes can fail
    with 'database is locked' instead of waiting. The embedded default is one process, so
    an asyncio lock around write transactions is both correct and cheap. PostgreSQL writes
    run concurrently and lock rows where it matters (case event log, case numbers).
    """

    def __init__(self, url: str):
        self.url = url
        self.engine: AsyncEngine = make_engine(url)
        self._sessions = make_sessionmaker(self.engine)
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Tx]:
        if self._write_lock is not None:
            async with self._write_lock:
                async with self._sessions() as s, s.begin():
                    yield s
        else:
            async with self._sessions() as s, s.begin():
                yield s

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        async with self._sessions() as s:
            yield s

    async def ping(self) -> None:
        async with self._sessions() as s:
            await s.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
