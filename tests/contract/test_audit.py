"""AuditRepository contract: one unbroken hash chain per tenant, even under concurrent appends."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from tests.contract.support import T0
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.audit import GENESIS_HASH, AuditAction, AuditEvent
from truapi.domain.errors import TenantNotFound
from truapi.domain.tenants import Tenant


def _event(tenant: Tenant, n: int = 0, action: str = AuditAction.LOGIN_SUCCEEDED) -> AuditEvent:
    return AuditEvent.record(
        tenant_id=tenant.id,
        at=T0 + timedelta(seconds=n),
        actor=f"user:{uuid.uuid4()}",
        action=action,
        target=f"user:{n}",
        ip="192.0.2.1",
        request_id=f"req-{n}",
        details={"n": n, "zeichen": "ä€😀", "nested": {"b": [1, None, True], "a": 1.5}},
    )


async def _append(uow_factory: UnitOfWorkFactory, *events: AuditEvent) -> list[AuditEvent]:
    async with uow_factory() as uow:
        stored = [await uow.audit.append(e) for e in events]
        await uow.commit()
    return stored


async def _chain(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> list[AuditEvent]:
    """The tenant's events in chain order, oldest first."""
    async with uow_factory(readonly=True) as uow:
        return list(reversed(await uow.audit.list_recent(tenant.id, limit=10_000)))


def _assert_unbroken(chain: list[AuditEvent]) -> None:
    previous = GENESIS_HASH
    for event in chain:
        assert event.prev_hash == previous, event
        assert event.hash == event.compute_hash(), event
        previous = event.hash


async def test_first_event_links_to_genesis(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    event = _event(tenant)
    (stored,) = await _append(uow_factory, event)
    assert stored == event.chained(GENESIS_HASH)
    assert await _chain(uow_factory, tenant) == [stored]


async def test_events_read_back_equal_and_linked(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    bare = AuditEvent.record(
        tenant_id=tenant.id, at=T0, actor="system", action="tenant.created", outcome="failure"
    )
    stored = await _append(uow_factory, _event(tenant, 1), bare)
    stored += await _append(uow_factory, _event(tenant, 2))
    chain = await _chain(uow_factory, tenant)
    assert chain == stored
    _assert_unbroken(chain)


async def test_each_tenant_has_its_own_chain(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _append(uow_factory, _event(tenant, 1), _event(other_tenant, 1), _event(tenant, 2))
    (theirs,) = await _chain(uow_factory, other_tenant)
    assert theirs.prev_hash == GENESIS_HASH
    ours = await _chain(uow_factory, tenant)
    assert len(ours) == 2
    _assert_unbroken(ours)


async def test_list_recent_newest_first_with_limit_and_action(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    failed = AuditAction.LOGIN_FAILED
    stored = await _append(
        uow_factory,
        # Out of time order on purpose: the chain's order is the order of appending.
        _event(tenant, 5),
        _event(tenant, 1, failed),
        _event(tenant, 3),
        _event(tenant, 2, failed),
    )
    async with uow_factory(readonly=True) as uow:
        assert await uow.audit.list_recent(tenant.id) == stored[::-1]
        assert await uow.audit.list_recent(tenant.id, limit=2) == stored[:1:-1]
        assert await uow.audit.list_recent(tenant.id, action=failed) == [stored[3], stored[1]]
        assert await uow.audit.list_recent(tenant.id, limit=1, action=failed) == [stored[3]]
        assert await uow.audit.list_recent(tenant.id, action="nothing.such") == []
        assert await uow.audit.list_recent(uuid.uuid4()) == []


async def test_an_append_rolled_back_leaves_no_gap(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    (first,) = await _append(uow_factory, _event(tenant, 1))
    async with uow_factory() as uow:
        await uow.audit.append(_event(tenant, 2))
    (third,) = await _append(uow_factory, _event(tenant, 3))
    assert third.prev_hash == first.hash
    _assert_unbroken(await _chain(uow_factory, tenant))


async def test_twenty_concurrent_appends_form_one_chain(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    async def append(n: int) -> AuditEvent:
        async with uow_factory() as uow:
            stored = await uow.audit.append(_event(tenant, n))
            await asyncio.sleep(0.005)  # hold the transaction open while the others arrive
            await uow.commit()
            return stored

    stored = await asyncio.gather(*(append(n) for n in range(20)))

    chain = await _chain(uow_factory, tenant)
    assert len(chain) == 20
    assert sorted(chain, key=lambda e: e.id) == sorted(stored, key=lambda e: e.id)
    _assert_unbroken(chain)


async def test_append_needs_an_existing_tenant(uow_factory: UnitOfWorkFactory) -> None:
    stray = AuditEvent.record(tenant_id=uuid.uuid4(), at=T0, actor="system", action="x")
    with pytest.raises(TenantNotFound):
        await _append(uow_factory, stray)


async def test_delete_for_tenant_starts_a_new_chain(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _append(uow_factory, _event(tenant, 1), _event(tenant, 2), _event(other_tenant, 1))
    async with uow_factory() as uow:
        assert await uow.audit.delete_for_tenant(tenant.id) == 2
        assert await uow.audit.delete_for_tenant(tenant.id) == 0
        await uow.commit()
    assert await _chain(uow_factory, tenant) == []
    assert len(await _chain(uow_factory, other_tenant)) == 1
    (fresh,) = await _append(uow_factory, _event(tenant, 3))
    assert fresh.prev_hash == GENESIS_HASH
