"""SQL unit of work: one pooled connection and one transaction per unit."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from truapi.adapters.sqlalchemy.engine import SQLITE_BEGIN
from truapi.adapters.sqlalchemy.repositories import (
    SqlGroupRepository,
    SqlIdempotencyRepository,
    SqlTenantRepository,
    SqlUserRepository,
)
from truapi.application.ports.repositories import (
    GroupRepository,
    IdempotencyRepository,
    TenantRepository,
    UserRepository,
)


class SqlUnitOfWork:
    users: UserRepository
    tenants: TenantRepository
    groups: GroupRepository
    idempotency: IdempotencyRepository

    def __init__(self, engine: AsyncEngine, *, readonly: bool) -> None:
        self._engine = engine
        self._readonly = readonly
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        conn = await self._engine.connect()
        try:
            if self._engine.dialect.name == "sqlite":
                # Writers take the write lock up front, so they queue on busy_timeout instead
                # of failing when a read lock cannot be upgraded.
                mode = "DEFERRED" if self._readonly else "IMMEDIATE"
                conn = await conn.execution_options(**{SQLITE_BEGIN: mode})
            await conn.begin()
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self.users = SqlUserRepository(conn)
        self.tenants = SqlTenantRepository(conn)
        self.groups = SqlGroupRepository(conn)
        self.idempotency = SqlIdempotencyRepository(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        finally:
            await conn.close()

    async def commit(self) -> None:
        if self._conn is None or self._readonly:
            raise RuntimeError("commit outside a writable unit of work")
        await self._conn.commit()
        await self._conn.begin()


class SqlUnitOfWorkFactory:
    """Units of work over one engine's connection pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, readonly=readonly)
