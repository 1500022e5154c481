"""SQL unit of work: one pooled connection and one transaction per unit."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from truapi.adapters.sqlalchemy.auth_repositories import (
    SqlAuditRepository,
    SqlRefreshTokenRepository,
    SqlRevocationRepository,
    SqlSessionRepository,
    SqlSigningKeyRepository,
)
from truapi.adapters.sqlalchemy.authz_repositories import (
    SqlAclRepository,
    SqlDaclRepository,
    SqlPolicyVersionRepository,
    SqlResourceRepository,
)
from truapi.adapters.sqlalchemy.connection import (
    AsyncpgReads,
    DriverReads,
    Executor,
    InlineConnection,
    LazyConnection,
)
from truapi.adapters.sqlalchemy.engine import SQLITE_BEGIN, make_pg_reads, make_sqlite_reader
from truapi.adapters.sqlalchemy.repositories import (
    SqlGroupRepository,
    SqlIdempotencyRepository,
    SqlTenantRepository,
    SqlUserRepository,
)
from truapi.application.ports.auth_repositories import (
    AuditRepository,
    RefreshTokenRepository,
    RevocationRepository,
    SessionRepository,
    SigningKeyRepository,
)
from truapi.application.ports.authz_repositories import (
    AclRepository,
    DaclRepository,
    PolicyVersionRepository,
    ResourceRepository,
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
    sessions: SessionRepository
    refresh_tokens: RefreshTokenRepository
    revocations: RevocationRepository
    signing_keys: SigningKeyRepository
    audit: AuditRepository
    resources: ResourceRepository
    acls: AclRepository
    dacls: DaclRepository
    policy_versions: PolicyVersionRepository

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        readonly: bool,
        reader: InlineConnection | None,
        autocommit: AsyncEngine,
        pg_reads: AsyncpgReads | None = None,
        writer_lock: asyncio.Lock | None = None,
    ) -> None:
        self._engine = engine
        self._writer_lock = writer_lock
        self._holds_writer_lock = False
        self._autocommit = autocommit
        self._readonly = readonly
        self._reader = reader if readonly else None
        self._pg_reads = pg_reads
        self._conn: AsyncConnection | None = None
        self._lazy: LazyConnection | None = None

    def _bind(self, conn: Executor, reads: DriverReads | None = None) -> Self:
        self.users = SqlUserRepository(conn, reads)
        self.tenants = SqlTenantRepository(conn)
        self.groups = SqlGroupRepository(conn)
        self.idempotency = SqlIdempotencyRepository(conn)
        self.sessions = SqlSessionRepository(conn)
        self.refresh_tokens = SqlRefreshTokenRepository(conn)
        self.revocations = SqlRevocationRepository(conn)
        self.signing_keys = SqlSigningKeyRepository(conn)
        self.audit = SqlAuditRepository(conn)
        self.resources = SqlResourceRepository(conn)
        self.acls = SqlAclRepository(conn)
        self.dacls = SqlDaclRepository(conn)
        self.policy_versions = SqlPolicyVersionRepository(conn)
        return self

    async def __aenter__(self) -> Self:
        if self._reader is not None:
            # SQLite reads: inline, one autocommit statement at a time (see InlineConnection).
            return self._bind(self._reader, self._reader)
        if self._readonly:
            # Reads go statement by statement: no BEGIN and ROLLBACK round trips; and a pooled
            # connection only once a statement needs one (driver-level reads do not).
            self._lazy = LazyConnection(self._autocommit)
            return self._bind(self._lazy, self._pg_reads)
        if self._writer_lock is not None:
            # One SQLite writer per process at a time, queued on the event loop: waiting on
            # SQLite's busy handler instead would let a busy loop stretch a writer's lock
            # past the busy timeout and turn a slow request into a failed one.
            await self._writer_lock.acquire()
            self._holds_writer_lock = True
        try:
            conn = await self._engine.connect()
        except BaseException:
            self._release_writer()
            raise
        try:
            if self._engine.dialect.name == "sqlite":
                # Writers take the write lock up front, so they queue on busy_timeout instead
                # of failing when a read lock cannot be upgraded.
                conn = await conn.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
            await conn.begin()
        except BaseException:
            await conn.close()
            self._release_writer()
            raise
        self._conn = conn
        return self._bind(conn)

    def _release_writer(self) -> None:
        if self._holds_writer_lock and self._writer_lock is not None:
            self._holds_writer_lock = False
            self._writer_lock.release()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        lazy, self._lazy = self._lazy, None
        if lazy is not None:
            await lazy.close()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.in_transaction():
                await conn.rollback()
        finally:
            try:
                await conn.close()
            finally:
                self._release_writer()

    async def commit(self) -> None:
        if self._conn is None or self._readonly:
            raise RuntimeError("commit outside a writable unit of work")
        await self._conn.commit()
        await self._conn.begin()


class SqlUnitOfWorkFactory:
    """Units of work over one engine's connection pool."""

    def __init__(self, engine: AsyncEngine, *, busy_timeout_ms: int = 5000) -> None:
        self.engine = engine
        self._reader = make_sqlite_reader(engine, busy_timeout_ms=busy_timeout_ms)
        self._inline = InlineConnection(self._reader) if self._reader is not None else None
        # The same pool, with autocommit set as each connection is checked out.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._pg_reads = make_pg_reads(engine)
        self._writer_lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    def __call__(self, *, readonly: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self.engine,
            readonly=readonly,
            reader=self._inline,
            autocommit=self._autocommit,
            pg_reads=self._pg_reads,
            writer_lock=self._writer_lock,
        )

    async def close(self) -> None:
        """Release every pooled connection (the engine's, the inline reader's and the
        driver-level reads' pool)."""
        if self._pg_reads is not None:
            await self._pg_reads.close()
        if self._reader is not None:
            self._reader.close()
            self._reader.engine.dispose()
        await self.engine.dispose()
