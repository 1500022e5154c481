"""In-memory repositories over a ``MemoryStore`` copy."""

from __future__ import annotations

import uuid
from datetime import datetime

from truapi.adapters.memory.store import MemoryStore
from truapi.application.ports.repositories import (
    IdempotencyRecord,
    UserKeyset,
    UserQuery,
)
from truapi.domain.errors import (
    Conflict,
    EmailTaken,
    GroupNameTaken,
    IdempotencyInProgress,
    TenantNotFound,
    TenantSlugTaken,
    UsernameTaken,
)
from truapi.domain.groups import Group, Membership, MemberType
from truapi.domain.tenants import Tenant
from truapi.domain.users import User


def _check_tenant(store: MemoryStore, tenant_id: uuid.UUID) -> None:
    """Rows of a tenant need the tenant, as the foreign keys of the SQL schema demand."""
    if tenant_id not in store.tenants:
        raise TenantNotFound()


class MemoryUserRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
        user = self._s.users.get(user_id)
        return user if user is not None and user.tenant_id == tenant_id else None

    async def get_by_username(self, tenant_id: uuid.UUID, username: str) -> User | None:
        for user in self._s.users.values():
            if user.tenant_id == tenant_id and user.username == username:
                return user
        return None

    def _check_unique(self, user: User, *, exclude: uuid.UUID | None = None) -> None:
        # The username is named first, whichever row clashes, as the SQL adapter does.
        others = [
            u for u in self._s.users.values() if u.tenant_id == user.tenant_id and u.id != exclude
        ]
        if any(other.username == user.username for other in others):
            raise UsernameTaken()
        if any(other.email == user.email for other in others):
            raise EmailTaken()

    async def add(self, user: User) -> None:
        _check_tenant(self._s, user.tenant_id)
        self._check_unique(user)
        if user.id in self._s.users:
            raise Conflict("A user with this id already exists.")
        self._s.users[user.id] = user

    async def update(self, user: User) -> bool:
        current = await self.get(user.tenant_id, user.id)
        if current is None or current.version != user.version - 1:
            return False
        self._check_unique(user, exclude=user.id)
        self._s.users[user.id] = user
        return True

    async def delete(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        if await self.get(tenant_id, user_id) is None:
            return False
        del self._s.users[user_id]
        return True

    async def list_page(
        self, tenant_id: uuid.UUID, query: UserQuery, after: UserKeyset | None, limit: int
    ) -> list[User]:
        def key(u: User) -> tuple[object, ...]:
            if query.sort.field == "username":
                return (u.username, u.id)
            return (u.created_at, u.id)

        matches = [
            u for u in self._s.users.values() if u.tenant_id == tenant_id and _matches(u, query)
        ]
        matches.sort(key=key, reverse=query.sort.descending)
        if after is not None:
            pivot: tuple[object, ...] = (
                (after.username, after.id)
                if query.sort.field == "username"
                else (after.created_at, after.id)
            )
            if query.sort.descending:
                matches = [u for u in matches if key(u) < pivot]
            else:
                matches = [u for u in matches if key(u) > pivot]
        return matches[:limit]

    async def count(self, tenant_id: uuid.UUID) -> int:
        return sum(1 for u in self._s.users.values() if u.tenant_id == tenant_id)


def _matches(user: User, query: UserQuery) -> bool:
    if query.q is not None:
        needle = query.q.lower()
        if not any(
            needle in text for text in (user.username, user.email, user.display_name.lower())
        ):
            return False
    if query.status is not None and user.status != query.status:
        return False
    if query.username is not None and user.username != query.username:
        return False
    if query.email is not None and user.email != query.email:
        return False
    if query.created_after is not None and not user.created_at > query.created_after:
        return False
    return query.created_before is None or user.created_at < query.created_before


class MemoryTenantRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return self._s.tenants.get(tenant_id)

    async def get_by_slug(self, slug: str) -> Tenant | None:
        return next((t for t in self._s.tenants.values() if t.slug == slug), None)

    async def add(self, tenant: Tenant) -> None:
        if await self.get_by_slug(tenant.slug) is not None:
            raise TenantSlugTaken()
        if tenant.id in self._s.tenants:
            raise Conflict("A tenant with this id already exists.")
        self._s.tenants[tenant.id] = tenant


class MemoryGroupRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def get_by_name(self, tenant_id: uuid.UUID, name: str) -> Group | None:
        wanted = name.lower()
        for group in self._s.groups.values():
            if group.tenant_id == tenant_id and group.name.lower() == wanted:
                return group
        return None

    async def add(self, group: Group) -> None:
        _check_tenant(self._s, group.tenant_id)
        if await self.get_by_name(group.tenant_id, group.name) is not None:
            raise GroupNameTaken()
        if group.id in self._s.groups:
            raise Conflict("A group with this id already exists.")
        self._s.groups[group.id] = group

    async def add_member(self, membership: Membership) -> None:
        if not await self.is_member(
            membership.tenant_id,
            membership.group_id,
            membership.member_type,
            membership.member_id,
        ):
            self._s.memberships.append(membership)

    async def is_member(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        member_type: MemberType,
        member_id: uuid.UUID,
    ) -> bool:
        return any(
            m.tenant_id == tenant_id
            and m.group_id == group_id
            and m.member_type == member_type
            and m.member_id == member_id
            for m in self._s.memberships
        )

    async def remove_member_everywhere(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID
    ) -> int:
        keep = [
            m
            for m in self._s.memberships
            if not (
                m.tenant_id == tenant_id
                and m.member_type == member_type
                and m.member_id == member_id
            )
        ]
        removed = len(self._s.memberships) - len(keep)
        self._s.memberships = keep
        return removed


class MemoryIdempotencyRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def get(self, tenant_id: uuid.UUID, scope: str, key: str) -> IdempotencyRecord | None:
        return self._s.idempotency.get((tenant_id, scope, key))

    async def add(self, record: IdempotencyRecord) -> None:
        _check_tenant(self._s, record.tenant_id)
        slot = (record.tenant_id, record.scope, record.key)
        if slot in self._s.idempotency:
            raise IdempotencyInProgress()
        self._s.idempotency[slot] = record

    async def delete(self, tenant_id: uuid.UUID, scope: str, key: str) -> None:
        self._s.idempotency.pop((tenant_id, scope, key), None)

    async def purge_before(self, cutoff: datetime) -> int:
        old = [k for k, r in self._s.idempotency.items() if r.created_at < cutoff]
        for k in old:
            del self._s.idempotency[k]
        return len(old)
