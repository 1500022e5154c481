"""UserRepository.list_page contract: every filter of UserQuery, every sort, keyset paging."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.support import (
    T0,
    add_users,
    create_tenant,
    expected_order,
    keyset_after,
    list_all,
    make_user,
    names,
)
from truapi.application.ports.repositories import UserKeyset, UserQuery, UserSort
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.tenants import Tenant
from truapi.domain.users import User, UserStatus


async def search(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, query: UserQuery, limit: int = 100
) -> list[str]:
    async with uow_factory(readonly=True) as uow:
        return names(await uow.users.list_page(tenant.id, query, None, limit))


@pytest.fixture
async def directory(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> list[User]:
    """Users whose names hold the characters LIKE treats specially, and a non-ASCII one."""
    users = [
        make_user(tenant.id, "alice", display_name="Alice Liddell", minutes=0),
        make_user(tenant.id, "bob_smith", email="bob@example.com", display_name="Bob", minutes=1),
        make_user(
            tenant.id, "bobxsmith", email="bobx@example.com", display_name="Bob X", minutes=2
        ),
        make_user(tenant.id, "carol", display_name="Carol 100% Sure", minutes=3),
        make_user(tenant.id, "dave", display_name="Dave 1000 Percent", minutes=4),
        make_user(tenant.id, "erin", display_name="Back\\Slash Erin", minutes=5),
        make_user(tenant.id, "frank", display_name="Ärger Frank", minutes=6),
        make_user(tenant.id, "grace", display_name="Grace", minutes=7, status=UserStatus.DISABLED),
        make_user(
            tenant.id,
            "heidi",
            email="heidi@mail.example.org",
            display_name="Heidi",
            minutes=8,
            status=UserStatus.DISABLED,
        ),
    ]
    await add_users(uow_factory, *users)
    return users


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("alice", ["alice"]),
        ("ALICE", ["alice"]),  # case-insensitive
        ("liddell", ["alice"]),  # display name
        ("bobx@", ["bobxsmith"]),  # email
        ("MAIL.EXAMPLE", ["heidi"]),
        ("_", ["bob_smith"]),  # not "any one character"
        ("b_b", []),
        ("bob_", ["bob_smith"]),
        ("%", ["carol"]),  # not "anything"
        ("100%", ["carol"]),
        ("1%0", []),
        ("\\", ["erin"]),  # not an escape character
        ("\\s", ["erin"]),
        ("\\%", []),
        ("\\_", []),
        ("ärger", ["frank"]),
        ("ÄRGER", ["frank"]),  # non-ASCII upper case
        ("äRg", ["frank"]),
        ("arger", []),  # no accent folding
        (
            "",
            ["alice", "bob_smith", "bobxsmith", "carol", "dave", "erin", "frank", "grace", "heidi"],
        ),
        ("nobody", []),
        # A needle never spans two fields ("alice" + newline + "alice@example.com").
        ("alice\nalice", []),
        ("e\na", []),
        ("alice\x00", []),  # no field holds a control character (PostgreSQL refuses NUL)
        ("\x00", []),
        ("\t", []),
    ],
)
async def test_q_is_a_literal_case_insensitive_substring(
    uow_factory: UnitOfWorkFactory,
    tenant: Tenant,
    directory: list[User],
    q: str,
    expected: list[str],
) -> None:
    assert await search(uow_factory, tenant, UserQuery(q=q)) == expected


async def test_q_over_many_fields_finds_each_user_once(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, directory: list[User]
) -> None:
    # "example" is in every email: a user matching through several fields comes once.
    found = await search(uow_factory, tenant, UserQuery(q="example"))
    assert found == names(directory)


async def test_status_username_and_email_filters(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, directory: list[User]
) -> None:
    assert await search(uow_factory, tenant, UserQuery(status=UserStatus.DISABLED)) == [
        "grace",
        "heidi",
    ]
    active = await search(uow_factory, tenant, UserQuery(status=UserStatus.ACTIVE))
    assert active == names(directory[:7])
    assert await search(uow_factory, tenant, UserQuery(username="carol")) == ["carol"]
    assert await search(uow_factory, tenant, UserQuery(username="car")) == []
    assert await search(uow_factory, tenant, UserQuery(email="bob@example.com")) == ["bob_smith"]
    assert await search(uow_factory, tenant, UserQuery(email="bob@example")) == []
    assert await search(uow_factory, tenant, UserQuery(username="carol\x00")) == []
    assert await search(uow_factory, tenant, UserQuery(email="bob@example.com\x00")) == []
    combined = UserQuery(q="e", status=UserStatus.DISABLED, username="heidi")
    assert await search(uow_factory, tenant, combined) == ["heidi"]
    assert await search(uow_factory, tenant, UserQuery(q="grace", status=UserStatus.ACTIVE)) == []


async def test_created_bounds_are_exclusive(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, directory: list[User]
) -> None:
    at = [T0 + timedelta(minutes=m) for m in range(9)]
    after_two = await search(uow_factory, tenant, UserQuery(created_after=at[2]))
    assert after_two == names(directory[3:])
    before_two = await search(uow_factory, tenant, UserQuery(created_before=at[2]))
    assert before_two == names(directory[:2])
    window = UserQuery(created_after=at[1], created_before=at[4])
    assert await search(uow_factory, tenant, window) == ["bobxsmith", "carol"]
    assert await search(uow_factory, tenant, UserQuery(created_after=at[8])) == []
    empty = UserQuery(created_after=at[3], created_before=at[3])
    assert await search(uow_factory, tenant, empty) == []
    # A millisecond past an instant excludes a user created exactly at it, and no more.
    nudged = UserQuery(created_after=at[2] - timedelta(milliseconds=1))
    assert await search(uow_factory, tenant, nudged) == names(directory[2:])


async def test_created_bounds_in_another_time_zone(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, directory: list[User]
) -> None:
    cest = timezone(timedelta(hours=2))
    after_two = (T0 + timedelta(minutes=2)).astimezone(cest)
    assert after_two.hour == 14
    assert await search(uow_factory, tenant, UserQuery(created_after=after_two)) == names(
        directory[3:]
    )


async def test_limit_caps_the_page(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, directory: list[User]
) -> None:
    assert await search(uow_factory, tenant, UserQuery(), limit=3) == [
        "alice",
        "bob_smith",
        "bobxsmith",
    ]
    assert await search(uow_factory, tenant, UserQuery(sort=UserSort.USERNAME_DESC), limit=2) == [
        "heidi",
        "grace",
    ]


@pytest.fixture
async def crowd(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> list[User]:
    """Users with many equal creation times and usernames in no particular order."""
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789._-"
    usernames: set[str] = set()
    while len(usernames) < 23:
        first = rng.choice(letters[:36])
        usernames.add(first + "".join(rng.choice(letters) for _ in range(rng.randint(2, 8))))
    users = [
        make_user(
            tenant.id,
            name,
            minutes=rng.choice([0, 0, 0, 1, 2, 2, 5]),
            status=rng.choice([UserStatus.ACTIVE, UserStatus.DISABLED]),
        )
        for name in sorted(usernames, key=lambda _: rng.random())
    ]
    await add_users(uow_factory, *users)
    return users


@pytest.mark.parametrize("sort", list(UserSort))
@pytest.mark.parametrize("page_size", [1, 2, 5, 23, 100])
async def test_keyset_paging_gives_everyone_once_in_order(
    uow_factory: UnitOfWorkFactory,
    tenant: Tenant,
    crowd: list[User],
    sort: UserSort,
    page_size: int,
) -> None:
    walked = await list_all(uow_factory, tenant.id, UserQuery(sort=sort), page_size)
    assert walked == expected_order(crowd, sort)


@pytest.mark.parametrize("sort", list(UserSort))
async def test_keyset_paging_with_a_filter(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, crowd: list[User], sort: UserSort
) -> None:
    query = UserQuery(
        status=UserStatus.DISABLED, created_before=T0 + timedelta(minutes=3), sort=sort
    )
    walked = await list_all(uow_factory, tenant.id, query, 3)
    wanted = [
        u
        for u in crowd
        if u.status is UserStatus.DISABLED and u.created_at < T0 + timedelta(minutes=3)
    ]
    assert wanted
    assert walked == expected_order(wanted, sort)


@pytest.mark.parametrize("sort", list(UserSort))
async def test_keyset_after_a_deleted_user(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, crowd: list[User], sort: UserSort
) -> None:
    # The next page continues after the position even when that user is gone meanwhile.
    ordered = expected_order(crowd, sort)
    pivot = ordered[10]
    async with uow_factory() as uow:
        await uow.users.delete(tenant.id, pivot.id)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        page = await uow.users.list_page(
            tenant.id, UserQuery(sort=sort), keyset_after(pivot, sort), 4
        )
    assert page == ordered[11:15]


async def test_keyset_past_the_end_is_empty(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, crowd: list[User]
) -> None:
    last = expected_order(crowd, UserSort.USERNAME)[-1]
    beyond = UserKeyset(created_at=None, username=last.username, id=last.id)
    async with uow_factory(readonly=True) as uow:
        assert (
            await uow.users.list_page(tenant.id, UserQuery(sort=UserSort.USERNAME), beyond, 10)
            == []
        )


_USERNAMES = st.from_regex(r"[a-z0-9][a-z0-9._-]{2,10}", fullmatch=True)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    people=st.lists(
        st.tuples(_USERNAMES, st.integers(0, 3)), max_size=14, unique_by=lambda p: p[0]
    ),
    sort=st.sampled_from(list(UserSort)),
    page_size=st.integers(1, 6),
)
async def test_paging_random_sets(
    uow_factory: UnitOfWorkFactory,
    people: list[tuple[str, int]],
    sort: UserSort,
    page_size: int,
) -> None:
    # Each example gets a tenant of its own: tenant scoping keeps the examples apart.
    tenant = await create_tenant(uow_factory, f"h-{uuid.uuid4().hex[:12]}")
    users = [make_user(tenant.id, name, minutes=m) for name, m in people]
    await add_users(uow_factory, *users)
    walked = await list_all(uow_factory, tenant.id, UserQuery(sort=sort), page_size)
    assert walked == expected_order(users, sort)
