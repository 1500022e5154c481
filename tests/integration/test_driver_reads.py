"""Driver-level reads of the SQL adapter: same entities, no pooled connection, same errors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import QueuePool

from tests.contract.support import add_users, create_tenant, make_user
from truapi.adapters.sqlalchemy.connection import AsyncpgReads, InlineConnection
from truapi.adapters.sqlalchemy.engine import make_engine, make_sqlite_reader
from truapi.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory


@pytest.fixture
async def factory(database_url: str) -> AsyncIterator[SqlUnitOfWorkFactory]:
    made = SqlUnitOfWorkFactory(make_engine(database_url))
    try:
        yield made
    finally:
        await made.close()


def checked_out(factory: SqlUnitOfWorkFactory) -> int:
    pool = factory.engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_read_by_id_matches_the_statement_path_and_takes_no_pooled_connection(
    factory: SqlUnitOfWorkFactory,
) -> None:
    tenant = await create_tenant(factory)
    other = await create_tenant(factory)
    user = make_user(tenant.id, "alice")
    await add_users(factory, user)
    async with factory() as uow:
        through_statements = await uow.users.get(tenant.id, user.id)
    async with factory(readonly=True) as uow:
        by_driver = await uow.users.get(tenant.id, user.id)
        assert checked_out(factory) == 0
        assert await uow.users.get(other.id, user.id) is None
        # Any other read still has a connection, checked out when it runs.
        assert await uow.users.count(tenant.id) == 1
    assert by_driver == through_statements == user
    assert checked_out(factory) == 0


async def test_sqlite_driver_errors_are_raised_as_sqlalchemy_raises_them(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('empty') / 'x.db'}")
    reader = make_sqlite_reader(engine)
    assert reader is not None
    try:
        with pytest.raises(sa_exc.OperationalError):
            await InlineConnection(reader).fetch_row("SELECT 1 FROM users", ())
    finally:
        reader.close()
        await engine.dispose()


async def test_an_unreachable_postgresql_is_reported_as_sqlalchemy_reports_it() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reads = AsyncpgReads({"host": "127.0.0.1", "port": port, "user": "nobody"}, max_size=1)
    try:
        with pytest.raises(sa_exc.OperationalError):
            await reads.fetch_row("SELECT 1", ())
    finally:
        await reads.close()
