"""ResourceRepository, AclRepository, DaclRepository and PolicyVersionRepository contracts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from tests.contract.support import T0, create_tenant
from truapi.adapters.sqlalchemy.tables import acl_entries, dacl_entries
from truapi.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import Conflict, TenantNotFound
from truapi.domain.policy.acl import Acl, AclEntry, Dacl
from truapi.domain.policy.resources import Resource, ResourceName
from truapi.domain.tenants import Tenant


def resource(
    tenant: Tenant | uuid.UUID,
    rid: str,
    parent: str | None = None,
    owner: str | None = None,
    minutes: int = 0,
) -> Resource:
    return Resource.create(
        tenant_id=tenant.id if isinstance(tenant, Tenant) else tenant,
        name=ResourceName.parse(rid),
        parent=parent,
        owner=owner,
        now=T0 + timedelta(minutes=minutes),
    )


def entry(effect: str, principal: str, *actions: str) -> AclEntry:
    return AclEntry.create(effect, principal, actions, "entries")


async def register(uow_factory: UnitOfWorkFactory, *resources: Resource) -> None:
    async with uow_factory() as uow:
        for r in resources:
            await uow.resources.add(r)
        await uow.commit()


async def chain_of(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, rid: str, limit: int = 33
) -> list[str]:
    async with uow_factory(readonly=True) as uow:
        return [r.id for r in await uow.resources.ancestors(tenant.id, rid, limit)]


async def below(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, rid: str, limit: int = 1000
) -> list[str]:
    async with uow_factory(readonly=True) as uow:
        return await uow.resources.descendants(tenant.id, rid, limit)


async def stored_entry_rows(uow_factory: UnitOfWorkFactory) -> int | None:
    """ACL and DACL entry rows in the SQL tables (None for the memory adapter)."""
    if not isinstance(uow_factory, SqlUnitOfWorkFactory):
        return None
    async with uow_factory.engine.connect() as conn:
        acl_rows = (await conn.execute(select(func.count()).select_from(acl_entries))).scalar()
        dacl_rows = (await conn.execute(select(func.count()).select_from(dacl_entries))).scalar()
    return int(acl_rows or 0) + int(dacl_rows or 0)


@contextmanager
def counting_statements(uow_factory: UnitOfWorkFactory) -> Iterator[list[str]]:
    """The SQL statements the factory's engine runs meanwhile (none recorded in memory)."""
    statements: list[str] = []
    if not isinstance(uow_factory, SqlUnitOfWorkFactory):
        yield statements
        return
    engine = uow_factory.engine.sync_engine

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


# --- resources -----------------------------------------------------------------------------


