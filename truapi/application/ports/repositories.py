"""Repository ports. Every query is scoped by tenant; every method speaks domain words."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from truapi.domain.groups import Group, Membership, MemberType
from truapi.domain.tenants import Tenant
from truapi.domain.users import User, UserStatus


class UserSort(StrEnum):
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    USERNAME = "username"
    USERNAME_DESC = "-username"

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    @property
    def field(self) -> str:
        return self.value.lstrip("-")


@dataclass(frozen=True, slots=True)
class UserQuery:
    """Filters and order of a user listing. ``q`` is matched literally (no wildcards)."""

    q: str | None = None
    status: UserStatus | None = None
    username: str | None = None
    email: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sort: UserSort = UserSort.CREATED_AT


@dataclass(frozen=True, slots=True)
class UserKeyset:
    """Position after which the next page starts: the last item's sort value and id."""

    created_at: datetime | None
    username: str | None
    id: uuid.UUID


class UserRepository(Protocol):
    """Users of one tenant."""

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User | None: ...

    async def get_by_username(self, tenant_id: uuid.UUID, username: str) -> User | None: ...

    async def add(self, user: User) -> None:
        """Insert; ``UsernameTaken`` / ``EmailTaken`` on a clash (username checked first),
        ``TenantNotFound`` for a missing tenant, ``Conflict`` for a reused id."""

    async def update(self, user: User) -> bool:
        """Store ``user`` if the stored version is ``user.version - 1``; False otherwise."""

    async def delete(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Remove the user; False when there was none."""

    async def list_page(
        self, tenant_id: uuid.UUID, query: UserQuery, after: UserKeyset | None, limit: int
    ) -> list[User]:
        """Up to ``limit`` users matching ``query``, in its order, strictly after ``after``."""

    async def count(self, tenant_id: uuid.UUID) -> int: ...


class TenantRepository(Protocol):
    """Tenants (not themselves tenant-scoped)."""

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None: ...

    async def get_by_slug(self, slug: str) -> Tenant | None: ...

    async def add(self, tenant: Tenant) -> None:
        """Insert; raises ``TenantSlugTaken`` when the slug exists."""


class GroupRepository(Protocol):
    """Groups and direct memberships of one tenant."""

    async def get_by_name(self, tenant_id: uuid.UUID, name: str) -> Group | None: ...

    async def add(self, group: Group) -> None:
        """Insert; ``GroupNameTaken`` when the name (without case) exists in the tenant."""

    async def add_member(self, membership: Membership) -> None:
        """Insert the membership; adding an existing one changes nothing."""

    async def is_member(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        member_type: MemberType,
        member_id: uuid.UUID,
    ) -> bool: ...

    async def remove_member_everywhere(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID
    ) -> int:
        """Drop every membership of this member; returns how many there were."""


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The first response to a request sent with an ``Idempotency-Key``."""

    tenant_id: uuid.UUID
    scope: str
    key: str
    fingerprint: str
    status: int
    response: dict[str, Any]
    created_at: datetime


class IdempotencyRepository(Protocol):
    """Stored first responses, by tenant, operation and key."""

    async def get(self, tenant_id: uuid.UUID, scope: str, key: str) -> IdempotencyRecord | None: ...

    async def add(self, record: IdempotencyRecord) -> None:
        """Insert; raises ``IdempotencyInProgress`` when the key is already taken."""

    async def delete(self, tenant_id: uuid.UUID, scope: str, key: str) -> None: ...

    async def purge_before(self, cutoff: datetime) -> int:
        """Delete records created before ``cutoff``; returns how many."""
