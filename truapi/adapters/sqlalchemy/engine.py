"""Engine creation: SQLite tuned for a service (WAL, foreign keys, busy timeout), or asyncpg."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool, StaticPool

from truapi.adapters.sqlalchemy.connection import AsyncpgReads

#: Execution option naming how a SQLite transaction begins (``DEFERRED`` or ``IMMEDIATE``).
SQLITE_BEGIN = "truapi_sqlite_begin"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(
    url: str, *, pool_size: int = 10, busy_timeout_ms: int = 5000, echo: bool = False
) -> AsyncEngine:
    """Create the async engine for ``url`` with the settings each backend needs."""
    if is_sqlite(url):
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"timeout": busy_timeout_ms / 1000},
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=busy_timeout_ms / 1000,
        )
        _tune_sqlite(engine.sync_engine, busy_timeout_ms)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        # No overflow: connections opened past the pool are closed again right away, and under
        # sustained load that churn (a TCP and TLS handshake each) costs more than waiting.
        max_overflow=0,
        pool_recycle=1800,
        # Autocommit (read-only) connections have nothing to roll back: skip the round trip.
        skip_autocommit_rollback=True,
        connect_args=_PG_CONNECT_ARGS,
    )


_PG_CONNECT_ARGS = {"timeout": 5, "command_timeout": 30}
# Options of SQLAlchemy's asyncpg dialect that may sit in the URL but asyncpg does not take.
_DIALECT_ONLY_OPTIONS = ("prepared_statement_cache_size", "prepared_statement_name_func")


def make_pg_reads(engine: AsyncEngine) -> AsyncpgReads | None:
    """Driver-level reads on the engine's PostgreSQL database, through a pool as large as the
    engine's; None for other databases."""
    if engine.dialect.name != "postgresql":
        return None
    _, options = engine.dialect.create_connect_args(engine.url)
    for name in _DIALECT_ONLY_OPTIONS:
        options.pop(name, None)
    size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 1
    return AsyncpgReads({**options, **_PG_CONNECT_ARGS}, max_size=size)


def make_sqlite_reader(engine: AsyncEngine, *, busy_timeout_ms: int = 5000) -> Connection | None:
    """One synchronous autocommit connection to the same SQLite file, for reads run inline
    (see ``InlineConnection``); None for other databases or an in-memory SQLite."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    reader = create_engine(
        url.set(drivername="sqlite+pysqlite"),
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        isolation_level="AUTOCOMMIT",
        poolclass=StaticPool,
    )
    # Only the connection pragmas: no BEGIN here, so every read sees the latest commit and
    # no snapshot is held open between requests.
    _set_sqlite_pragmas(reader, busy_timeout_ms)
    return reader.connect()


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    _set_sqlite_pragmas(engine, busy_timeout_ms)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _set_sqlite_pragmas(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so writers can BEGIN IMMEDIATE: a deferred
        # transaction that later writes cannot wait for the lock and fails with "busy".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