async def test_resource_reads_back_and_is_scoped(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    doc = resource(tenant, "doc:readme", parent="folder:root", owner=f"user:{uuid.uuid4()}")
    await register(uow_factory, doc, resource(other_tenant, "doc:other"))
    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.get(tenant.id, "doc:readme") == doc
        assert await uow.resources.get(other_tenant.id, "doc:readme") is None
        assert await uow.resources.get(tenant.id, "doc:other") is None
        assert await uow.resources.get(tenant.id, "doc:README") is None


async def test_resource_ids_and_principals_at_their_longest(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    long_type = "t" + "y" * 31
    rid = f"{long_type}:{'é' * 199}!"
    parent = f"{long_type}:{'p' * 200}"
    owner = f"api_key:{uuid.uuid4()}"
    long_one = resource(tenant, rid, parent=parent, owner=owner)
    assert len(rid) == 233
    await register(uow_factory, long_one)
    async with uow_factory() as uow:
        await uow.acls.put(tenant.id, Acl(rid, entries=(entry("allow", owner, "read"),)))
        await uow.dacls.put(tenant.id, Dacl(rid, long_type, (entry("deny", owner, "*"),)))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.get(tenant.id, rid) == long_one
        assert await uow.acls.get(tenant.id, rid) == Acl(
            rid, entries=(entry("allow", owner, "read"),)
        )
        assert await uow.dacls.list_for(tenant.id, rid) == [
            Dacl(rid, long_type, (entry("deny", owner, "*"),))
        ]


async def test_resource_added_twice_is_a_conflict(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = resource(tenant, "doc:a", owner="user:" + str(uuid.uuid4()))
    await register(uow_factory, first)
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.resources.add(resource(tenant, "doc:a", parent="folder:x"))
        # A clash leaves the unit of work usable; another tenant may use the same id.
        await uow.resources.add(resource(other_tenant, "doc:a"))
        await uow.resources.add(resource(tenant, "doc:b"))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.get(tenant.id, "doc:a") == first
        assert await uow.resources.get(tenant.id, "doc:b") is not None
        assert await uow.resources.get(other_tenant.id, "doc:a") is not None


async def test_rows_of_a_missing_tenant_are_refused(uow_factory: UnitOfWorkFactory) -> None:
    ghost = uuid.uuid4()
    async with uow_factory() as uow:
        with pytest.raises(TenantNotFound):
            await uow.resources.add(resource(ghost, "doc:a"))
    async with uow_factory() as uow:
        with pytest.raises(TenantNotFound):
            await uow.acls.put(ghost, Acl("doc:a", entries=(entry("allow", "owner", "read"),)))
    async with uow_factory() as uow:
        with pytest.raises(TenantNotFound):
            await uow.dacls.put(ghost, Dacl("doc:a", "*"))
    async with uow_factory() as uow:
        with pytest.raises(TenantNotFound):
            await uow.policy_versions.bump(ghost)
    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.get(ghost, "doc:a") is None
        assert await uow.acls.get(ghost, "doc:a") is None
        assert await uow.dacls.list_for(ghost, "doc:a") == []
        assert await uow.policy_versions.current(ghost) == 0
        assert await uow.policy_versions.all() == {}


async def test_update_stores_parent_and_owner(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    owner = f"user:{uuid.uuid4()}"
    doc = resource(tenant, "doc:a", parent="folder:old", owner=owner)
    twin = resource(other_tenant, "doc:a", parent="folder:old", owner=owner)
    await register(uow_factory, doc, twin)
    moved = Resource(
        tenant_id=tenant.id,
        id="doc:a",
        type="doc",
        parent="folder:new",
        owner=None,
        created_at=T0 + timedelta(days=1),
    )
    async with uow_factory() as uow:
        await uow.resources.update(moved)
        # Updating what is not registered stores nothing.
        await uow.resources.update(resource(tenant, "doc:ghost", parent="folder:new"))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        stored = await uow.resources.get(tenant.id, "doc:a")
        assert stored is not None
        assert (stored.parent, stored.owner, stored.type) == ("folder:new", None, "doc")
        assert stored.created_at == T0
        assert await uow.resources.get(other_tenant.id, "doc:a") == twin
        assert await uow.resources.get(tenant.id, "doc:ghost") is None


async def test_delete_many_removes_resources_but_not_their_lists(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    await register(
        uow_factory,
        resource(tenant, "doc:a"),
        resource(tenant, "doc:b"),
        resource(tenant, "doc:c"),
        resource(other_tenant, "doc:a"),
    )
    async with uow_factory() as uow:
        await uow.acls.put(tenant.id, Acl("doc:a", entries=(entry("allow", "owner", "read"),)))
        await uow.dacls.put(tenant.id, Dacl("doc:a", "*", (entry("allow", "owner", "read"),)))
        assert await uow.resources.delete_many(tenant.id, ["doc:a", "doc:b", "doc:x", "doc:a"]) == 2
        assert await uow.resources.delete_many(tenant.id, []) == 0
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.get(tenant.id, "doc:a") is None
        assert await uow.resources.get(tenant.id, "doc:b") is None
        assert await uow.resources.get(tenant.id, "doc:c") is not None
        assert await uow.resources.get(other_tenant.id, "doc:a") is not None
        assert await uow.acls.get(tenant.id, "doc:a") is not None
        assert await uow.dacls.list_for(tenant.id, "doc:a") != []


async def test_children_are_listed_in_id_order_with_keyset_pages(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    ids = ["doc:b", "doc:B", "doc:a-b", "doc:ab", "doc:_x", "doc:é", "doc:z", "doc:10", "note:1"]
    await register(
        uow_factory,
        resource(tenant, "folder:root"),
        *(resource(tenant, rid, parent="folder:root") for rid in ids),
        resource(tenant, "doc:grandchild", parent="doc:b"),
        resource(tenant, "doc:top"),
        resource(tenant, "folder:top"),
        resource(other_tenant, "doc:foreign", parent="folder:root"),
    )

    async def walk(parent: str | None, kind: str | None, size: int) -> list[str]:
        seen: list[str] = []
        after: str | None = None
        while True:
            async with uow_factory(readonly=True) as uow:
                page = await uow.resources.children_page(tenant.id, parent, kind, after, size)
            seen.extend(r.id for r in page)
            if len(page) < size:
                return seen
            after = page[-1].id

    for size in (1, 4, 100):
        assert await walk("folder:root", None, size) == sorted(ids)
        assert await walk("folder:root", "doc", size) == sorted(i for i in ids if i[:4] == "doc:")
    # Without a parent: the resources hanging under the tenant root.
    assert await walk(None, None, 2) == ["doc:top", "folder:root", "folder:top"]
    assert await walk(None, "folder", 2) == ["folder:root", "folder:top"]
    assert await walk("doc:b", None, 2) == ["doc:grandchild"]
    assert await walk("folder:none", None, 2) == []
    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.has_children(tenant.id, "folder:root")
        assert await uow.resources.has_children(tenant.id, "doc:b")
        assert not await uow.resources.has_children(tenant.id, "doc:z")
        assert not await uow.resources.has_children(other_tenant.id, "doc:b")
        assert await uow.resources.has_children(other_tenant.id, "folder:root")


async def test_ancestors_come_nearest_first(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    await register(
        uow_factory,
        resource(tenant, "folder:a"),
        resource(tenant, "folder:b", parent="folder:a"),
        resource(tenant, "folder:c", parent="folder:b"),
        resource(tenant, "doc:d", parent="folder:c"),
        # The parent is not registered: the chain ends there.
        resource(tenant, "doc:orphan", parent="folder:missing"),
        resource(other_tenant, "folder:b", parent="folder:z"),
        resource(other_tenant, "folder:z"),
    )
    assert await chain_of(uow_factory, tenant, "doc:d") == [
        "doc:d",
        "folder:c",
        "folder:b",
        "folder:a",
    ]
    assert await chain_of(uow_factory, tenant, "doc:d", limit=2) == ["doc:d", "folder:c"]
    assert await chain_of(uow_factory, tenant, "doc:d", limit=0) == []
    assert await chain_of(uow_factory, tenant, "folder:a") == ["folder:a"]
    assert await chain_of(uow_factory, tenant, "doc:orphan") == ["doc:orphan"]
    assert await chain_of(uow_factory, tenant, "doc:unregistered") == []
    assert await chain_of(uow_factory, other_tenant, "folder:b") == ["folder:b", "folder:z"]
    async with uow_factory(readonly=True) as uow:
        rows = await uow.resources.ancestors(tenant.id, "folder:b", 10)
        assert rows == [
            resource(tenant, "folder:b", parent="folder:a"),
            resource(tenant, "folder:a"),
        ]


async def test_ancestors_stop_at_a_stored_loop(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    # Repositories store parents as given: the use cases are the ones that refuse cycles.
    await register(
        uow_factory,
        resource(tenant, "folder:a", parent="folder:c"),
        resource(tenant, "folder:b", parent="folder:a"),
        resource(tenant, "folder:c", parent="folder:b"),
        resource(tenant, "doc:in", parent="folder:a"),
        resource(tenant, "folder:self", parent="folder:self"),
    )
    assert await chain_of(uow_factory, tenant, "doc:in", limit=1000) == [
        "doc:in",
        "folder:a",
        "folder:c",
        "folder:b",
    ]
    assert await chain_of(uow_factory, tenant, "doc:in", limit=3) == [
        "doc:in",
        "folder:a",
        "folder:c",
    ]
    assert await chain_of(uow_factory, tenant, "folder:self", limit=1000) == ["folder:self"]


async def test_descendants_cover_the_subtree_nearest_first(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    await register(
        uow_factory,
        resource(tenant, "folder:root"),
        resource(tenant, "folder:x", parent="folder:root"),
        resource(tenant, "folder:a", parent="folder:root"),
        resource(tenant, "doc:1", parent="folder:x"),
        resource(tenant, "doc:2", parent="folder:a"),
        resource(tenant, "doc:3", parent="doc:2"),
        resource(tenant, "doc:elsewhere"),
        resource(tenant, "doc:hanging", parent="folder:unregistered"),
        resource(other_tenant, "doc:foreign", parent="folder:root"),
    )
    assert await below(uow_factory, tenant, "folder:root") == [
        "folder:a",
        "folder:x",
        "doc:1",
        "doc:2",
        "doc:3",
    ]
    assert await below(uow_factory, tenant, "folder:root", limit=3) == [
        "folder:a",
        "folder:x",
        "doc:1",
    ]
    assert await below(uow_factory, tenant, "folder:a") == ["doc:2", "doc:3"]
    assert await below(uow_factory, tenant, "doc:3") == []
    # Not registered itself: the children naming it as their parent still count.
    assert await below(uow_factory, tenant, "folder:unregistered") == ["doc:hanging"]
    assert await below(uow_factory, other_tenant, "folder:root") == ["doc:foreign"]


async def test_descendants_stay_bounded_on_a_stored_loop(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    await register(
        uow_factory,
        resource(tenant, "folder:a", parent="folder:c"),
        resource(tenant, "folder:b", parent="folder:a"),
        resource(tenant, "folder:c", parent="folder:b"),
        resource(tenant, "doc:leaf", parent="folder:b"),
        resource(tenant, "folder:self", parent="folder:self"),
    )
    # The walk comes back to the start, which is not its own descendant, and ends.
    assert await below(uow_factory, tenant, "folder:a") == ["folder:b", "doc:leaf", "folder:c"]
    assert await below(uow_factory, tenant, "folder:a", limit=1) == ["folder:b"]
    assert await below(uow_factory, tenant, "folder:self") == []


# --- ACLs ----------------------------------------------------------------------------------


async def test_acl_put_replaces_the_list_keeping_order_and_version(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    user, group = f"user:{uuid.uuid4()}", f"group:{uuid.uuid4()}"
    first = Acl(
        "doc:a",
        inherit=True,
        entries=(
            entry("deny", user, "write", "delete"),
            entry("allow", group, "read", "write", "*"),
            entry("allow", "authenticated", "read"),
            entry("allow", "owner", "*"),
        ),
        version=1,
    )
    async with uow_factory() as uow:
        assert await uow.acls.get(tenant.id, "doc:a") is None
        await uow.acls.put(tenant.id, first)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.acls.get(tenant.id, "doc:a") == first
        assert await uow.acls.get(other_tenant.id, "doc:a") is None

    second = Acl(
        "doc:a",
        inherit=False,
        entries=(entry("allow", "owner", "admin"), entry("deny", user, "*")),
        version=2,
    )
    async with uow_factory() as uow:
        await uow.acls.put(tenant.id, second)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.acls.get(tenant.id, "doc:a") == second

    emptied = Acl("doc:a", inherit=True, entries=(), version=3)
    async with uow_factory() as uow:
        await uow.acls.put(tenant.id, emptied)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.acls.get(tenant.id, "doc:a") == emptied
    assert await stored_entry_rows(uow_factory) in (None, 0)


async def test_acl_get_many_returns_the_existing_lists(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    lists = {
        f"doc:{i}": Acl(
            f"doc:{i}",
            inherit=i % 2 == 0,
            entries=tuple(entry("allow", "owner", f"act{j}") for j in range(i)),
            version=i,
        )
        for i in range(5)
    }
    async with uow_factory() as uow:
        for acl in lists.values():
            await uow.acls.put(tenant.id, acl)
        await uow.acls.put(other_tenant.id, Acl("doc:9", entries=(entry("deny", "owner", "*"),)))
        await uow.commit()

    wanted = ["doc:4", "doc:0", "doc:missing", "doc:9", "doc:2", "doc:4"]
    async with uow_factory() as uow:
        with counting_statements(uow_factory) as statements:
            found = await uow.acls.get_many(tenant.id, wanted)
        if isinstance(uow_factory, SqlUnitOfWorkFactory):
            assert 1 <= len(statements) <= 2, statements
        assert await uow.acls.get_many(tenant.id, []) == {}
    assert dict(found) == {rid: lists[rid] for rid in ("doc:0", "doc:2", "doc:4")}


async def test_acl_delete_many_takes_the_entries_along(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    entries = (entry("allow", "owner", "read"), entry("deny", "authenticated", "write"))
    async with uow_factory() as uow:
        for rid in ("doc:a", "doc:b", "doc:c"):
            await uow.acls.put(tenant.id, Acl(rid, entries=entries, version=1))
        await uow.acls.put(other_tenant.id, Acl("doc:a", entries=entries, version=1))
        await uow.commit()
    assert await stored_entry_rows(uow_factory) in (None, 8)

    async with uow_factory() as uow:
        assert await uow.acls.delete_many(tenant.id, ["doc:a", "doc:b", "doc:x"]) == 2
        assert await uow.acls.delete_many(tenant.id, ["doc:a"]) == 0
        await uow.commit()
    assert await stored_entry_rows(uow_factory) in (None, 4)

    async with uow_factory() as uow:
        assert await uow.acls.get(tenant.id, "doc:a") is None
        assert await uow.acls.get(tenant.id, "doc:c") == Acl("doc:c", entries=entries, version=1)
        assert await uow.acls.get(other_tenant.id, "doc:a") is not None
        # A list made again starts empty: nothing of the old one lingers.
        await uow.acls.put(tenant.id, Acl("doc:a", version=7))
        assert await uow.acls.get(tenant.id, "doc:a") == Acl("doc:a", version=7)


# --- default ACLs --------------------------------------------------------------------------


async def test_dacls_are_one_per_applies_to(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    user = f"user:{uuid.uuid4()}"
    docs = Dacl("folder:a", "doc", (entry("allow", user, "read"), entry("deny", user, "write")))
    anything = Dacl("folder:a", "*", (entry("allow", "owner", "*"),))
    notes = Dacl("folder:a", "note", ())
    async with uow_factory() as uow:
        assert await uow.dacls.list_for(tenant.id, "folder:a") == []
        for dacl in (docs, notes, anything):
            await uow.dacls.put(tenant.id, dacl)
        await uow.dacls.put(other_tenant.id, Dacl("folder:a", "doc", (entry("deny", user, "*"),)))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        # Ordered by applies_to: "*" before the types.
        assert await uow.dacls.list_for(tenant.id, "folder:a") == [anything, docs, notes]

    replaced = Dacl("folder:a", "doc", (entry("allow", "authenticated", "read"),))
    async with uow_factory() as uow:
        await uow.dacls.put(tenant.id, replaced)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.dacls.list_for(tenant.id, "folder:a") == [anything, replaced, notes]
        assert await uow.dacls.list_for(other_tenant.id, "folder:a") == [
            Dacl("folder:a", "doc", (entry("deny", user, "*"),))
        ]


async def test_dacl_get_many_and_deletion(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    rule = (entry("allow", "owner", "read", "write"),)
    async with uow_factory() as uow:
        for rid in ("folder:a", "folder:b", "folder:c"):
            for applies_to in ("*", "doc"):
                await uow.dacls.put(tenant.id, Dacl(rid, applies_to, rule))
        await uow.dacls.put(other_tenant.id, Dacl("folder:z", "doc", rule))
        await uow.commit()

    async with uow_factory() as uow:
        with counting_statements(uow_factory) as statements:
            found = await uow.dacls.get_many(
                tenant.id, ["folder:c", "folder:a", "folder:none", "folder:z"]
            )
        if isinstance(uow_factory, SqlUnitOfWorkFactory):
            assert 1 <= len(statements) <= 2, statements
        assert await uow.dacls.get_many(tenant.id, []) == {}
    assert dict(found) == {
        rid: [Dacl(rid, "*", rule), Dacl(rid, "doc", rule)] for rid in ("folder:a", "folder:c")
    }
    assert await stored_entry_rows(uow_factory) in (None, 7)

    async with uow_factory() as uow:
        assert await uow.dacls.delete(tenant.id, "folder:a", "doc")
        assert not await uow.dacls.delete(tenant.id, "folder:a", "doc")
        assert not await uow.dacls.delete(other_tenant.id, "folder:b", "doc")
        assert await uow.dacls.delete_many(tenant.id, ["folder:b", "folder:none"]) == 2
        assert await uow.dacls.delete_many(tenant.id, ["folder:b"]) == 0
        await uow.commit()
    assert await stored_entry_rows(uow_factory) in (None, 4)

    async with uow_factory(readonly=True) as uow:
        assert await uow.dacls.list_for(tenant.id, "folder:a") == [Dacl("folder:a", "*", rule)]
        assert await uow.dacls.list_for(tenant.id, "folder:b") == []
        assert len(await uow.dacls.list_for(tenant.id, "folder:c")) == 2
        assert await uow.dacls.list_for(other_tenant.id, "folder:z") == [
            Dacl("folder:z", "doc", rule)
        ]


# --- policy versions -----------------------------------------------------------------------


async def test_bump_counts_per_tenant(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    third = await create_tenant(uow_factory, "tenant-c")
    async with uow_factory(readonly=True) as uow:
        assert await uow.policy_versions.current(tenant.id) == 0
        assert await uow.policy_versions.all() == {}

    async with uow_factory() as uow:
        assert await uow.policy_versions.bump(tenant.id) == 1
        assert await uow.policy_versions.bump(tenant.id) == 2
        assert await uow.policy_versions.current(tenant.id) == 2
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.policy_versions.bump(other_tenant.id) == 1
        assert await uow.policy_versions.bump(tenant.id) == 3
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.policy_versions.current(tenant.id) == 3
        assert await uow.policy_versions.current(other_tenant.id) == 1
        assert await uow.policy_versions.current(third.id) == 0
        assert await uow.policy_versions.all() == {tenant.id: 3, other_tenant.id: 1}


# --- the unit of work ----------------------------------------------------------------------


async def test_uncommitted_changes_leave_nothing(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    kept_acl = Acl("doc:kept", entries=(entry("allow", "owner", "read"),), version=1)
    kept_dacl = Dacl("doc:kept", "*", (entry("allow", "owner", "read"),))
    await register(uow_factory, resource(tenant, "doc:kept"))
    async with uow_factory() as uow:
        await uow.acls.put(tenant.id, kept_acl)
        await uow.dacls.put(tenant.id, kept_dacl)
        await uow.policy_versions.bump(tenant.id)
        await uow.commit()

    async with uow_factory() as uow:
        await uow.resources.add(resource(tenant, "doc:new", parent="doc:kept"))
        await uow.resources.update(resource(tenant, "doc:kept", parent="folder:moved"))
        await uow.acls.put(tenant.id, Acl("doc:kept", inherit=False, version=2))
        await uow.acls.put(tenant.id, Acl("doc:new", entries=(entry("deny", "owner", "*"),)))
        await uow.dacls.put(tenant.id, Dacl("doc:kept", "*"))
        await uow.dacls.put(tenant.id, Dacl("doc:kept", "doc", (entry("deny", "owner", "*"),)))
        assert await uow.policy_versions.bump(tenant.id) == 2
        # Not committed.

    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.get(tenant.id, "doc:new") is None
        kept = await uow.resources.get(tenant.id, "doc:kept")
        assert kept is not None
        assert kept.parent is None
        assert await uow.acls.get(tenant.id, "doc:kept") == kept_acl
        assert await uow.acls.get(tenant.id, "doc:new") is None
        assert await uow.dacls.list_for(tenant.id, "doc:kept") == [kept_dacl]
        assert await uow.policy_versions.current(tenant.id) == 1
    assert await stored_entry_rows(uow_factory) in (None, 2)


async def test_acl_storage_needs_no_registered_resource(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    async with uow_factory() as uow:
        await uow.acls.put(tenant.id, Acl("doc:free", version=1))
        await uow.dacls.put(tenant.id, Dacl("doc:free", "doc"))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.get(tenant.id, "doc:free") is None
        assert await uow.acls.get(tenant.id, "doc:free") == Acl("doc:free", version=1)
        assert await uow.dacls.list_for(tenant.id, "doc:free") == [Dacl("doc:free", "doc")]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
async def test_deleting_a_tenant_takes_its_authorization_rows_along(
    uow_factory: UnitOfWorkFactory,
) -> None:
    """The SQL schema's cascades: every table hangs on the tenant (no use case deletes a
    tenant yet, so this is checked on the tables)."""
    assert isinstance(uow_factory, SqlUnitOfWorkFactory)
    tenant = await create_tenant(uow_factory, "doomed")
    await register(uow_factory, resource(tenant, "doc:a"))
    async with uow_factory() as uow:
        await uow.acls.put(tenant.id, Acl("doc:a", entries=(entry("allow", "owner", "read"),)))
        await uow.dacls.put(tenant.id, Dacl("doc:a", "*", (entry("allow", "owner", "read"),)))
        await uow.policy_versions.bump(tenant.id)
        await uow.commit()
    async with uow_factory.engine.begin() as conn:
        await conn.execute(text("DELETE FROM tenants"))
    assert await stored_entry_rows(uow_factory) == 0
    async with uow_factory(readonly=True) as uow:
        assert await uow.resources.get(tenant.id, "doc:a") is None
        assert await uow.policy_versions.all() == {}
