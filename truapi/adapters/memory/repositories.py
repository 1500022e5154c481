"""In-memory repositories over a ``MemoryStore`` copy."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from truapi.adapters.memory.store import MemoryStore
from truapi.application.ports.repositories import (
    GroupAncestry,
    GroupKeyset,
    IdempotencyRecord,
    MemberKeyset,
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
from truapi.domain.groups import Group, MemberAt, Membership, MemberType, group_name_key
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

    async def get(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> Group | None:
        group = self._s.groups.get(group_id)
        return group if group is not None and group.tenant_id == tenant_id else None

    async def get_by_name(self, tenant_id: uuid.UUID, name: str) -> Group | None:
        wanted = group_name_key(name)
        for group in self._s.groups.values():
            if group.tenant_id == tenant_id and group_name_key(group.name) == wanted:
                return group
        return None

    def _name_taken(self, group: Group) -> bool:
        wanted = group_name_key(group.name)
        return any(
            other.tenant_id == group.tenant_id
            and other.id != group.id
            and group_name_key(other.name) == wanted
            for other in self._s.groups.values()
        )

    async def add(self, group: Group) -> None:
        _check_tenant(self._s, group.tenant_id)
        if await self.get_by_name(group.tenant_id, group.name) is not None:
            raise GroupNameTaken()
        if group.id in self._s.groups:
            raise Conflict("A group with this id already exists.")
        self._s.groups[group.id] = group

    async def update(self, group: Group) -> None:
        if self._name_taken(group):
            raise GroupNameTaken()
        current = await self.get(group.tenant_id, group.id)
        if current is not None:
            self._s.groups[group.id] = replace(group, created_at=current.created_at)

    async def delete(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> bool:
        if await self.get(tenant_id, group_id) is None:
            return False
        del self._s.groups[group_id]
        self._s.memberships = {
            key: m
            for key, m in self._s.memberships.items()
            if m.group_id != group_id
            and not (
                m.tenant_id == tenant_id
                and m.member_type is MemberType.GROUP
                and m.member_id == group_id
            )
        }
        return True

    async def list_page(
        self, tenant_id: uuid.UUID, q: str | None, after: GroupKeyset | None, limit: int
    ) -> list[Group]:
        needle = q.lower() if q is not None else None
        found = [
            g
            for g in self._s.groups.values()
            if g.tenant_id == tenant_id
            and (needle is None or needle in g.name.lower() or needle in g.description.lower())
        ]
        found.sort(key=lambda g: (group_name_key(g.name), g.id))
        if after is not None:
            pivot = (after.name_key, after.id)
            found = [g for g in found if (group_name_key(g.name), g.id) > pivot]
        return found[:limit]

    async def get_many(self, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID]) -> list[Group]:
        found = (self._s.groups.get(group_id) for group_id in dict.fromkeys(group_ids))
        return [g for g in found if g is not None and g.tenant_id == tenant_id]

    async def add_member(self, membership: Membership) -> bool:
        key = (
            membership.tenant_id,
            membership.group_id,
            membership.member_type,
            membership.member_id,
        )
        if key in self._s.memberships:
            return False
        self._s.memberships[key] = membership
        return True

    async def remove_member(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        member_type: MemberType,
        member_id: uuid.UUID,
    ) -> bool:
        return (
            self._s.memberships.pop((tenant_id, group_id, member_type, member_id), None) is not None
        )

    async def is_member(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        member_type: MemberType,
        member_id: uuid.UUID,
    ) -> bool:
        return (tenant_id, group_id, member_type, member_id) in self._s.memberships

    async def direct_members(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> list[Membership]:
        found = [
            m
            for m in self._s.memberships.values()
            if m.tenant_id == tenant_id and m.group_id == group_id
        ]
        found.sort(key=lambda m: (m.member_type.value, m.member_id))
        return found

    def _members_by_group(self, tenant_id: uuid.UUID) -> dict[uuid.UUID, list[Membership]]:
        by_group: dict[uuid.UUID, list[Membership]] = {}
        for m in self._s.memberships.values():
            if m.tenant_id == tenant_id:
                by_group.setdefault(m.group_id, []).append(m)
        return by_group

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
        by_group = self._members_by_group(tenant_id)
        # Breadth first, so each member is first met at its smallest depth; the group itself
        # is listed too when a stored cycle leads back to it, as the SQL walk does.
        depths: dict[tuple[MemberType, uuid.UUID], int] = {}
        frontier = [group_id]
        depth = 1
        while frontier:
            following: list[uuid.UUID] = []
            for group in frontier:
                for m in by_group.get(group, ()):
                    member = (m.member_type, m.member_id)
                    if member in depths:
                        continue
                    depths[member] = depth
                    if m.member_type is MemberType.GROUP:
                        following.append(m.member_id)
            if not transitive or depth >= max_depth:
                break
            frontier = following
            depth += 1
        found = sorted(
            (MemberAt(kind, member_id, d) for (kind, member_id), d in depths.items()),
            key=lambda m: (m.member_type.value, m.member_id),
        )
        if after is not None:
            pivot = (after.member_type.value, after.member_id)
            found = [m for m in found if (m.member_type.value, m.member_id) > pivot]
        return found[:limit]

    async def ancestry(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID, max_depth: int
    ) -> GroupAncestry:
        parents_of: dict[uuid.UUID, set[uuid.UUID]] = {}
        direct: set[uuid.UUID] = set()
        for m in self._s.memberships.values():
            if m.tenant_id != tenant_id:
                continue
            if m.member_type is member_type and m.member_id == member_id:
                direct.add(m.group_id)
            if m.member_type is MemberType.GROUP:
                parents_of.setdefault(m.member_id, set()).add(m.group_id)
        # The parents of every group within max_depth levels: the groups one level further
        # are named but not followed, as the SQL walk does.
        parents: dict[uuid.UUID, tuple[uuid.UUID, ...]] = {}
        seen = set(direct)
        frontier = sorted(direct)
        depth = 1
        while frontier and depth <= max_depth:
            following: list[uuid.UUID] = []
            for group in frontier:
                above = parents_of.get(group)
                if not above:
                    continue
                parents[group] = tuple(sorted(above))
                following.extend(g for g in above if g not in seen)
                seen.update(above)
            frontier = following
            depth += 1
        return GroupAncestry(direct=tuple(sorted(direct)), parents=parents)

    async def remove_member_everywhere(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID
    ) -> int:
        keep = {
            key: m
            for key, m in self._s.memberships.items()
            if not (
                m.tenant_id == tenant_id
                and m.member_type == member_type
                and m.member_id == member_id
            )
        }
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
