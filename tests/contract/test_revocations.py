"""RevocationRepository contract: the first entry of a session wins; ``since`` lists those that
still matter, oldest first; expired ones are purged."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.contract.support import T0
from truapi.application.ports.auth_repositories import Revocation
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import TenantNotFound
from truapi.domain.tenants import Tenant

MINUTE = timedelta(minutes=1)


def _revocation(tenant: Tenant, minutes: float, ttl_minutes: float = 10) -> Revocation:
    revoked_at = T0 + minutes * MINUTE
    return Revocation(
        tenant_id=tenant.id,
        session_id=uuid.uuid4(),
        revoked_at=revoked_at,
        expires_at=revoked_at + ttl_minutes * MINUTE,
    )


async def _add(uow_factory: UnitOfWorkFactory, *revocations: Revocation) -> None:
    async with uow_factory() as uow:
        await uow.revocations.add_many(revocations)
        await uow.commit()


async def test_since_lists_every_tenant_oldest_first(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    late, early, middle = (
        _revocation(tenant, 3),
        _revocation(other_tenant, 1),
        _revocation(tenant, 2),
    )
    await _add(uow_factory, late, early)
    await _add(uow_factory, middle)
    async with uow_factory(readonly=True) as uow:
        assert await uow.revocations.since(T0, T0) == [early, middle, late]
        # ``after`` is inclusive.
        assert await uow.revocations.since(middle.revoked_at, T0) == [middle, late]
        assert await uow.revocations.since(late.revoked_at + MINUTE, T0) == []


async def test_ties_on_time_come_in_session_order(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    same_time = [_revocation(tenant, 1) for _ in range(5)]
    await _add(uow_factory, *same_time)
    async with uow_factory(readonly=True) as uow:
        listed = await uow.revocations.since(T0, T0)
    assert listed == sorted(same_time, key=lambda r: r.session_id)


async def test_since_leaves_out_what_no_longer_matters(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    short, long = _revocation(tenant, 0, ttl_minutes=5), _revocation(tenant, 0, ttl_minutes=20)
    await _add(uow_factory, short, long)
    async with uow_factory(readonly=True) as uow:
        assert await uow.revocations.since(T0, T0 + 4 * MINUTE) == sorted(
            [short, long], key=lambda r: r.session_id
        )
        # Strictly after expires_at matters no more.
        assert await uow.revocations.since(T0, short.expires_at) == [long]


async def test_a_session_keeps_its_first_entry(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    first = _revocation(tenant, 1)
    again = Revocation(
        tenant_id=tenant.id,
        session_id=first.session_id,
        revoked_at=T0 + 5 * MINUTE,
        expires_at=T0 + 50 * MINUTE,
    )
    other = _revocation(tenant, 2)
    await _add(uow_factory, first)
    # Duplicates of stored entries and within one batch are both ignored, and the rest is kept.
    await _add(uow_factory, again, other, again)
    async with uow_factory(readonly=True) as uow:
        assert await uow.revocations.since(T0, T0) == [first, other]


async def test_add_many_of_nothing(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    await _add(uow_factory)
    async with uow_factory(readonly=True) as uow:
        assert await uow.revocations.since(T0, T0) == []


async def test_revocation_needs_an_existing_tenant(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    stray = Revocation(
        tenant_id=uuid.uuid4(), session_id=uuid.uuid4(), revoked_at=T0, expires_at=T0 + MINUTE
    )
    with pytest.raises(TenantNotFound):
        await _add(uow_factory, _revocation(tenant, 1), stray)
    async with uow_factory(readonly=True) as uow:
        assert await uow.revocations.since(T0, T0) == []


async def test_purge_expired(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    gone, edge, kept = (
        _revocation(tenant, 0, ttl_minutes=1),
        _revocation(tenant, 0, ttl_minutes=2),
        _revocation(tenant, 0, ttl_minutes=3),
    )
    await _add(uow_factory, gone, edge, kept)
    async with uow_factory() as uow:
        assert await uow.revocations.purge_expired(edge.expires_at) == 2
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.revocations.since(T0, T0) == [kept]
