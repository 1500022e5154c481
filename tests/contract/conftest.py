"""Fixtures for the repository contract: every test runs against every adapter.

``backend`` is widened here to include the in-memory adapter; the PostgreSQL case still goes
through the shared ``database_url`` fixture, so it is skipped (or, under ``CI=true``, fails)
when no server is reachable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.contract.support import create_tenant
from truapi.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from truapi.adapters.sqlalchemy.engine import make_engine
from truapi.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.tenants import Tenant


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def storage_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """The database behind the SQL adapters; None for the in-memory one.

    A plain fixture, because an async fixture cannot ask for another async one on demand.
    """
    if backend == "memory":
        return None
    url: str = request.getfixturevalue("database_url")
    return url


@pytest.fixture
async def uow_factory(storage_url: str | None) -> AsyncIterator[UnitOfWorkFactory]:
    """A unit-of-work factory over an empty, migrated store of the parametrised adapter."""
    if storage_url is None:
        yield MemoryUnitOfWorkFactory()
        return
    factory = SqlUnitOfWorkFactory(make_engine(storage_url))
    try:
        yield factory
    finally:
        await factory.close()


@pytest.fixture
async def tenant(uow_factory: UnitOfWorkFactory) -> Tenant:
    """A committed tenant: users, groups and idempotency records need one (foreign key)."""
    return await create_tenant(uow_factory, "tenant-a")


@pytest.fixture
async def other_tenant(uow_factory: UnitOfWorkFactory) -> Tenant:
    return await create_tenant(uow_factory, "tenant-b")
