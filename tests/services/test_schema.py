"""The migrated schema is the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from server.services.core import Core
from server.storage.db import alembic_config
from server.storage.models import Base


async def test_the_migrations_create_exactly_the_tables_of_the_models(core: Core) -> None:
    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with core.db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_the_database_is_at_the_single_head_revision(core: Core) -> None:
    heads = ScriptDirectory.from_config(alembic_config(core.settings.database_url)).get_heads()
    assert len(heads) == 1
    async with core.db.engine.connect() as conn:
        current = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
    assert tuple(current) == tuple(heads)
