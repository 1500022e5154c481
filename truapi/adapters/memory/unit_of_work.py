"""In-memory unit of work: writers are serialised and see a private copy until commit."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from truapi.adapters.memory.auth_repositories import (
    MemoryAuditRepository,
    MemoryRefreshTokenRepository,
    MemoryRevocationRepository,
    MemorySessionRepository,
    MemorySigningKeyRepository,
)
from truapi.adapters.memory.authz_repositories import (
    MemoryAclRepository,
    MemoryDaclRepository,
    MemoryPolicyVersionRepository,
    MemoryResourceRepository,
)
from truapi.adapters.memory.repositories import (
    MemoryGroupRepository,
    MemoryIdempotencyRepository,
    MemoryTenantRepository,
    MemoryUserRepository,
)
from truapi.adapters.memory.store import MemoryStore
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


class MemoryUnitOfWork:
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

    def __init__(self, store: MemoryStore, *, readonly: bool = False) -> None:
        self._store = store
        self._readonly = readonly
        self._work: MemoryStore | None = None

    async def __aenter__(self) -> Self:
        if not self._readonly:
            await self._store.lock.acquire()
        # Readers see the committed data as is; writers edit a private copy.
        self._bind(self._store if self._readonly else self._store.snapshot())
        return self

    def _bind(self, work: MemoryStore) -> None:
        self._work = work
        self.users = MemoryUserRepository(work)
        self.tenants = MemoryTenantRepository(work)
        self.groups = MemoryGroupRepository(work)
        self.idempotency = MemoryIdempotencyRepository(work)
        self.sessions = MemorySessionRepository(work)
        self.refresh_tokens = MemoryRefreshTokenRepository(work)
        self.revocations = MemoryRevocationRepository(work)
        self.signing_keys = MemorySigningKeyRepository(work)
        self.audit = MemoryAuditRepository(work)
        self.resources = MemoryResourceRepository(work)
        self.acls = MemoryAclRepository(work)
        self.dacls = MemoryDaclRepository(work)
        self.policy_versions = MemoryPolicyVersionRepository(work)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._work = None
        if not self._readonly:
            self._store.lock.release()

    async def commit(self) -> None:
        if self._work is None or self._readonly:
            raise RuntimeError("commit outside a writable unit of work")
        self._store.replace_with(self._work)
        self._bind(self._store.snapshot())


class MemoryUnitOfWorkFactory:
    """Units of work over one shared ``MemoryStore``."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def __call__(self, *, readonly: bool = False) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store, readonly=readonly)
