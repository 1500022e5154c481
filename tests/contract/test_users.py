"""UserRepository contract: get, add, update, delete, count, tenant scoping and uniqueness."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.support import T0, add_users, fullwidth, make_user
from truapi.application.ports.repositories import UserQuery
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import Conflict, EmailTaken, UsernameTaken
from truapi.domain.tenants import Tenant
from truapi.domain.users import UserStatus


async def test_added_user_reads_back_equal(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    user = replace(
        make_user(tenant.id, "Fan.Club", email="Fan@Bücher.example", display_name="  Ärger  "),
        password_hash="$argon2id$v=19$m=8192,t=1,p=1$c2FsdA$aGFzaA",
        mfa_enabled=True,
    )
    await add_users(uow_factory, user)

    async with uow_factory(readonly=True) as uow:
        by_id = await uow.users.get(tenant.id, user.id)
        by_name = await uow.users.get_by_username(tenant.id, "fan.club")

    assert by_id == user
    assert by_name == user
    assert by_id is not None
    assert by_id.username == "fan.club"
    assert by_id.display_name == "Ärger"
    assert by_id.email == "fan@bücher.example"
    assert by_id.created_at.utcoffset() == timedelta(0)


async def test_unknown_user_is_none(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    await add_users(uow_factory, make_user(tenant.id, "alice"))
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, uuid.uuid4()) is None
        assert await uow.users.get_by_username(tenant.id, "bob") is None
        # Lookups are exact: normalising is the caller's job, done before the repository.
        assert await uow.users.get_by_username(tenant.id, "Alice") is None


async def test_user_of_one_tenant_is_invisible_from_another(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    user = make_user(tenant.id, "alice")
    await add_users(uow_factory, user)

    async with uow_factory() as uow:
        assert await uow.users.get(other_tenant.id, user.id) is None
        assert await uow.users.get_by_username(other_tenant.id, "alice") is None
        assert await uow.users.count(other_tenant.id) == 0
        assert await uow.users.list_page(other_tenant.id, UserQuery(), None, 10) == []
        assert await uow.users.list_page(other_tenant.id, UserQuery(q="alice"), None, 10) == []
        foreign = replace(
            user.with_changes(now=T0, display_name="Hijacked"), tenant_id=other_tenant.id
        )
        assert await uow.users.update(foreign) is False
        assert await uow.users.delete(other_tenant.id, user.id) is False
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, user.id) == user


async def test_same_username_and_email_in_two_tenants(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = make_user(tenant.id, "alice", email="alice@example.com")
    second = make_user(other_tenant.id, "alice", email="alice@example.com")
    await add_users(uow_factory, first, second)

    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get_by_username(tenant.id, "alice") == first
        assert await uow.users.get_by_username(other_tenant.id, "alice") == second
        assert await uow.users.count(tenant.id) == 1
        assert await uow.users.count(other_tenant.id) == 1


async def test_duplicate_username_is_username_taken(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    await add_users(uow_factory, make_user(tenant.id, "alice", email="one@example.com"))
    # Differs only by case and width: normalised to the same username before the repository.
    twin = make_user(tenant.id, fullwidth("ALICE"), email="two@example.com")
    assert twin.username == "alice"

    async with uow_factory() as uow:
        with pytest.raises(UsernameTaken):
            await uow.users.add(twin)

    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, twin.id) is None
        assert await uow.users.count(tenant.id) == 1


@pytest.mark.parametrize("email", ["alice@example.com", "username@example.com"])
async def test_duplicate_email_is_email_taken(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, email: str
) -> None:
    # "username@…" guards against telling the clashes apart by words in the error text.
    await add_users(uow_factory, make_user(tenant.id, "alice", email=email))
    twin = make_user(tenant.id, "bob", email=email.upper())
    assert twin.email == email

    async with uow_factory() as uow:
        with pytest.raises(EmailTaken):
            await uow.users.add(twin)

    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, twin.id) is None


async def test_username_is_named_when_both_clash(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    await add_users(uow_factory, make_user(tenant.id, "alice", email="alice@example.com"))
    async with uow_factory() as uow:
        with pytest.raises(UsernameTaken):
            await uow.users.add(make_user(tenant.id, "alice", email="alice@example.com"))


async def test_username_is_named_when_two_rows_clash(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    # The email belongs to an older user than the username: still UsernameTaken.
    await add_users(
        uow_factory,
        make_user(tenant.id, "bob", email="shared@example.com", minutes=0),
        make_user(tenant.id, "alice", email="alice@example.com", minutes=1),
    )
    async with uow_factory() as uow:
        with pytest.raises(UsernameTaken):
            await uow.users.add(make_user(tenant.id, "alice", email="shared@example.com"))


async def test_adding_an_existing_id_is_a_conflict(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user = make_user(tenant.id, "alice")
    await add_users(uow_factory, user)
    clone = replace(make_user(tenant.id, "bob"), id=user.id)

    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.users.add(clone)

    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, user.id) == user


async def test_unit_of_work_stays_usable_after_a_clash(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    await add_users(uow_factory, make_user(tenant.id, "alice"))
    bob = make_user(tenant.id, "bob")

    async with uow_factory() as uow:
        with pytest.raises(UsernameTaken):
            await uow.users.add(make_user(tenant.id, "alice", email="other@example.com"))
        with pytest.raises(EmailTaken):
            await uow.users.add(make_user(tenant.id, "carol", email="alice@example.com"))
        await uow.users.add(bob)
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, bob.id) == bob
        assert await uow.users.count(tenant.id) == 2


async def test_update_needs_the_previous_version(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user = make_user(tenant.id, "alice")
    await add_users(uow_factory, user)
    changed = user.with_changes(
        now=T0 + timedelta(hours=1),
        email="New@Example.com",
        display_name="Alice L.",
        status=UserStatus.DISABLED,
    )
    assert changed.version == 2

    async with uow_factory() as uow:
        assert await uow.users.update(changed) is True
        await uow.commit()

    async with uow_factory() as uow:
        stored = await uow.users.get(tenant.id, user.id)
        assert stored == changed
        # The same change again names version 1 as previous, but 2 is stored now.
        assert await uow.users.update(changed) is False
        # A writer that read version 1 and changes it later loses.
        assert await uow.users.update(user.with_changes(now=T0, display_name="Stale")) is False
        assert await uow.users.update(replace(changed, version=5)) is False
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, user.id) == changed
        assert await uow.users.get_by_username(tenant.id, "alice") == changed


async def test_update_of_missing_user_is_false(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    ghost = make_user(tenant.id, "ghost").with_changes(now=T0, display_name="Boo")
    async with uow_factory() as uow:
        assert await uow.users.update(ghost) is False
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, ghost.id) is None


async def test_update_to_a_taken_email_is_email_taken(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    alice = make_user(tenant.id, "alice", email="alice@example.com")
    bob = make_user(tenant.id, "bob", email="bob@example.com")
    carol = make_user(tenant.id, "carol", email="carol@example.com")
    await add_users(uow_factory, alice, bob, carol)

    async with uow_factory() as uow:
        with pytest.raises(EmailTaken):
            await uow.users.update(bob.with_changes(now=T0, email="ALICE@example.com"))
        # Keeping one's own email is no clash; the unit of work is still usable after one.
        assert await uow.users.update(carol.with_changes(now=T0, display_name="Carol C."))
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, bob.id) == bob
        stored_carol = await uow.users.get(tenant.id, carol.id)
        assert stored_carol is not None
        assert stored_carol.display_name == "Carol C."


async def test_delete_frees_username_and_email(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    alice = make_user(tenant.id, "alice")
    bob = make_user(tenant.id, "bob")
    await add_users(uow_factory, alice, bob)

    async with uow_factory() as uow:
        assert await uow.users.delete(tenant.id, alice.id) is True
        assert await uow.users.delete(tenant.id, alice.id) is False
        assert await uow.users.get(tenant.id, alice.id) is None
        await uow.commit()

    again = make_user(tenant.id, "Alice", email="ALICE@example.com")
    await add_users(uow_factory, again)
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.get(tenant.id, alice.id) is None
        assert await uow.users.get_by_username(tenant.id, "alice") == again
        assert await uow.users.get(tenant.id, bob.id) == bob
        assert await uow.users.delete(tenant.id, uuid.uuid4()) is False


async def test_count_follows_adds_and_deletes(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.count(tenant.id) == 0
    users = [make_user(tenant.id, f"user{i}") for i in range(5)]
    await add_users(uow_factory, *users, make_user(other_tenant.id, "elsewhere"))
    async with uow_factory() as uow:
        assert await uow.users.count(tenant.id) == 5
        await uow.users.delete(tenant.id, users[0].id)
        assert await uow.users.count(tenant.id) == 4
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.count(tenant.id) == 4
        assert await uow.users.count(other_tenant.id) == 1
