"""User use cases over the in-memory adapter: idempotent create, policy, If-Match, paging."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.clock import T0, FakeClock
from truapi.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from truapi.adapters.security.passwords import Argon2Hasher, ZxcvbnCommonPasswords
from truapi.application.pagination import CursorCodec
from truapi.application.ports.repositories import UserQuery, UserSort
from truapi.application.preconditions import IdempotentRequest
from truapi.application.users.service import (
    CreateUser,
    UpdateUser,
    UserService,
)
from truapi.domain.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidCursor,
    InvalidValue,
    PasswordTooCommon,
    UsernameTaken,
    UserNotFound,
    VersionMismatch,
)
from truapi.domain.groups import Group, Membership, MemberType
from truapi.domain.tenants import Tenant
from truapi.domain.users import User, UserStatus

GOOD_PASSWORD = "violet-harbor-quietly-47"


@dataclass
class World:
    uow: MemoryUnitOfWorkFactory
    clock: FakeClock
    hasher: Argon2Hasher
    service: UserService
    tenant: Tenant
    other_tenant: Tenant

    async def count(self, tenant: Tenant | None = None) -> int:
        async with self.uow(readonly=True) as uow:
            return await uow.users.count((tenant or self.tenant).id)


async def make_world() -> World:
    uow = MemoryUnitOfWorkFactory()
    clock = FakeClock(T0)
    hasher = Argon2Hasher(time_cost=1, memory_cost_kib=8192)
    service = UserService(
        uow, clock, hasher, ZxcvbnCommonPasswords(), CursorCodec(b"unit-test-key")
    )
    tenant = Tenant.create(slug="tenant-a", name="A", now=T0)
    other = Tenant.create(slug="tenant-b", name="B", now=T0)
    async with uow() as u:
        await u.tenants.add(tenant)
        await u.tenants.add(other)
        await u.commit()
    return World(uow, clock, hasher, service, tenant, other)


@pytest.fixture
async def world() -> World:
    return await make_world()


def create_cmd(world: World, username: str = "alice", **fields: object) -> CreateUser:
    values: dict[str, object] = {
        "tenant_id": world.tenant.id,
        "username": username,
        "email": f"{username.lower()}@example.com",
    }
    values.update(fields)
    return CreateUser(**values)  # type: ignore[arg-type]


def body(cmd: CreateUser) -> dict[str, object]:
    return {"username": cmd.username, "email": cmd.email, "password": cmd.password}


# --- create --------------------------------------------------------------------------------


async def test_create_normalises_and_hashes(world: World) -> None:
    cmd = create_cmd(world, "Alice", email="Alice@Example.com", password=GOOD_PASSWORD)
    created = await world.service.create(cmd)

    assert created.replayed is False
    assert created.view["username"] == "alice"
    assert created.view["email"] == "alice@example.com"
    assert created.view["display_name"] == "alice"
    assert "password_hash" not in created.view
    user = await world.service.get(world.tenant.id, uuid.UUID(str(created.view["id"])))
    assert user.public_view() == created.view
    assert user.password_hash is not None
    assert await world.hasher.verify(user.password_hash, GOOD_PASSWORD)


async def test_create_without_password(world: World) -> None:
    created = await world.service.create(create_cmd(world, status=UserStatus.DISABLED))
    user = await world.service.get(world.tenant.id, uuid.UUID(str(created.view["id"])))
    assert user.password_hash is None
    assert user.status is UserStatus.DISABLED


async def test_create_twice_is_username_taken(world: World) -> None:
    await world.service.create(create_cmd(world, "alice"))
    with pytest.raises(UsernameTaken):
        await world.service.create(create_cmd(world, "ALICE", email="other@example.com"))
    assert await world.count() == 1


async def test_same_key_and_body_replays_the_first_answer(world: World) -> None:
    cmd = create_cmd(world, password=GOOD_PASSWORD)
    request = IdempotentRequest(key="key-1", body=body(cmd))
    first = await world.service.create(cmd, request)
    world.clock.advance(hours=23)
    again = await world.service.create(cmd, IdempotentRequest(key="key-1", body=body(cmd)))

    assert first.replayed is False
    assert again.replayed is True
    assert again.view == first.view
    assert await world.count() == 1


async def test_same_key_with_another_body_is_refused(world: World) -> None:
    cmd = create_cmd(world)
    await world.service.create(cmd, IdempotentRequest(key="key-1", body=body(cmd)))
    other = create_cmd(world, "bob")
    with pytest.raises(IdempotencyKeyReused):
        await world.service.create(other, IdempotentRequest(key="key-1", body=body(other)))
    assert await world.count() == 1


async def test_key_order_in_the_body_does_not_matter(world: World) -> None:
    cmd = create_cmd(world)
    await world.service.create(cmd, IdempotentRequest(key="k", body={"a": 1, "b": [1, 2]}))
    again = await world.service.create(cmd, IdempotentRequest(key="k", body={"b": [1, 2], "a": 1}))
    assert again.replayed is True


async def test_keys_are_per_tenant(world: World) -> None:
    cmd = create_cmd(world)
    await world.service.create(cmd, IdempotentRequest(key="key-1", body=body(cmd)))
    elsewhere = create_cmd(world, tenant_id=world.other_tenant.id)
    created = await world.service.create(
        elsewhere, IdempotentRequest(key="key-1", body=body(elsewhere))
    )
    assert created.replayed is False
    assert created.view["tenant_id"] == str(world.other_tenant.id)


async def test_key_expires_after_24_hours(world: World) -> None:
    cmd = create_cmd(world)
    await world.service.create(cmd, IdempotentRequest(key="key-1", body=body(cmd)))
    world.clock.advance(hours=24, seconds=1)
    other = create_cmd(world, "bob")
    created = await world.service.create(other, IdempotentRequest(key="key-1", body=body(other)))
    assert created.replayed is False
    assert created.view["username"] == "bob"
    assert await world.count() == 2


async def test_refused_request_does_not_use_up_its_key(world: World) -> None:
    # A request that fails is not a "first response": fixing it and retrying works.
    await world.service.create(create_cmd(world, "alice"))
    clash = create_cmd(world, "alice", email="second@example.com")
    with pytest.raises(UsernameTaken):
        await world.service.create(clash, IdempotentRequest(key="key-1", body=body(clash)))
    weak = create_cmd(world, "bob", password="password123")
    with pytest.raises(PasswordTooCommon):
        await world.service.create(weak, IdempotentRequest(key="key-1", body=body(weak)))

    fixed = create_cmd(world, "bob", password=GOOD_PASSWORD)
    created = await world.service.create(fixed, IdempotentRequest(key="key-1", body=body(fixed)))
    assert created.replayed is False
    assert await world.count() == 2


async def test_concurrent_twins_with_one_key_never_clash_on_the_username(world: World) -> None:
    # With a password, hashing runs in a thread, so both twins are in flight at once.
    cmd = create_cmd(world, password=GOOD_PASSWORD)
    outcomes = await asyncio.gather(
        world.service.create(cmd, IdempotentRequest(key="key-1", body=body(cmd))),
        world.service.create(cmd, IdempotentRequest(key="key-1", body=body(cmd))),
        return_exceptions=True,
    )
    assert await world.count() == 1
    # One creates; the twin replays it, or hears "still in progress, retry": never a conflict
    # on the username it just claimed itself.
    answers = [o for o in outcomes if not isinstance(o, BaseException)]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert all(isinstance(e, IdempotencyInProgress) for e in errors), errors
    assert sorted(a.replayed for a in answers) == [False, True][: len(answers)]
    assert len({repr(a.view) for a in answers}) == 1


# --- password policy -----------------------------------------------------------------------


@pytest.mark.parametrize("password", ["short", "1234567", "x" * 257])
async def test_password_length_is_checked(world: World, password: str) -> None:
    with pytest.raises(InvalidValue) as info:
        await world.service.create(create_cmd(world, password=password))
    assert info.value.field == "password"
    assert info.value.kind == "string_length"
    assert not isinstance(info.value, PasswordTooCommon)
    assert await world.count() == 0


@pytest.mark.parametrize("password", ["password123", "qwertyuiop", "Password123", "iloveyou"])
async def test_common_passwords_are_refused(world: World, password: str) -> None:
    with pytest.raises(PasswordTooCommon) as info:
        await world.service.create(create_cmd(world, password=password))
    assert info.value.kind == "password_too_common"
    assert await world.count() == 0


@pytest.mark.parametrize("password", ["x" * 8, GOOD_PASSWORD, "p" * 256])
async def test_long_enough_uncommon_passwords_are_accepted(world: World, password: str) -> None:
    await world.service.check_password(password)


# --- get, update, delete -------------------------------------------------------------------


async def created_user(world: World, username: str = "alice") -> User:
    created = await world.service.create(create_cmd(world, username))
    return await world.service.get(world.tenant.id, uuid.UUID(str(created.view["id"])))


async def test_get_is_scoped_to_the_tenant(world: World) -> None:
    user = await created_user(world)
    assert await world.service.get(world.tenant.id, user.id) == user
    with pytest.raises(UserNotFound):
        await world.service.get(world.other_tenant.id, user.id)
    with pytest.raises(UserNotFound):
        await world.service.get(world.tenant.id, uuid.uuid4())


async def test_update_with_current_etag(world: World) -> None:
    user = await created_user(world)
    world.clock.advance(minutes=1)
    changed = await world.service.update(
        UpdateUser(
            tenant_id=world.tenant.id,
            user_id=user.id,
            display_name=" Alice L. ",
            email="New@Example.com",
            if_match=user.etag,
        )
    )
    assert changed.display_name == "Alice L."
    assert changed.email == "new@example.com"
    assert changed.version == user.version + 1
    assert changed.etag != user.etag
    assert changed.updated_at == T0 + timedelta(minutes=1)
    assert await world.service.get(world.tenant.id, user.id) == changed


async def test_update_with_a_stale_etag_is_refused(world: World) -> None:
    user = await created_user(world)
    await world.service.update(
        UpdateUser(tenant_id=world.tenant.id, user_id=user.id, display_name="First")
    )
    for stale in (user.etag, '"nonsense"', f"W/{user.etag}", ""):
        with pytest.raises(VersionMismatch):
            await world.service.update(
                UpdateUser(
                    tenant_id=world.tenant.id,
                    user_id=user.id,
                    display_name="Second",
                    if_match=stale,
                )
            )
    stored = await world.service.get(world.tenant.id, user.id)
    assert stored.display_name == "First"


@pytest.mark.parametrize("if_match", ["*", "{etag}", "W/{etag}", '"other", {etag}', " {etag} "])
async def test_update_with_matching_if_match(world: World, if_match: str) -> None:
    user = await created_user(world)
    changed = await world.service.update(
        UpdateUser(
            tenant_id=world.tenant.id,
            user_id=user.id,
            status=UserStatus.DISABLED,
            if_match=if_match.format(etag=user.etag),
        )
    )
    assert changed.status is UserStatus.DISABLED


async def test_update_of_unknown_or_foreign_user(world: World) -> None:
    user = await created_user(world)
    for tenant_id, user_id in ((world.tenant.id, uuid.uuid4()), (world.other_tenant.id, user.id)):
        with pytest.raises(UserNotFound):
            await world.service.update(
                UpdateUser(tenant_id=tenant_id, user_id=user_id, display_name="x", if_match="*")
            )


async def test_delete_removes_memberships_and_frees_the_name(world: World) -> None:
    user = await created_user(world)
    bystander = await created_user(world, "bob")
    group = Group.create(tenant_id=world.tenant.id, name="admins", now=T0)
    async with world.uow() as uow:
        await uow.groups.add(group)
        for member in (user, bystander):
            await uow.groups.add_member(
                Membership(
                    tenant_id=world.tenant.id,
                    group_id=group.id,
                    member_type=MemberType.USER,
                    member_id=member.id,
                    created_at=T0,
                )
            )
        await uow.commit()

    with pytest.raises(VersionMismatch):
        await world.service.delete(world.tenant.id, user.id, if_match='"stale"')
    with pytest.raises(UserNotFound):
        await world.service.delete(world.other_tenant.id, user.id)
    await world.service.delete(world.tenant.id, user.id, if_match=user.etag)

    with pytest.raises(UserNotFound):
        await world.service.get(world.tenant.id, user.id)
    with pytest.raises(UserNotFound):
        await world.service.delete(world.tenant.id, user.id)
    async with world.uow(readonly=True) as uow:
        assert not await uow.groups.is_member(world.tenant.id, group.id, MemberType.USER, user.id)
        assert await uow.groups.is_member(world.tenant.id, group.id, MemberType.USER, bystander.id)
    again = await world.service.create(create_cmd(world, "alice"))
    assert again.view["username"] == "alice"


# --- listing -------------------------------------------------------------------------------


async def add_many(world: World, count: int, same_time_every: int = 3) -> list[User]:
    users = []
    for i in range(count):
        if i % same_time_every == 0:
            world.clock.advance(seconds=1)
        created = await world.service.create(create_cmd(world, f"user-{(i * 7) % count:03d}"))
        users.append(await world.service.get(world.tenant.id, uuid.UUID(str(created.view["id"]))))
    return users


async def walk(world: World, query: UserQuery, limit: int) -> list[User]:
    seen: list[User] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await world.service.list(world.tenant.id, query, limit, cursor)
        assert len(page.items) <= limit
        seen.extend(page.items)
        if page.next_cursor is None:
            return seen
        assert page.items, "a next cursor after an empty page"
        cursor = page.next_cursor
    raise AssertionError("paging does not terminate")


def reference(users: list[User], sort: UserSort) -> list[User]:
    def key(u: User) -> tuple[str, uuid.UUID]:
        return (u.username if sort.field == "username" else u.created_at.isoformat(), u.id)

    return sorted(users, key=key, reverse=sort.descending)


@pytest.mark.parametrize("sort", list(UserSort))
@pytest.mark.parametrize("limit", [1, 4, 10, 50])
async def test_paging_gives_everyone_once_in_order(
    world: World, sort: UserSort, limit: int
) -> None:
    users = await add_many(world, 10)
    assert await walk(world, UserQuery(sort=sort), limit) == reference(users, sort)


async def test_last_full_page_has_no_next_cursor(world: World) -> None:
    await add_many(world, 10)
    first = await world.service.list(world.tenant.id, UserQuery(), 5, None)
    assert first.next_cursor is not None
    second = await world.service.list(world.tenant.id, UserQuery(), 5, first.next_cursor)
    assert len(second.items) == 5
    assert second.next_cursor is None


async def test_page_is_stable_under_inserts(world: World) -> None:
    users = await add_many(world, 6)
    first = await world.service.list(world.tenant.id, UserQuery(), 3, None)
    # Users added after the first page was read: one sorting before it (not repeated, no
    # shift), one after it (shown once, at its place).
    world.clock.current = T0 - timedelta(hours=1)
    early = await created_user(world, "aa-early")
    world.clock.current = T0 + timedelta(hours=1)
    late = await created_user(world, "zz-late")
    rest = await walk_from(world, UserQuery(), 3, first.next_cursor)
    assert first.items + rest == [*users, late]
    assert early not in rest


async def walk_from(world: World, query: UserQuery, limit: int, cursor: str | None) -> list[User]:
    seen: list[User] = []
    while cursor is not None:
        page = await world.service.list(world.tenant.id, query, limit, cursor)
        seen.extend(page.items)
        cursor = page.next_cursor
    return seen


async def test_cursor_is_bound_to_its_query_and_tenant(world: World) -> None:
    await add_many(world, 6)
    page = await world.service.list(world.tenant.id, UserQuery(), 2, None)
    cursor = page.next_cursor
    assert cursor is not None
    foreign_queries = [
        (world.tenant.id, UserQuery(sort=UserSort.USERNAME)),
        (world.tenant.id, UserQuery(sort=UserSort.CREATED_AT_DESC)),
        (world.tenant.id, UserQuery(q="user")),
        (world.tenant.id, UserQuery(status=UserStatus.ACTIVE)),
        (world.other_tenant.id, UserQuery()),
    ]
    for tenant_id, query in foreign_queries:
        with pytest.raises(InvalidCursor):
            await world.service.list(tenant_id, query, 2, cursor)
    for broken in (cursor[:-2], cursor + "x", "garbage", "A" * 5000):
        with pytest.raises(InvalidCursor):
            await world.service.list(world.tenant.id, UserQuery(), 2, broken)
    # And still good where it came from.
    assert (await world.service.list(world.tenant.id, UserQuery(), 2, cursor)).items


@settings(max_examples=40, deadline=None)
@given(
    people=st.lists(
        st.tuples(st.from_regex(r"[a-z0-9][a-z0-9._-]{2,8}", fullmatch=True), st.integers(0, 2)),
        max_size=15,
        unique_by=lambda p: p[0],
    ),
    sort=st.sampled_from(list(UserSort)),
    limit=st.integers(1, 5),
    status=st.sampled_from([None, UserStatus.ACTIVE]),
)
async def test_paging_random_sets_returns_each_once(
    people: list[tuple[str, int]], sort: UserSort, limit: int, status: UserStatus | None
) -> None:
    world = await make_world()
    users = []
    for name, seconds in people:
        world.clock.current = T0 + timedelta(seconds=seconds)
        created = await world.service.create(create_cmd(world, name))
        users.append(await world.service.get(world.tenant.id, uuid.UUID(str(created.view["id"]))))
    walked = await walk(world, UserQuery(sort=sort, status=status), limit)
    assert walked == reference(users, sort)
