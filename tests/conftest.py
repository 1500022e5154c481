"""Shared fixtures: settings per storage backend, a migrated database, and an HTTP client.

PostgreSQL and Redis tests use the servers named by ``APP_TEST_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``) and ``APP_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/15``). Without them those tests are skipped with a message — except
when ``CI=true``, where a missing server is a failure, so CI cannot pass by skipping them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from truapi.adapters.sqlalchemy.engine import make_engine
from truapi.api.app import create_app
from truapi.bootstrap import build_container, migrate
from truapi.config import Settings

PG_ADMIN_URL = os.environ.get(
    "APP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("APP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"

#: Cheap argon2 parameters: tests check behaviour, not hashing cost.
FAST_HASHING: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_cost_kib": 8192}


def run_in_thread(coro: Any) -> Any:
    """Run a coroutine to completion on its own loop, even from inside a running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 1
        ):
            return True
    except OSError:
        return False


def need_service(name: str, url: str, default_port: int, env: str) -> None:
    """Skip (or, under CI=true, fail) when a server the test needs is not reachable."""
    if _reachable(url, default_port):
        return
    message = (
        f"{name} is not reachable at {url}; start it, or set {env} to a reachable server, "
        f"to run this test"
    )
    if IN_CI:
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        backend = params.params.get("backend") if params is not None else None
        if backend == "postgres":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test process; dropped afterwards."""
    need_service("PostgreSQL", PG_ADMIN_URL, 5432, "APP_TEST_POSTGRES_URL")
    name = f"truapi_test_{uuid.uuid4().hex[:12]}"
    base = PG_ADMIN_URL.rsplit("/", 1)[0]

    async def admin(sql: str) -> None:
        engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    run_in_thread(admin(f'CREATE DATABASE "{name}"'))
    url = f"{base}/{name}"

    async def migrate() -> None:
        container = build_container(Settings(database_url=url, **FAST_HASHING))
        try:
            await container.start(migrate_first=True)
        finally:
            await container.close()

    run_in_thread(migrate())
    yield url
    run_in_thread(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


_TABLES_CHILD_FIRST = [
    "acl_entries",
    "acls",
    "dacl_entries",
    "dacls",
    "resources",
    "policy_versions",
    "refresh_tokens",
    "sessions",
    "session_revocations",
    "audit_events",
    "audit_chain_heads",
    "signing_keys",
    "group_members",
    "idempotency_keys",
    "users",
    "groups",
    "tenants",
]

#: The administrator every test app is bootstrapped with; ``client`` is logged in as them.
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"


async def truncate_postgres(url: str) -> None:
    """Empty every table, so each test starts from a fresh database."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(_TABLES_CHILD_FIRST)} CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated, empty database of the requested backend."""
    if backend == "sqlite":
        sqlite_url = f"sqlite+aiosqlite:///{tmp_path / 'truapi.db'}"
        engine = make_engine(sqlite_url)
        try:
            await migrate(engine, sqlite_url)
        finally:
            await engine.dispose()
        return sqlite_url
    pg_url: str = request.getfixturevalue("postgres_database")
    await truncate_postgres(pg_url)
    return pg_url


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "env": "test",
            "bootstrap_admin_username": ADMIN_USERNAME,
            "bootstrap_admin_password": ADMIN_PASSWORD,
            **FAST_HASHING,
            **overrides,
        }
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (migrations, default tenant)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def log_in(
    client: httpx.AsyncClient, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD
) -> dict[str, Any]:
    """Log in through the API (asserting 200) and return the token response."""
    response = await client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def authenticate(
    client: httpx.AsyncClient, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD
) -> dict[str, Any]:
    """Log ``client`` in: every later request carries the access token."""
    tokens = await log_in(client, username, password)
    client.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    return tokens


@pytest.fixture
async def anon_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in-process, without credentials."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client speaking to the app in-process, logged in as the administrator."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        await authenticate(c)
        yield c
