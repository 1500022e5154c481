"""Repository ports. Every query is scoped by tenant; every method speaks domain words."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from truapi.domain.groups import Group, MemberAt, Membership, MemberType
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
    """Groups and direct memberships of one tenant. Membership graphs may hold cycles or be
    deeper than any limit in data written by older versions: reads stay bounded anyway."""

    async def get(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> Group | None: ...

    async def get_by_name(self, tenant_id: uuid.UUID, name: str) -> Group | None:
        """The group whose name equals ``name`` ignoring case."""

    async def add(self, group: Group) -> None:
        """Insert; ``GroupNameTaken`` when the name (without case) exists in the tenant."""

    async def update(self, group: Group) -> None:
        """Store name, description, external id and ``updated_at``; ``GroupNameTaken`` on a
        clash."""

    async def delete(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> bool:
        """Remove the group with every membership it holds or is in; False when none."""

    async def list_page(
        self, tenant_id: uuid.UUID, q: str | None, after: GroupKeyset | None, limit: int
    ) -> list[Group]:
        """Groups ordered by name (case-insensitively), then id; ``q`` is a literal,
        case-insensitive substring of the name or the description."""

    async def get_many(self, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID]) -> list[Group]:
        """The existing groups among ``group_ids`` (any order)."""

    async def add_member(self, membership: Membership) -> bool:
        """Insert the membership; False (and nothing changed) when it exists already."""

    async def remove_member(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        member_type: MemberType,
        member_id: uuid.UUID,
    ) -> bool:
        """Delete one direct membership; False when there was none."""

    async def is_member(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        member_type: MemberType,
        member_id: uuid.UUID,
    ) -> bool:
        """Whether the membership exists directly."""

    async def direct_members(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> list[Membership]:
        """Every direct membership of the group (for reconciliation)."""

    async def members_page(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        *,
        transitive: bool,
        max_depth: int,
        after: MemberKeyset | None,
        limit: int,
    ) -> list[MemberAt]:
        """Members ordered by (type, id), each once at its smallest depth (1 = direct);
        transitive listings follow nested groups down to ``max_depth``."""

    async def ancestry(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID, max_depth: int
    ) -> GroupAncestry:
        """The groups the member is in directly, and the parent groups of every group
        reachable from those, up to ``max_depth`` + 1 levels (enough to notice a graph that
        is too deep)."""

    async def remove_member_everywhere(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID
    ) -> int:
        """Drop every membership of this member; returns how many there were."""


@dataclass(frozen=True, slots=True)
class GroupKeyset:
    """Position after the last group of a page."""

    name_key: str
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class MemberKeyset:
    """Position after the last member of a page."""

    member_type: MemberType
    member_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class GroupAncestry:
    """``direct``: the member's own groups; ``parents``: group -> the groups it is in."""

    direct: tuple[uuid.UUID, ...]
    parents: Mapping[uuid.UUID, tuple[uuid.UUID, ...]]


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
