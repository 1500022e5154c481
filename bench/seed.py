"""Benchmark databases: migrated with TruAPI's own migrations, then bulk-seeded with users."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# The adapter's own row mapping, so seeded rows are exactly what the repository writes.
from truapi.adapters.sqlalchemy.repositories import _user_row
from truapi.adapters.sqlalchemy.tables import users
from truapi.application.tenants.bootstrap import make_admin
from truapi.application.users.service import CreateUser
from truapi.bootstrap import build_container
from truapi.config import Settings
from truapi.domain.users import User

_BATCH = 5_000
#: The account the benchmark logs in as; it counts as one of the seeded users.
BENCH_USERNAME = "bench-admin"
BENCH_PASSWORD = "bench-password-not-secret"
_DB_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


async def seed_database(url: str, count: int) -> list[str]:
    """Migrate ``url``, create the default tenant, insert ``count`` users; return the ids of
    all but the benchmark's own account.

    Users are made by ``User.register`` (the domain's normalisation) one second apart, oldest
    first, without password hashes, and inserted in batches through SQLAlchemy Core; the last
    one, ``BENCH_USERNAME``, is created through the use case, with a password, to log in as.
    With ``count`` 0 the database is left empty (migrated, default tenant only).
    """
    container = build_container(Settings(database_url=url))
    try:
        await container.start(migrate_first=True)
        ids = await _insert_users(container.engine, container.default_tenant_id, count - 1)
        if count < 1:
            return ids
        created = await container.users.create(
            CreateUser(
                tenant_id=container.default_tenant_id,
                username=BENCH_USERNAME,
                email="bench-admin@example.com",
                password=BENCH_PASSWORD,
            )
        )
        # An administrator, so every user it reads is allowed (by the tenant root's ACL).
        admin = await container.users.get(
            container.default_tenant_id, uuid.UUID(str(created.view["id"]))
        )
        await make_admin(container.uow, container.clock, container.default_tenant, admin)
        if container.engine.dialect.name == "postgresql":
            # What autovacuum would do shortly after a bulk load; plans then match production.
            async with container.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("ANALYZE"))
    finally:
        await container.close()
    return ids


async def _insert_users(engine: AsyncEngine, tenant_id: uuid.UUID, count: int) -> list[str]:
    first = datetime.now(UTC) - timedelta(seconds=count + 60)
    ids: list[str] = []
    async with engine.begin() as conn:
        for start in range(0, count, _BATCH):
            rows: list[dict[str, Any]] = []
            for i in range(start, min(start + _BATCH, count)):
                user = User.register(
                    tenant_id=tenant_id,
                    username=f"user{i:07d}",
                    email=f"user{i:07d}@example.com",
                    display_name=f"Bench User {i}",
                    now=first + timedelta(seconds=i),
                )
                rows.append(_user_row(user))
                ids.append(str(user.id))
            await conn.execute(insert(users), rows)
    return ids


def database_url(admin_url: str, name: str) -> str:
    """The URL of database ``name`` on the server ``admin_url`` points at."""
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _admin(admin_url: str, *statements: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def create_postgres_database(admin_url: str, name: str) -> str:
    """(Re)create an empty PostgreSQL database ``name``; return its URL."""
    if not _DB_NAME_RE.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r}")
    await _admin(
        admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
    )
    return database_url(admin_url, name)


async def drop_postgres_database(admin_url: str, name: str) -> None:
    """Drop database ``name``, disconnecting anyone still attached."""
    if not _DB_NAME_RE.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r}")
    await _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
