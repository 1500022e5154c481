"""Resource, ACL and default-ACL use cases. Whether the caller may administer the
resource is decided before these run (see ``Authorizer.may_administer``)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from truapi.application.authz.changes import Actor, VersionPublisher, audit
from truapi.application.pagination import CursorCodec, Page
from truapi.application.ports.clock import Clock
from truapi.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from truapi.application.preconditions import etag_matches
from truapi.domain.audit import AuditAction
from truapi.domain.errors import (
    HierarchyTooDeep,
    InvalidCursor,
    ReservedResourceType,
    ResourceCycle,
    ResourceHasChildren,
    ResourceNotFound,
    VersionMismatch,
)
from truapi.domain.policy.acl import Acl, AclEntry, Dacl, check_entry_count
from truapi.domain.policy.principals import parse_principal
from truapi.domain.policy.resources import (
    API_KEY,
    GROUP,
    TENANT,
    USER,
    Resource,
    ResourceName,
    tenant_root,
)

#: Cascading deletes stop here; a larger subtree is removed in several calls.
MAX_CASCADE = 10_000
#: How many removed resource ids an audit event lists.
AUDIT_SAMPLE = 100


class Unset:
    """Marks a field the caller left out (as opposed to setting it to null)."""


UNSET = Unset()


def acl_etag(acl: Acl) -> str:
    return f'"{acl.version}"'


def resource_etag(resource: Resource) -> str:
    """Changes whenever the parent or the owner does."""
    digest = hashlib.sha256(
        f"{resource.id}\n{resource.parent}\n{resource.owner}".encode()
    ).hexdigest()
    return f'"{digest[:16]}"'


@dataclass(frozen=True, slots=True)
class PutResource:
    name: ResourceName
    parent: str | Unset | None = UNSET
    owner: str | Unset | None = UNSET
    if_match: str | None = None


class ResourceService:
    """Registers resources in a tenant's tree and manages their ACLs and default ACLs."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        versions: VersionPublisher,
        cursors: CursorCodec,
        *,
        max_depth: int,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._versions = versions
        self._cursors = cursors
        self._max_depth = max_depth

    # -- resources ---------------------------------------------------------------------

    async def get(self, tenant_id: uuid.UUID, name: ResourceName) -> Resource:
        """The registered resource, or the built-in one of an existing object."""
        async with self._uow(readonly=True) as uow:
            return await self._existing(uow, tenant_id, name)

    async def put(self, actor: Actor, command: PutResource) -> tuple[Resource, bool]:
        """Register or change a resource; returns it and whether it was created."""
        tenant_id = actor.tenant_id
        name = command.name
        if name.reserved:
            raise ReservedResourceType(name.type)
        rid = str(name)
        now = self._clock.now()
        async with self._uow() as uow:
            # First: on PostgreSQL this serialises the tenant's policy changes, so the
            # cycle check below cannot interleave with another writer's.
            version = await uow.policy_versions.bump(tenant_id)
            before = await uow.resources.get(tenant_id, rid)
            if command.if_match is not None and (
                before is None or not etag_matches(command.if_match, resource_etag(before))
            ):
                raise VersionMismatch()
            parent = before.parent if before is not None else None
            if not isinstance(command.parent, Unset):
                parent = await self._valid_parent(uow, tenant_id, rid, command.parent)
            owner = before.owner if before is not None else None
            if not isinstance(command.owner, Unset):
                owner = (
                    None
                    if command.owner is None
                    else parse_principal(command.owner, "owner", special=False)
                )
            if before is None:
                resource = Resource.create(
                    tenant_id=tenant_id, name=name, parent=parent, owner=owner, now=now
                )
                await uow.resources.add(resource)
                action = AuditAction.RESOURCE_CREATED
            else:
                resource = Resource(
                    tenant_id=tenant_id,
                    id=rid,
                    type=name.type,
                    parent=parent,
                    owner=owner,
                    created_at=before.created_at,
                )
                if resource == before:
                    return before, False
                await uow.resources.update(resource)
                action = AuditAction.RESOURCE_CHANGED
            await audit(
                uow,
                actor,
                now,
                action,
                rid,
                {
                    "before": _resource_view(before) if before is not None else None,
                    "after": _resource_view(resource),
                },
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)
        return resource, before is None

    async def delete(
        self,
        actor: Actor,
        name: ResourceName,
        *,
        cascade: bool,
        if_match: str | None = None,
    ) -> None:
        """Remove a registered resource with its ACL and default ACLs; with ``cascade``,
        its whole subtree too (``ResourceHasChildren`` otherwise)."""
        tenant_id = actor.tenant_id
        if name.reserved:
            raise ReservedResourceType(name.type)
        rid = str(name)
        now = self._clock.now()
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            before = await uow.resources.get(tenant_id, rid)
            if before is None:
                raise ResourceNotFound()
            if if_match is not None and not etag_matches(if_match, resource_etag(before)):
                raise VersionMismatch()
            doomed = [rid]
            if await uow.resources.has_children(tenant_id, rid):
                if not cascade:
                    raise ResourceHasChildren()
                below = await uow.resources.descendants(tenant_id, rid, MAX_CASCADE)
                doomed.extend(r for r in below if r != rid)
            await uow.acls.delete_many(tenant_id, doomed)
            await uow.dacls.delete_many(tenant_id, doomed)
            await uow.resources.delete_many(tenant_id, doomed)
            await audit(
                uow,
                actor,
                now,
                AuditAction.RESOURCE_DELETED,
                rid,
                {
                    "before": _resource_view(before),
                    "cascade": cascade,
                    "removed": len(doomed),
                    # A bounded sample: a cascade may remove thousands.
                    "removed_ids": doomed[:AUDIT_SAMPLE],
                },
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)

    async def children(
        self,
        tenant_id: uuid.UUID,
        parent: ResourceName | None,
        resource_type: str | None,
        *,
        limit: int,
        cursor: str | None,
    ) -> Page[Resource]:
        """Direct children of ``parent`` (None or the tenant root: top-level resources)."""
        parent_id = str(parent) if parent is not None else None
        if parent_id == tenant_root(tenant_id):
            parent_id = None
        context = f"resources:{tenant_id.hex}:{parent_id or ''}:{resource_type or ''}"
        after: str | None = None
        if cursor is not None:
            position = self._cursors.decode(context, cursor)
            if len(position) != 1 or not isinstance(position[0], str):
                raise InvalidCursor()
            after = position[0]
        async with self._uow(readonly=True) as uow:
            if parent is not None and parent_id is not None:
                await self._existing(uow, tenant_id, parent)
            rows = await uow.resources.children_page(
                tenant_id, parent_id, resource_type, after, limit + 1
            )
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = self._cursors.encode(context, [rows[-1].id])
        return Page(items=rows, next_cursor=next_cursor)

    # -- ACLs ----------------------------------------------------------------------------

    async def get_acl(self, tenant_id: uuid.UUID, name: ResourceName) -> Acl:
        """The resource's ACL (``inherit: true`` and no entries when it has none)."""
        async with self._uow(readonly=True) as uow:
            await self._existing(uow, tenant_id, name)
            return await uow.acls.get(tenant_id, str(name)) or Acl(str(name))

    async def put_acl(
        self,
        actor: Actor,
        name: ResourceName,
        *,
        inherit: bool,
        entries: Sequence[AclEntry],
        if_match: str | None = None,
    ) -> Acl:
        """Replace the ACL (``VersionMismatch`` when ``if_match`` is stale); registers an
        unknown resource under the tenant root."""
        check_entry_count(entries)
        tenant_id = actor.tenant_id
        rid = str(name)
        now = self._clock.now()
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            await self._register(uow, tenant_id, name, now)
            before = await uow.acls.get(tenant_id, rid) or Acl(rid)
            if if_match is not None and not etag_matches(if_match, acl_etag(before)):
                raise VersionMismatch()
            acl = Acl(rid, inherit=inherit, entries=tuple(entries), version=version)
            await uow.acls.put(tenant_id, acl)
            await audit(
                uow,
                actor,
                now,
                AuditAction.ACL_CHANGED,
                rid,
                {"before": _acl_view(before), "after": _acl_view(acl)},
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)
        return acl

    async def delete_acl(
        self, actor: Actor, name: ResourceName, *, if_match: str | None = None
    ) -> None:
        """Remove the resource's own ACL (it then inherits, with no entries)."""
        tenant_id = actor.tenant_id
        rid = str(name)
        now = self._clock.now()
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            await self._existing(uow, tenant_id, name)
            before = await uow.acls.get(tenant_id, rid)
            if if_match is not None and not etag_matches(if_match, acl_etag(before or Acl(rid))):
                raise VersionMismatch()
            if before is None:
                return
            await uow.acls.delete_many(tenant_id, [rid])
            await audit(
                uow, actor, now, AuditAction.ACL_DELETED, rid, {"before": _acl_view(before)}
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)

    # -- default ACLs --------------------------------------------------------------------

    async def get_dacls(self, tenant_id: uuid.UUID, name: ResourceName) -> list[Dacl]:
        async with self._uow(readonly=True) as uow:
            await self._existing(uow, tenant_id, name)
            return await uow.dacls.list_for(tenant_id, str(name))

    async def put_dacl(
        self, actor: Actor, name: ResourceName, applies_to: str, entries: Sequence[AclEntry]
    ) -> Dacl:
        """Replace the resource's default ACL for ``applies_to``."""
        check_entry_count(entries)
        tenant_id = actor.tenant_id
        rid = str(name)
        now = self._clock.now()
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            await self._register(uow, tenant_id, name, now)
            before = next(
                (d for d in await uow.dacls.list_for(tenant_id, rid) if d.applies_to == applies_to),
                None,
            )
            dacl = Dacl(rid, applies_to, tuple(entries))
            await uow.dacls.put(tenant_id, dacl)
            await audit(
                uow,
                actor,
                now,
                AuditAction.DACL_CHANGED,
                rid,
                {
                    "applies_to": applies_to,
                    "before": _entries_view(before.entries) if before is not None else None,
                    "after": _entries_view(dacl.entries),
                },
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)
        return dacl

    async def delete_dacl(self, actor: Actor, name: ResourceName, applies_to: str) -> None:
        tenant_id = actor.tenant_id
        rid = str(name)
        now = self._clock.now()
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            await self._existing(uow, tenant_id, name)
            before = next(
                (d for d in await uow.dacls.list_for(tenant_id, rid) if d.applies_to == applies_to),
                None,
            )
            if before is None:
                return
            await uow.dacls.delete(tenant_id, rid, applies_to)
            await audit(
                uow,
                actor,
                now,
                AuditAction.DACL_DELETED,
                rid,
                {"applies_to": applies_to, "before": _entries_view(before.entries)},
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)

    # -- helpers -------------------------------------------------------------------------

    async def _existing(
        self, uow: UnitOfWork, tenant_id: uuid.UUID, name: ResourceName
    ) -> Resource:
        """The resource as registered, or as its built-in object; ``ResourceNotFound``."""
        rid = str(name)
        if name.reserved:
            created = await _builtin_created_at(uow, tenant_id, name)
            if created is None:
                raise ResourceNotFound()
            owner = rid if name.type == USER else None
            return Resource(tenant_id, rid, name.type, None, owner, created)
        resource = await uow.resources.get(tenant_id, rid)
        if resource is None:
            raise ResourceNotFound()
        return resource

    async def _register(
        self, uow: UnitOfWork, tenant_id: uuid.UUID, name: ResourceName, now: datetime
    ) -> None:
        """Make sure the resource exists, registering an unknown plain one at the top."""
        if name.reserved:
            await self._existing(uow, tenant_id, name)
            return
        if await uow.resources.get(tenant_id, str(name)) is None:
            await uow.resources.add(
                Resource.create(tenant_id=tenant_id, name=name, parent=None, owner=None, now=now)
            )

    async def _valid_parent(
        self, uow: UnitOfWork, tenant_id: uuid.UUID, rid: str, parent: str | None
    ) -> str | None:
        if parent is None:
            return None
        parent_name = ResourceName.parse(parent, "parent")
        parent_id = str(parent_name)
        if parent_id == tenant_root(tenant_id):
            return None
        if parent_id == rid:
            raise ResourceCycle()
        if parent_name.reserved:
            # Built-in resources hang under the root, so nothing can sit below one of them
            # in a loop; they only need to exist.
            await self._existing(uow, tenant_id, parent_name)
            depth = 1
        else:
            chain = await uow.resources.ancestors(tenant_id, parent_id, self._max_depth + 2)
            if not chain or chain[0].id != parent_id:
                raise ResourceNotFound("The parent resource does not exist.")
            if any(r.id == rid for r in chain):
                raise ResourceCycle()
            depth = len(chain)
        # The resource, its ancestors and the root make the chain the engine walks.
        if depth + 2 > self._max_depth:
            raise HierarchyTooDeep("resources", self._max_depth)
        return parent_id


async def _builtin_created_at(
    uow: UnitOfWork, tenant_id: uuid.UUID, name: ResourceName
) -> datetime | None:
    object_id = uuid.UUID(name.id)
    if name.type == TENANT:
        tenant = await uow.tenants.get(object_id) if object_id == tenant_id else None
        return tenant.created_at if tenant is not None else None
    if name.type == USER:
        user = await uow.users.get(tenant_id, object_id)
        return user.created_at if user is not None else None
    if name.type == GROUP:
        group = await uow.groups.get(tenant_id, object_id)
        return group.created_at if group is not None else None
    if name.type == API_KEY:
        return None
    return None


def _resource_view(resource: Resource) -> dict[str, str | None]:
    return {"parent": resource.parent, "owner": resource.owner}


def _entries_view(entries: Sequence[AclEntry]) -> list[dict[str, object]]:
    return [e.to_dict() for e in entries]


def _acl_view(acl: Acl) -> dict[str, object]:
    return {"inherit": acl.inherit, "entries": _entries_view(acl.entries)}
