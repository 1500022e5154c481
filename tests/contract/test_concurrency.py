"""Concurrent writers on the SQL adapters: a unique key has exactly one winner, never a 500."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.contract.support import fullwidth, idempotency_record, make_user
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import EmailTaken, IdempotencyInProgress, UsernameTaken
from truapi.domain.tenants import Tenant
from truapi.domain.users import User

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)

#: Ten spellings of one username: they differ only in case and Unicode (width) form.
ALICES = [
    "alice",
    "Alice",
    "ALICE",
    "aLiCe",
    "ALIce",
    fullwidth("alice"),
    fullwidth("Alice"),
    fullwidth("ALICE"),
    fullwidth("a") + "lice",
    "alic" + fullwidth("E"),
]


async def _add(uow_factory: UnitOfWorkFactory, user: User) -> None:
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()


async def _race(uow_factory: UnitOfWorkFactory, users: list[User]) -> list[BaseException | None]:
    outcomes = await asyncio.gather(*(_add(uow_factory, u) for u in users), return_exceptions=True)
    return [o if isinstance(o, BaseException) else None for o in outcomes]


async def test_one_winner_among_usernames_equal_after_normalising(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    assert len(set(ALICES)) == 10
    users = [
        make_user(tenant.id, raw, email=f"alice{i}@example.com") for i, raw in enumerate(ALICES)
    ]
    assert {u.username for u in users} == {"alice"}

    outcomes = await _race(uow_factory, users)

    winners = [u for u, o in zip(users, outcomes, strict=True) if o is None]
    losers = [o for o in outcomes if o is not None]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, UsernameTaken) for o in losers), outcomes
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.count(tenant.id) == 1
        assert await uow.users.get_by_username(tenant.id, "alice") == winners[0]


async def test_one_winner_among_emails_equal_after_normalising(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    spellings = ["Bob@Example.com", "bob@example.com", "BOB@EXAMPLE.COM", "bOb@eXample.com"]
    users = [make_user(tenant.id, f"bob{i}", email=raw) for i, raw in enumerate(spellings * 2)]
    assert {u.email for u in users} == {"bob@example.com"}

    outcomes = await _race(uow_factory, users)

    assert sum(o is None for o in outcomes) == 1, outcomes
    assert all(isinstance(o, EmailTaken) for o in outcomes if o is not None), outcomes
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.count(tenant.id) == 1


async def test_distinct_users_all_get_in(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    users = [make_user(tenant.id, f"user{i}") for i in range(10)]
    outcomes = await _race(uow_factory, users)
    assert outcomes == [None] * 10
    async with uow_factory(readonly=True) as uow:
        assert await uow.users.count(tenant.id) == 10


async def test_one_winner_for_an_idempotency_key(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    first = idempotency_record(tenant, "key-1")

    async def claim(fingerprint: str) -> None:
        async with uow_factory() as uow:
            await uow.idempotency.add(replace(first, fingerprint=fingerprint))
            await asyncio.sleep(0.01)  # hold the claim while the others arrive
            await uow.commit()

    outcomes = await asyncio.gather(*(claim(f"{i:064d}") for i in range(8)), return_exceptions=True)
    assert sum(o is None for o in outcomes) == 1, outcomes
    assert all(isinstance(o, IdempotencyInProgress) for o in outcomes if o is not None), outcomes
