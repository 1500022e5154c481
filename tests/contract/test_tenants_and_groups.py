"""TenantRepository and GroupRepository contracts."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from tests.contract.support import SCOPE, T0, create_tenant, idempotency_record, make_user
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import Conflict, GroupNameTaken, TenantNotFound, TenantSlugTaken
from truapi.domain.groups import Group, Membership, MemberType
from truapi.domain.tenants import Tenant, TenantStatus


async def test_tenant_reads_back_by_id_and_slug(uow_factory: UnitOfWorkFactory) -> None:
    tenant = await create_tenant(uow_factory, "acme")
    async with uow_factory(readonly=True) as uow:
        assert await uow.tenants.get(tenant.id) == tenant
        assert await uow.tenants.get_by_slug("acme") == tenant
        assert await uow.tenants.get(uuid.uuid4()) is None
        assert await uow.tenants.get_by_slug("acme-2") is None
    assert tenant.status is TenantStatus.ACTIVE


async def test_tenant_slug_taken(uow_factory: UnitOfWorkFactory) -> None:
    first = await create_tenant(uow_factory, "acme")
    second = await create_tenant(uow_factory, "globex")

    async with uow_factory() as uow:
        with pytest.raises(TenantSlugTaken):
            await uow.tenants.add(Tenant.create(slug="acme", name="Another Acme", now=T0))
        # A clash leaves the unit of work usable.
        third = Tenant.create(slug="initech", name="Initech", now=T0)
        await uow.tenants.add(third)
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.tenants.get_by_slug("acme") == first
        assert await uow.tenants.get_by_slug("globex") == second
        assert await uow.tenants.get_by_slug("initech") == third


async def test_tenant_with_an_existing_id_is_a_conflict(uow_factory: UnitOfWorkFactory) -> None:
    first = await create_tenant(uow_factory, "acme")
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.tenants.add(replace(first, slug="other"))
    async with uow_factory(readonly=True) as uow:
        assert await uow.tenants.get(first.id) == first
        assert await uow.tenants.get_by_slug("other") is None


def membership(
    tenant: Tenant,
    group: Group,
    member_id: uuid.UUID,
    member_type: MemberType = MemberType.USER,
) -> Membership:
    return Membership(
        tenant_id=tenant.id,
        group_id=group.id,
        member_type=member_type,
        member_id=member_id,
        created_at=T0,
    )


async def add_groups(uow_factory: UnitOfWorkFactory, *groups: Group) -> None:
    async with uow_factory() as uow:
        for group in groups:
            await uow.groups.add(group)
        await uow.commit()


async def test_group_reads_back_by_name_in_any_case(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    group = Group.create(tenant_id=tenant.id, name="Admins", now=T0, description="The admins")
    await add_groups(uow_factory, group)
    async with uow_factory(readonly=True) as uow:
        assert await uow.groups.get_by_name(tenant.id, "Admins") == group
        assert await uow.groups.get_by_name(tenant.id, "admins") == group
        assert await uow.groups.get_by_name(tenant.id, "ADMINS") == group
        assert await uow.groups.get_by_name(tenant.id, "admin") is None
        assert await uow.groups.get_by_name(other_tenant.id, "admins") is None


async def test_group_name_taken_per_tenant_regardless_of_case(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    group = Group.create(tenant_id=tenant.id, name="Admins", now=T0)
    elsewhere = Group.create(tenant_id=other_tenant.id, name="admins", now=T0)
    await add_groups(uow_factory, group, elsewhere)

    async with uow_factory() as uow:
        with pytest.raises(GroupNameTaken):
            await uow.groups.add(Group.create(tenant_id=tenant.id, name="ADMINS", now=T0))
        with pytest.raises(Conflict):
            await uow.groups.add(replace(group, name="Renamed"))
        editors = Group.create(tenant_id=tenant.id, name="editors", now=T0)
        await uow.groups.add(editors)
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.groups.get_by_name(tenant.id, "admins") == group
        assert await uow.groups.get_by_name(tenant.id, "renamed") is None
        assert await uow.groups.get_by_name(tenant.id, "editors") == editors
        assert await uow.groups.get_by_name(other_tenant.id, "admins") == elsewhere


async def test_add_member_is_idempotent(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    group = Group.create(tenant_id=tenant.id, name="admins", now=T0)
    await add_groups(uow_factory, group)
    user_id = uuid.uuid4()

    async with uow_factory() as uow:
        assert await uow.groups.add_member(membership(tenant, group, user_id))
        assert not await uow.groups.add_member(membership(tenant, group, user_id))
        await uow.commit()
    async with uow_factory() as uow:
        added = await uow.groups.add_member(
            replace(membership(tenant, group, user_id), source="scim")
        )
        assert not added
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.groups.is_member(tenant.id, group.id, MemberType.USER, user_id)
        # Added three times, stored once: one removal takes it away.
        assert await uow.groups.remove_member_everywhere(tenant.id, MemberType.USER, user_id) == 1
        assert not await uow.groups.is_member(tenant.id, group.id, MemberType.USER, user_id)


async def test_is_member_is_exact(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    admins = Group.create(tenant_id=tenant.id, name="admins", now=T0)
    editors = Group.create(tenant_id=tenant.id, name="editors", now=T0)
    await add_groups(uow_factory, admins, editors)
    user_id = uuid.uuid4()
    async with uow_factory() as uow:
        await uow.groups.add_member(membership(tenant, admins, user_id))
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.groups.is_member(tenant.id, admins.id, MemberType.USER, user_id)
        assert not await uow.groups.is_member(tenant.id, editors.id, MemberType.USER, user_id)
        assert not await uow.groups.is_member(tenant.id, admins.id, MemberType.GROUP, user_id)
        assert not await uow.groups.is_member(tenant.id, admins.id, MemberType.USER, uuid.uuid4())
        assert not await uow.groups.is_member(other_tenant.id, admins.id, MemberType.USER, user_id)


async def test_remove_member_everywhere_is_scoped(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    admins = Group.create(tenant_id=tenant.id, name="admins", now=T0)
    editors = Group.create(tenant_id=tenant.id, name="editors", now=T0)
    foreign = Group.create(tenant_id=other_tenant.id, name="admins", now=T0)
    await add_groups(uow_factory, admins, editors, foreign)
    member, bystander = uuid.uuid4(), uuid.uuid4()
    async with uow_factory() as uow:
        await uow.groups.add_member(membership(tenant, admins, member))
        await uow.groups.add_member(membership(tenant, editors, member))
        await uow.groups.add_member(membership(tenant, admins, bystander))
        # The same id as a group member, and as a member in another tenant: both stay.
        await uow.groups.add_member(membership(tenant, editors, member, MemberType.GROUP))
        await uow.groups.add_member(membership(other_tenant, foreign, member))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.groups.remove_member_everywhere(tenant.id, MemberType.USER, member) == 2
        assert await uow.groups.remove_member_everywhere(tenant.id, MemberType.USER, member) == 0
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert not await uow.groups.is_member(tenant.id, admins.id, MemberType.USER, member)
        assert not await uow.groups.is_member(tenant.id, editors.id, MemberType.USER, member)
        assert await uow.groups.is_member(tenant.id, admins.id, MemberType.USER, bystander)
        assert await uow.groups.is_member(tenant.id, editors.id, MemberType.GROUP, member)
        assert await uow.groups.is_member(other_tenant.id, foreign.id, MemberType.USER, member)


async def test_rows_of_a_missing_tenant_are_refused(uow_factory: UnitOfWorkFactory) -> None:
    ghost = uuid.uuid4()
    async with uow_factory() as uow:
        with pytest.raises(TenantNotFound):
            await uow.users.add(make_user(ghost, "alice"))
    async with uow_factory() as uow:
        with pytest.raises(TenantNotFound):
            await uow.groups.add(Group.create(tenant_id=ghost, name="admins", now=T0))
    async with uow_factory() as uow:
        with pytest.raises(TenantNotFound):
            await uow.idempotency.add(idempotency_record(ghost, "k"))
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.count(ghost) == 0
        assert await uow.groups.get_by_name(ghost, "admins") is None
        assert await uow.idempotency.get(ghost, SCOPE, "k") is None
