"""IdempotencyRepository contract."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.support import SCOPE, T0
from tests.contract.support import idempotency_record as record
from truapi.application.ports.repositories import IdempotencyRecord
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import IdempotencyInProgress
from truapi.domain.tenants import Tenant


async def add_records(uow_factory: UnitOfWorkFactory, *records: IdempotencyRecord) -> None:
    async with uow_factory() as uow:
        for r in records:
            await uow.idempotency.add(r)
        await uow.commit()


async def test_record_reads_back_by_tenant_scope_and_key(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    stored = record(tenant, "key-1")
    await add_records(uow_factory, stored)
    async with uow_factory(readonly=True) as uow:
        assert await uow.idempotency.get(tenant.id, SCOPE, "key-1") == stored
        assert await uow.idempotency.get(tenant.id, SCOPE, "key-2") is None
        assert await uow.idempotency.get(tenant.id, SCOPE, "KEY-1") is None
        assert await uow.idempotency.get(tenant.id, "POST /groups", "key-1") is None
        assert await uow.idempotency.get(other_tenant.id, SCOPE, "key-1") is None


async def test_same_key_in_other_scope_or_tenant_is_independent(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    await add_records(
        uow_factory,
        record(tenant, "key-1"),
        record(tenant, "key-1", scope="POST /groups"),
        record(other_tenant, "key-1"),
    )
    async with uow_factory(readonly=True) as uow:
        assert await uow.idempotency.get(other_tenant.id, SCOPE, "key-1") == record(
            other_tenant, "key-1"
        )


async def test_taken_key_is_in_progress(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    first = record(tenant, "key-1")
    await add_records(uow_factory, first)
    async with uow_factory() as uow:
        with pytest.raises(IdempotencyInProgress):
            await uow.idempotency.add(replace(first, fingerprint="0" * 64, status=200))
        # The unit of work is still usable after the clash.
        await uow.idempotency.add(record(tenant, "key-2"))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.idempotency.get(tenant.id, SCOPE, "key-1") == first
        assert await uow.idempotency.get(tenant.id, SCOPE, "key-2") == record(tenant, "key-2")


async def test_delete_frees_the_key(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    await add_records(uow_factory, record(tenant, "key-1"), record(tenant, "key-2"))
    async with uow_factory() as uow:
        await uow.idempotency.delete(tenant.id, SCOPE, "key-1")
        await uow.idempotency.delete(tenant.id, SCOPE, "never-used")
        assert await uow.idempotency.get(tenant.id, SCOPE, "key-1") is None
        fresh = replace(record(tenant, "key-1"), fingerprint="a" * 64)
        await uow.idempotency.add(fresh)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.idempotency.get(tenant.id, SCOPE, "key-1") == fresh
        assert await uow.idempotency.get(tenant.id, SCOPE, "key-2") == record(tenant, "key-2")


async def test_purge_before_is_exclusive_and_spans_tenants(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    await add_records(
        uow_factory,
        record(tenant, "old", hours_ago=30),
        record(other_tenant, "old", hours_ago=25),
        record(tenant, "edge", hours_ago=24),
        record(tenant, "new", hours_ago=1),
    )
    async with uow_factory() as uow:
        assert await uow.idempotency.purge_before(T0 - timedelta(hours=24)) == 2
        assert await uow.idempotency.purge_before(T0 - timedelta(hours=24)) == 0
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.idempotency.get(tenant.id, SCOPE, "old") is None
        assert await uow.idempotency.get(other_tenant.id, SCOPE, "old") is None
        assert await uow.idempotency.get(tenant.id, SCOPE, "edge") == record(
            tenant, "edge", hours_ago=24
        )
        assert await uow.idempotency.get(tenant.id, SCOPE, "new") is not None
