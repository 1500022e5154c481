"""UnitOfWork contract: nothing is kept unless committed, and a failure leaves no half-write."""

from __future__ import annotations

import uuid

import pytest

from tests.contract.support import T0, add_users, make_user
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.groups import Group, Membership, MemberType
from truapi.domain.tenants import Tenant
from truapi.domain.users import User


class Boom(Exception):
    pass


async def test_not_committed_is_rolled_back(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    user = make_user(tenant.id, "alice")
    async with uow_factory() as uow:
        await uow.users.add(user)
        assert await uow.users.get(tenant.id, user.id) == user  # visible to itself
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, user.id) is None
        assert await uow.users.count(tenant.id) == 0


async def test_committed_is_visible_to_the_next_unit(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user = make_user(tenant.id, "alice")
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
        # Still usable after commit, and sees what it committed.
        assert await uow.users.get(tenant.id, user.id) == user
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, user.id) == user


async def test_work_after_commit_needs_its_own_commit(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    alice, bob, carol = (make_user(tenant.id, n) for n in ("alice", "bob", "carol"))
    async with uow_factory() as uow:
        await uow.users.add(alice)
        await uow.commit()
        await uow.users.add(bob)
        await uow.commit()
        await uow.users.add(carol)
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, alice.id) == alice
        assert await uow.users.get(tenant.id, bob.id) == bob
        assert await uow.users.get(tenant.id, carol.id) is None


async def test_uncommitted_work_is_invisible_to_other_units(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user = make_user(tenant.id, "alice")
    async with uow_factory() as writer:
        await writer.users.add(user)
        async with uow_factory(readonly=True) as reader:
            assert await reader.users.get(tenant.id, user.id) is None
            assert await reader.users.count(tenant.id) == 0
        await writer.commit()
    async with uow_factory(readonly=True) as reader:
        assert await reader.users.get(tenant.id, user.id) == user


async def test_read_only_unit_refuses_to_commit(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.count(tenant.id) == 0
        with pytest.raises(RuntimeError):
            await uow.commit()


async def _user_in_group(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> tuple[User, Group]:
    user = make_user(tenant.id, "alice")
    group = Group.create(tenant_id=tenant.id, name="admins", now=T0)
    await add_users(uow_factory, user)
    async with uow_factory() as uow:
        await uow.groups.add(group)
        await uow.groups.add_member(
            Membership(
                tenant_id=tenant.id,
                group_id=group.id,
                member_type=MemberType.USER,
                member_id=user.id,
                created_at=T0,
            )
        )
        await uow.commit()
    return user, group


async def _still_there(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, user: User, group: Group
) -> None:
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, user.id) == user
        assert await uow.groups.is_member(tenant.id, group.id, MemberType.USER, user.id)


async def test_exception_leaves_nothing_half_written(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user, group = await _user_in_group(uow_factory, tenant)
    newcomer = make_user(tenant.id, "bob")

    async def delete_then_fail() -> None:
        async with uow_factory() as uow:
            removed = await uow.groups.remove_member_everywhere(tenant.id, MemberType.USER, user.id)
            assert removed == 1
            assert await uow.users.delete(tenant.id, user.id)
            await uow.users.add(newcomer)
            raise Boom()

    with pytest.raises(Boom):
        await delete_then_fail()

    await _still_there(uow_factory, tenant, user, group)
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, newcomer.id) is None


async def test_exception_after_a_commit_keeps_only_the_committed_part(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user, group = await _user_in_group(uow_factory, tenant)
    first = make_user(tenant.id, "bob")

    async def commit_then_fail() -> None:
        async with uow_factory() as uow:
            await uow.users.add(first)
            await uow.commit()
            await uow.groups.remove_member_everywhere(tenant.id, MemberType.USER, user.id)
            await uow.users.delete(tenant.id, user.id)
            raise Boom()

    with pytest.raises(Boom):
        await commit_then_fail()

    await _still_there(uow_factory, tenant, user, group)
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, first.id) == first


async def test_delete_with_memberships_commits_atomically(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user, group = await _user_in_group(uow_factory, tenant)
    async with uow_factory() as uow:
        await uow.groups.remove_member_everywhere(tenant.id, MemberType.USER, user.id)
        await uow.users.delete(tenant.id, user.id)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, user.id) is None
        assert not await uow.groups.is_member(tenant.id, group.id, MemberType.USER, user.id)
        assert await uow.groups.get_by_name(tenant.id, "admins") == group


async def test_units_of_work_are_reusable_one_after_another(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    # Many short units in a row: connections (or locks) go back after each one.
    for i in range(30):
        async with uow_factory() as uow:
            await uow.users.add(
                make_user(tenant.id, f"user{i:02d}", email=f"{uuid.uuid4().hex}@x.example")
            )
            if i % 2 == 0:
                await uow.commit()
        async with uow_factory(readonly=True) as uow:
            await uow.users.count(tenant.id)
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.count(tenant.id) == 15
