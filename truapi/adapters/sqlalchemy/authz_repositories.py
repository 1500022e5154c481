"""Core-based repositories of the authorization model: resources, ACLs, default ACLs and
policy versions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Integer, Table, delete, func, insert, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from truapi.adapters.sqlalchemy.connection import Executor
from truapi.adapters.sqlalchemy.errors import foreign_key_violated
from truapi.adapters.sqlalchemy.repositories import _insert_unless_conflict, chunks
from truapi.adapters.sqlalchemy.tables import (
    acl_entries,
    acls,
    dacl_entries,
    dacls,
    policy_versions,
    resources,
)
from truapi.domain.errors import Conflict, TenantNotFound
from truapi.domain.policy.acl import Acl, AclEntry, Dacl, Effect
from truapi.domain.policy.resources import Resource


def _to_resource(row: Any) -> Resource:
    return Resource(
        tenant_id=row.tenant_id,
        id=row.id,
        type=row.type,
        parent=row.parent,
        owner=row.owner,
        created_at=row.created_at,
    )


def _upsert(conn: Executor, table: Table) -> Any:
    """``INSERT … ON CONFLICT`` in the connection's dialect (SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(conn.dialect.name)  # pragma: no cover - only SQLite and PG


async def _execute_for_tenant(conn: Executor, statement: Any) -> Any:
    """Run a write whose only foreign key that can fail is the tenant's."""
    try:
        return await conn.execute(statement)
    except IntegrityError as exc:
        if foreign_key_violated(exc):
            raise TenantNotFound() from None
        raise


def _entry_rows(entries: Sequence[AclEntry], key: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            **key,
            "position": position,
            "effect": entry.effect.value,
            "principal": entry.principal,
            "actions": list(entry.actions),
        }
        for position, entry in enumerate(entries)
    ]


def _to_entry(row: Any) -> AclEntry:
    return AclEntry(Effect(row.effect), row.principal, tuple(row.actions))


class SqlResourceRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def get(self, tenant_id: uuid.UUID, resource_id: str) -> Resource | None:
        row = (
            await self._c.execute(
                select(resources).where(
                    resources.c.tenant_id == tenant_id, resources.c.id == resource_id
                )
            )
        ).first()
        return _to_resource(row) if row is not None else None

    async def add(self, resource: Resource) -> None:
        row = {
            "tenant_id": resource.tenant_id,
            "id": resource.id,
            "type": resource.type,
            "parent": resource.parent,
            "owner": resource.owner,
            "created_at": resource.created_at,
        }
        if not await _insert_unless_conflict(
            self._c, resources, row, on_missing_reference=TenantNotFound()
        ):
            raise Conflict("This resource is registered already.")

    async def update(self, resource: Resource) -> None:
        await self._c.execute(
            resources.update()
            .where(resources.c.tenant_id == resource.tenant_id, resources.c.id == resource.id)
            .values(parent=resource.parent, owner=resource.owner)
        )

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        removed = 0
        for part in chunks(list(dict.fromkeys(resource_ids))):
            result = await self._c.execute(
                delete(resources).where(
                    resources.c.tenant_id == tenant_id, resources.c.id.in_(part)
                )
            )
            removed += int(result.rowcount)
        return removed

    async def has_children(self, tenant_id: uuid.UUID, resource_id: str) -> bool:
        row = (
            await self._c.execute(
                select(resources.c.id)
                .where(resources.c.tenant_id == tenant_id, resources.c.parent == resource_id)
                .limit(1)
            )
        ).first()
        return row is not None

    async def children_page(
        self,
        tenant_id: uuid.UUID,
        parent: str | None,
        resource_type: str | None,
        after: str | None,
        limit: int,
    ) -> list[Resource]:
        stmt = select(resources).where(
            resources.c.tenant_id == tenant_id,
            resources.c.parent.is_(None) if parent is None else resources.c.parent == parent,
        )
        if resource_type is not None:
            stmt = stmt.where(resources.c.type == resource_type)
        if after is not None:
            stmt = stmt.where(resources.c.id > after)
        result = await self._c.execute(stmt.order_by(resources.c.id).limit(limit))
        return [_to_resource(row) for row in result]

    async def ancestors(self, tenant_id: uuid.UUID, resource_id: str, limit: int) -> list[Resource]:
        if limit < 1:
            return []
        r = resources
        # Up the parent links, one per step; the depth bound ends a stored loop.
        chain = (
            select(r, literal_column("1", Integer).label("depth"))
            .where(r.c.tenant_id == tenant_id, r.c.id == resource_id)
            .cte("chain", recursive=True)
        )
        chain = chain.union_all(
            select(r, (chain.c.depth + 1).label("depth"))
            .select_from(chain)
            .join(r, (r.c.tenant_id == tenant_id) & (r.c.id == chain.c.parent))
            .where(chain.c.depth < limit)
        )
        result = await self._c.execute(select(chain).order_by(chain.c.depth))
        found: list[Resource] = []
        seen: set[str] = set()
        for row in result:
            if row.id in seen:
                break
            seen.add(row.id)
            found.append(_to_resource(row))
        return found

    async def descendants(self, tenant_id: uuid.UUID, resource_id: str, limit: int) -> list[str]:
        if limit < 1:
            return []
        r = resources
        # Down the tree, a level per step. UNION drops repeated (id, depth) rows and the depth
        # bound ends a stored loop: more than ``limit`` levels hold more than ``limit`` ids.
        below = (
            select(r.c.id, literal_column("1", Integer).label("depth"))
            .where(r.c.tenant_id == tenant_id, r.c.parent == resource_id)
            .cte("below", recursive=True)
        )
        below = below.union(
            select(r.c.id, (below.c.depth + 1).label("depth"))
            .select_from(below)
            .join(r, (r.c.tenant_id == tenant_id) & (r.c.parent == below.c.id))
            .where(below.c.depth < limit)
        )
        nearest = func.min(below.c.depth)
        result = await self._c.execute(
            select(below.c.id)
            .where(below.c.id != resource_id)
            .group_by(below.c.id)
            .order_by(nearest, below.c.id)
            .limit(limit)
        )
        return [row.id for row in result]


class SqlAclRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def get(self, tenant_id: uuid.UUID, resource_id: str) -> Acl | None:
        return (await self.get_many(tenant_id, [resource_id])).get(resource_id)

    async def get_many(
        self, tenant_id: uuid.UUID, resource_ids: Sequence[str]
    ) -> Mapping[str, Acl]:
        found: dict[str, Acl] = {}
        for part in chunks(list(dict.fromkeys(resource_ids))):
            # One statement per chunk: each list with its entries in order (none: a NULL row).
            result = await self._c.execute(
                select(
                    acls.c.resource,
                    acls.c.inherit,
                    acls.c.version,
                    acl_entries.c.position,
                    acl_entries.c.effect,
                    acl_entries.c.principal,
                    acl_entries.c.actions,
                )
                .select_from(
                    acls.outerjoin(
                        acl_entries,
                        (acl_entries.c.tenant_id == acls.c.tenant_id)
                        & (acl_entries.c.resource == acls.c.resource),
                    )
                )
                .where(acls.c.tenant_id == tenant_id, acls.c.resource.in_(part))
                .order_by(acls.c.resource, acl_entries.c.position)
            )
            entries: dict[str, list[AclEntry]] = {}
            heads: dict[str, Any] = {}
            for row in result:
                heads.setdefault(row.resource, row)
                bucket = entries.setdefault(row.resource, [])
                if row.position is not None:
                    bucket.append(_to_entry(row))
            for resource, head in heads.items():
                found[resource] = Acl(
                    resource=resource,
                    inherit=bool(head.inherit),
                    entries=tuple(entries[resource]),
                    version=int(head.version),
                )
        return found

    async def put(self, tenant_id: uuid.UUID, acl: Acl) -> None:
        values = {
            "tenant_id": tenant_id,
            "resource": acl.resource,
            "inherit": acl.inherit,
            "version": acl.version,
        }
        upsert = _upsert(self._c, acls).values(values)
        await _execute_for_tenant(
            self._c,
            upsert.on_conflict_do_update(
                index_elements=[acls.c.tenant_id, acls.c.resource],
                set_={"inherit": acl.inherit, "version": acl.version},
            ),
        )
        # The unit of work's transaction makes the swap of entries atomic.
        await self._c.execute(
            delete(acl_entries).where(
                acl_entries.c.tenant_id == tenant_id, acl_entries.c.resource == acl.resource
            )
        )
        if acl.entries:
            rows = _entry_rows(acl.entries, {"tenant_id": tenant_id, "resource": acl.resource})
            await self._c.execute(insert(acl_entries).values(rows))

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        # Entries go with their list (ON DELETE CASCADE).
        removed = 0
        for part in chunks(list(dict.fromkeys(resource_ids))):
            result = await self._c.execute(
                delete(acls).where(acls.c.tenant_id == tenant_id, acls.c.resource.in_(part))
            )
            removed += int(result.rowcount)
        return removed


class SqlDaclRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def list_for(self, tenant_id: uuid.UUID, resource_id: str) -> list[Dacl]:
        return list((await self.get_many(tenant_id, [resource_id])).get(resource_id, []))

    async def get_many(
        self, tenant_id: uuid.UUID, resource_ids: Sequence[str]
    ) -> Mapping[str, list[Dacl]]:
        found: dict[str, list[Dacl]] = {}
        for part in chunks(list(dict.fromkeys(resource_ids))):
            result = await self._c.execute(
                select(
                    dacls.c.resource,
                    dacls.c.applies_to,
                    dacl_entries.c.position,
                    dacl_entries.c.effect,
                    dacl_entries.c.principal,
                    dacl_entries.c.actions,
                )
                .select_from(
                    dacls.outerjoin(
                        dacl_entries,
                        (dacl_entries.c.tenant_id == dacls.c.tenant_id)
                        & (dacl_entries.c.resource == dacls.c.resource)
                        & (dacl_entries.c.applies_to == dacls.c.applies_to),
                    )
                )
                .where(dacls.c.tenant_id == tenant_id, dacls.c.resource.in_(part))
                .order_by(dacls.c.resource, dacls.c.applies_to, dacl_entries.c.position)
            )
            # Rows come ordered by applies_to within each resource: dicts keep that order.
            lists: dict[str, dict[str, list[AclEntry]]] = {}
            for row in result:
                bucket = lists.setdefault(row.resource, {}).setdefault(row.applies_to, [])
                if row.position is not None:
                    bucket.append(_to_entry(row))
            for resource, by_type in lists.items():
                found[resource] = [
                    Dacl(resource=resource, applies_to=applies_to, entries=tuple(entries))
                    for applies_to, entries in by_type.items()
                ]
        return found

    async def put(self, tenant_id: uuid.UUID, dacl: Dacl) -> None:
        key = {"tenant_id": tenant_id, "resource": dacl.resource, "applies_to": dacl.applies_to}
        await _execute_for_tenant(
            self._c, _upsert(self._c, dacls).values(key).on_conflict_do_nothing()
        )
        await self._c.execute(
            delete(dacl_entries).where(
                dacl_entries.c.tenant_id == tenant_id,
                dacl_entries.c.resource == dacl.resource,
                dacl_entries.c.applies_to == dacl.applies_to,
            )
        )
        if dacl.entries:
            await self._c.execute(insert(dacl_entries).values(_entry_rows(dacl.entries, key)))

    async def delete(self, tenant_id: uuid.UUID, resource_id: str, applies_to: str) -> bool:
        result = await self._c.execute(
            delete(dacls).where(
                dacls.c.tenant_id == tenant_id,
                dacls.c.resource == resource_id,
                dacls.c.applies_to == applies_to,
            )
        )
        return result.rowcount == 1

    async def delete_many(self, tenant_id: uuid.UUID, resource_ids: Sequence[str]) -> int:
        removed = 0
        for part in chunks(list(dict.fromkeys(resource_ids))):
            result = await self._c.execute(
                delete(dacls).where(dacls.c.tenant_id == tenant_id, dacls.c.resource.in_(part))
            )
            removed += int(result.rowcount)
        return removed


class SqlPolicyVersionRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def bump(self, tenant_id: uuid.UUID) -> int:
        # One statement that creates or increments the row and keeps it locked until commit
        # on PostgreSQL; SQLite writers hold the database's write lock already.
        pv = policy_versions
        stmt = (
            _upsert(self._c, pv)
            .values(tenant_id=tenant_id, version=1)
            .on_conflict_do_update(
                index_elements=[pv.c.tenant_id], set_={"version": pv.c.version + 1}
            )
            .returning(pv.c.version)
        )
        result = await _execute_for_tenant(self._c, stmt)
        return int(result.scalar_one())

    async def current(self, tenant_id: uuid.UUID) -> int:
        result = await self._c.execute(
            select(policy_versions.c.version).where(policy_versions.c.tenant_id == tenant_id)
        )
        version = result.scalar_one_or_none()
        return int(version) if version is not None else 0

    async def all(self) -> Mapping[uuid.UUID, int]:
        result = await self._c.execute(
            select(policy_versions.c.tenant_id, policy_versions.c.version)
        )
        return {row.tenant_id: int(row.version) for row in result}
