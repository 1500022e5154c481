"""Repository ports of the authorization model: resources, ACLs, default ACLs, and the
per-tenant policy version every change bumps."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol

from truapi.domain.policy.acl import Acl, Dacl
from truapi.domain.policy.resources import Resource


class ResourceRepository(Protocol):
    """Registered resources of one tenant. Parent links are plain names, checked by the use
    cases; reads stay bounded when stored data loops."""

    async def get(self, tenant_id: uuid.UUID, resource_id: str) -> Resource | None: ...

    async def add(self, resource: Resource) -> None:
        """Insert; ``Conflict`` when it exists."""

    async def update(self, resource: Resource) -> None:
        """Store ``parent`` and ``owner`` of an existing resource."""

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        """Remove these resources (not their ACLs); returns how many existed."""

    async def has_children(self, tenant_id: uuid.UUID, resource_id: str) -> bool: ...

    async def children_page(
        self,
        tenant_id: uuid.UUID,
        parent: str | None,
        resource_type: str | None,
        after: str | None,
        limit: int,
    ) -> list[Resource]:
        """Direct children of ``parent`` (None: those under the tenant root), ordered by id,
        strictly after ``after``, optionally of one type."""

    async def ancestors(self, tenant_id: uuid.UUID, resource_id: str, limit: int) -> list[Resource]:
        """The registered resource itself (when it is) and its registered ancestors, nearest
        first, at most ``limit`` of them; stops early at a repeat, so loops end."""

    async def descendants(self, tenant_id: uuid.UUID, resource_id: str, limit: int) -> list[str]:
        """Ids of every resource below this one (any depth), at most ``limit``."""


class AclRepository(Protocol):
    """Each resource's own ACL."""

    async def get(self, tenant_id: uuid.UUID, resource_id: str) -> Acl | None: ...

    async def get_many(
        self, tenant_id: uuid.UUID, resource_ids: Sequence[str]
    ) -> Mapping[str, Acl]:
        """The ACLs among ``resource_ids`` that exist, by resource id."""

    async def put(self, tenant_id: uuid.UUID, acl: Acl) -> None:
        """Insert or replace the ACL (inherit, entries in order, version) of ``acl.resource``."""

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        """Remove these resources' ACLs; returns how many existed."""


class DaclRepository(Protocol):
    """Default ACLs: at most one per (resource, ``applies_to``)."""

    async def list_for(self, tenant_id: uuid.UUID, resource_id: str) -> list[Dacl]:
        """This resource's default ACLs ordered by ``applies_to``."""

    async def get_many(
        self, tenant_id: uuid.UUID, resource_ids: Sequence[str]
    ) -> Mapping[str, list[Dacl]]:
        """Default ACLs of each of ``resource_ids`` that has any."""

    async def put(self, tenant_id: uuid.UUID, dacl: Dacl) -> None:
        """Insert or replace the default ACL of ``(dacl.resource, dacl.applies_to)``."""

    async def delete(self, tenant_id: uuid.UUID, resource_id: str, applies_to: str) -> bool: ...

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        """Remove every default ACL of these resources; returns how many existed."""


class PolicyVersionRepository(Protocol):
    """A counter per tenant that every change to its policy data moves on."""

    async def bump(self, tenant_id: uuid.UUID) -> int:
        """Increment (creating it at 1) and return the new version. On PostgreSQL this locks
        the tenant's row until commit, so policy changes of one tenant are serialised: a
        cycle check and the write it guards cannot interleave with another's."""

    async def current(self, tenant_id: uuid.UUID) -> int:
        """The tenant's version (0 when it never changed)."""

    async def all(self) -> Mapping[uuid.UUID, int]:
        """Every tenant's version."""
