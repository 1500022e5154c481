"""In-memory repositories of the authorization model over a ``MemoryStore`` copy."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from truapi.adapters.memory.store import MemoryStore
from truapi.domain.errors import Conflict, TenantNotFound
from truapi.domain.policy.acl import Acl, Dacl
from truapi.domain.policy.resources import Resource


def _check_tenant(store: MemoryStore, tenant_id: uuid.UUID) -> None:
    """Rows of a tenant need the tenant, as the foreign keys of the SQL schema demand."""
    if tenant_id not in store.tenants:
        raise TenantNotFound()


class MemoryResourceRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def get(self, tenant_id: uuid.UUID, resource_id: str) -> Resource | None:
        return self._s.resources.get((tenant_id, resource_id))

    async def add(self, resource: Resource) -> None:
        _check_tenant(self._s, resource.tenant_id)
        key = (resource.tenant_id, resource.id)
        if key in self._s.resources:
            raise Conflict("This resource is registered already.")
        self._s.resources[key] = resource

    async def update(self, resource: Resource) -> None:
        key = (resource.tenant_id, resource.id)
        current = self._s.resources.get(key)
        if current is not None:
            self._s.resources[key] = Resource(
                tenant_id=current.tenant_id,
                id=current.id,
                type=current.type,
                parent=resource.parent,
                owner=resource.owner,
                created_at=current.created_at,
            )

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        removed = 0
        for resource_id in dict.fromkeys(resource_ids):
            if self._s.resources.pop((tenant_id, resource_id), None) is not None:
                removed += 1
        return removed

    def _children(self, tenant_id: uuid.UUID) -> dict[str | None, list[Resource]]:
        children: dict[str | None, list[Resource]] = {}
        for (owner_tenant, _), resource in self._s.resources.items():
            if owner_tenant == tenant_id:
                children.setdefault(resource.parent, []).append(resource)
        return children

    async def has_children(self, tenant_id: uuid.UUID, resource_id: str) -> bool:
        return any(
            r.parent == resource_id
            for (owner_tenant, _), r in self._s.resources.items()
            if owner_tenant == tenant_id
        )

    async def children_page(
        self,
        tenant_id: uuid.UUID,
        parent: str | None,
        resource_type: str | None,
        after: str | None,
        limit: int,
    ) -> list[Resource]:
        found = [
            r
            for r in self._children(tenant_id).get(parent, [])
            if (resource_type is None or r.type == resource_type)
            and (after is None or r.id > after)
        ]
        found.sort(key=lambda r: r.id)
        return found[:limit]

    async def ancestors(self, tenant_id: uuid.UUID, resource_id: str, limit: int) -> list[Resource]:
        found: list[Resource] = []
        seen: set[str] = set()
        current: str | None = resource_id
        while current is not None and current not in seen and len(found) < limit:
            resource = self._s.resources.get((tenant_id, current))
            if resource is None:
                break
            seen.add(current)
            found.append(resource)
            current = resource.parent
        return found

    async def descendants(self, tenant_id: uuid.UUID, resource_id: str, limit: int) -> list[str]:
        children = self._children(tenant_id)
        # Level by level, ids sorted within a level: nearest first, as the SQL walk orders.
        found: list[str] = []
        seen = {resource_id}
        frontier = [resource_id]
        while frontier and len(found) < limit:
            level = sorted({c.id for parent in frontier for c in children.get(parent, ())} - seen)
            seen.update(level)
            found.extend(level)
            frontier = level
        return found[:limit]


class MemoryAclRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def get(self, tenant_id: uuid.UUID, resource_id: str) -> Acl | None:
        return self._s.acls.get((tenant_id, resource_id))

    async def get_many(
        self, tenant_id: uuid.UUID, resource_ids: Sequence[str]
    ) -> Mapping[str, Acl]:
        found: dict[str, Acl] = {}
        for resource_id in resource_ids:
            acl = self._s.acls.get((tenant_id, resource_id))
            if acl is not None:
                found[resource_id] = acl
        return found

    async def put(self, tenant_id: uuid.UUID, acl: Acl) -> None:
        _check_tenant(self._s, tenant_id)
        self._s.acls[(tenant_id, acl.resource)] = acl

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        removed = 0
        for resource_id in dict.fromkeys(resource_ids):
            if self._s.acls.pop((tenant_id, resource_id), None) is not None:
                removed += 1
        return removed


class MemoryDaclRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def list_for(self, tenant_id: uuid.UUID, resource_id: str) -> list[Dacl]:
        return list((await self.get_many(tenant_id, [resource_id])).get(resource_id, []))

    async def get_many(
        self, tenant_id: uuid.UUID, resource_ids: Sequence[str]
    ) -> Mapping[str, list[Dacl]]:
        wanted = set(resource_ids)
        found: dict[str, list[Dacl]] = {}
        for (owner_tenant, resource_id, _), dacl in self._s.dacls.items():
            if owner_tenant == tenant_id and resource_id in wanted:
                found.setdefault(resource_id, []).append(dacl)
        for dacls in found.values():
            dacls.sort(key=lambda d: d.applies_to)
        return found

    async def put(self, tenant_id: uuid.UUID, dacl: Dacl) -> None:
        _check_tenant(self._s, tenant_id)
        self._s.dacls[(tenant_id, dacl.resource, dacl.applies_to)] = dacl

    async def delete(self, tenant_id: uuid.UUID, resource_id: str, applies_to: str) -> bool:
        return self._s.dacls.pop((tenant_id, resource_id, applies_to), None) is not None

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        doomed = set(resource_ids)
        keys = [k for k in self._s.dacls if k[0] == tenant_id and k[1] in doomed]
        for key in keys:
            del self._s.dacls[key]
        return len(keys)


class MemoryPolicyVersionRepository:
    """Writers of the memory store are serialised by its lock, so a bump needs no other."""

    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def bump(self, tenant_id: uuid.UUID) -> int:
        _check_tenant(self._s, tenant_id)
        version = self._s.policy_versions.get(tenant_id, 0) + 1
        self._s.policy_versions[tenant_id] = version
        return version

    async def current(self, tenant_id: uuid.UUID) -> int:
        return self._s.policy_versions.get(tenant_id, 0)

    async def all(self) -> Mapping[uuid.UUID, int]:
        return dict(self._s.policy_versions)
