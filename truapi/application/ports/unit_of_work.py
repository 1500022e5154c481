"""The unit of work: one atomic set of repository changes."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

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


class UnitOfWork(Protocol):
    """``async with uow:`` opens a transaction, rolled back on exit unless ``commit`` ran."""

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

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work; ``readonly`` ones may skip write locks."""

    def __call__(self, *, readonly: bool = False) -> UnitOfWork: ...
