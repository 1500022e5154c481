"""What repositories execute statements on: an async connection, or SQLite read inline; and
driver-level reads for the hottest lookups."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Connection, CursorResult, Dialect, Executable
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class Executor(Protocol):
    """The part of ``AsyncConnection`` the repositories use."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> CursorResult[Any]: ...


class DriverReads(Protocol):
    """One-row reads by a prebuilt SQL string on the driver's own connection.

    SQLAlchemy's statement pipeline and result rows cost more than a lookup by key itself;
    the repositories use this for their hottest reads, with SQL and values in the driver's
    terms (``sqlite``: ``?`` placeholders, UUIDs as hex, datetimes as text; otherwise
    asyncpg's ``$n`` placeholders and native values).
    """

    sqlite: bool

    async def fetch_row(self, sql: str, params: Sequence[Any]) -> Sequence[Any] | None: ...


class InlineConnection:
    """A synchronous SQLite connection used from the event loop, without a worker thread.

    A SQLite read by key takes a few microseconds, while handing each statement to the
    driver's worker thread (aiosqlite) costs tens, several times per request. In WAL mode
    readers never wait for writers, so reading inline does not stall the loop on locks.
    Writers keep using the async driver: they may have to wait for the write lock.
    """

    sqlite = True

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        dbapi = conn.connection.driver_connection
        assert isinstance(dbapi, sqlite3.Connection)
        self._dbapi = dbapi

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)

    async def fetch_row(self, sql: str, params: Sequence[Any]) -> Sequence[Any] | None:
        try:
            row: Sequence[Any] | None = self._dbapi.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            # The exception SQLAlchemy would have raised, so callers tell outages apart alike.
            raise sa_exc.DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc
        return row


async def _nothing_to_reset(_conn: asyncpg.Connection) -> None:
    """Pooled connections only ever run single autocommit reads: no session state to reset
    (asyncpg's default reset costs a round trip on every release)."""


class AsyncpgReads:
    """Driver-level reads on PostgreSQL through a small asyncpg pool of their own, opened on
    first use: checking a connection out of SQLAlchemy's async pool costs several times the
    lookup. asyncpg prepares each statement once per connection and reuses it.
    """

    sqlite = False

    def __init__(self, connect_kwargs: dict[str, Any], *, max_size: int) -> None:
        self._connect_kwargs = connect_kwargs
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    min_size=1,
                    max_size=self._max_size,
                    reset=_nothing_to_reset,
                    **self._connect_kwargs,
                )
            return self._pool

    async def fetch_row(self, sql: str, params: Sequence[Any]) -> Sequence[Any] | None:
        try:
            pool = self._pool or await self._open()
            row: Sequence[Any] | None = await pool.fetchrow(sql, *params)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
            if self._pool is not None:
                # As SQLAlchemy's pool does after a disconnect: the other connections are
                # likely dead too (a restart, a failover), so every one is replaced.
                await self._pool.expire_connections()
            # As SQLAlchemy reports an unreachable database: callers answer 503 for it.
            raise sa_exc.OperationalError(sql, params, exc) from exc
        return row

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


class LazyConnection:
    """An autocommit connection checked out of the pool by the first statement, so a unit of
    work that only reads through ``DriverReads`` never takes one."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None

    @property
    def dialect(self) -> Dialect:
        return self._engine.dialect

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> CursorResult[Any]:
        if self._conn is None:
            self._conn = await self._engine.connect()
        return await self._conn.execute(statement, parameters)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
