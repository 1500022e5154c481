"""Models and migrations never drift; ``truapi migrate --check`` tells when a schema is behind."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from truapi.adapters.sqlalchemy.engine import make_engine
from truapi.adapters.sqlalchemy.tables import metadata
from truapi.bootstrap import pending_migrations


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)

    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
        assert differences == []
        assert await pending_migrations(engine, database_url) == []
    finally:
        await engine.dispose()


async def test_an_empty_database_has_pending_migrations(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    try:
        assert len(await pending_migrations(engine, url)) >= 1
    finally:
        await engine.dispose()
