"""Signing keys: GET /admin/signing-keys, POST /admin/signing-keys/rotate, keys surviving a
restart, retirement once every token a key signed has expired, and ``truapi keys``."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from tests.api.conftest import StartApp, assert_problem, client_for, create_user
from tests.conftest import log_in
from tests.jose_checks import b64url_decode, verifies
from truapi.api.app import create_app
from truapi.bootstrap import Container, build_container
from truapi.cli import app as cli
from truapi.config import Settings

PASSWORD = "correct horse battery"
KEY_FIELDS = {
    "kid",
    "algorithm",
    "state",
    "created_at",
    "retiring_at",
    "retire_after",
    "retired_at",
}


def kid_of(token: str) -> str:
    kid: str = json.loads(b64url_decode(token.split(".")[0]))["kid"]
    return kid


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def jwks(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    return {key["kid"]: key for key in response.json()["keys"]}


async def signing_keys(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await client.get("/admin/signing-keys")
    assert response.status_code == 200, response.text
    return {key["kid"]: key for key in response.json()["items"]}


async def rotate(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/admin/signing-keys/rotate")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def me_status(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    return response.status_code


# --- GET /admin/signing-keys -----------------------------------------------------------------


async def test_admins_list_the_signing_keys(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/signing-keys")
    assert response.status_code == 200, response.text
    body = response.json()
    [key] = body["items"]
    assert set(key) == KEY_FIELDS
    assert key["state"] == "active"
    assert key["algorithm"] == "ES256"
    assert key["retiring_at"] is None
    assert key["retired_at"] is None
    assert set(await jwks(client)) == {key["kid"]}
    assert kid_of(client.headers["Authorization"].removeprefix("Bearer ")) == key["kid"]
    # Public information only.
    for secret in ('"d"', "private", "BEGIN"):
        assert secret not in response.text


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/admin/signing-keys"), ("POST", "/admin/signing-keys/rotate")]
)
async def test_plain_users_may_not_manage_keys(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient, method: str, path: str
) -> None:
    before = await signing_keys(client)
    await create_user(client, "bob", password=PASSWORD)
    bob = await log_in(client, "bob", PASSWORD)
    response = await client.request(
        method, path, headers={"Authorization": f"Bearer {bob['access_token']}"}
    )
    assert_problem(response, 403, "forbidden")
    response = await anon_client.request(method, path)
    assert_problem(response, 401, "unauthenticated")
    assert await signing_keys(client) == before


# --- POST /admin/signing-keys/rotate ---------------------------------------------------------


async def test_rotation_makes_a_new_active_key_and_keeps_the_old_one(
    client: httpx.AsyncClient,
) -> None:
    [old_kid] = await signing_keys(client)
    old_token = client.headers["Authorization"].removeprefix("Bearer ")
    new = await rotate(client)
    assert set(new) == KEY_FIELDS
    assert new["state"] == "active"
    assert new["kid"] != old_kid
    assert new["algorithm"] == "ES256"
    keys = await signing_keys(client)
    assert set(keys) == {old_kid, new["kid"]}
    assert keys[new["kid"]]["state"] == "active"
    old = keys[old_kid]
    assert old["state"] == "retiring"
    assert old["retiring_at"] is not None
    assert old["retired_at"] is None
    # It keeps verifying until every token it signed has expired (exp plus leeway).
    assert parse_time(old["retire_after"]) >= parse_time(old["retiring_at"]) + timedelta(
        seconds=600 + 30
    )
    # Both public keys are published, the old token still works, new tokens use the new key.
    published = await jwks(client)
    assert set(published) == {old_kid, new["kid"]}
    assert await me_status(client, old_token) == 200
    new_token = (await log_in(client))["access_token"]
    assert kid_of(new_token) == new["kid"]
    assert await me_status(client, new_token) == 200
    assert verifies(published[old_kid], old_token)
    assert verifies(published[new["kid"]], new_token)
    assert not verifies(published[old_kid], new_token)


async def test_rotating_twice_keeps_every_key_with_live_tokens(client: httpx.AsyncClient) -> None:
    [first] = await signing_keys(client)
    first_token = client.headers["Authorization"].removeprefix("Bearer ")
    second = (await rotate(client))["kid"]
    second_token = (await log_in(client))["access_token"]
    third = (await rotate(client))["kid"]
    assert len({first, second, third}) == 3
    keys = await signing_keys(client)
    assert [keys[k]["state"] for k in (first, second, third)] == ["retiring", "retiring", "active"]
    assert set(await jwks(client)) == {first, second, third}
    assert await me_status(client, first_token) == 200
    assert await me_status(client, second_token) == 200
    assert kid_of((await log_in(client))["access_token"]) == third


async def test_rotation_writes_nothing_secret_into_the_response(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/admin/signing-keys/rotate")
    assert response.status_code == 201
    for secret in ('"d"', "private", "BEGIN", "encrypted"):
        assert secret not in response.text


# --- restarts --------------------------------------------------------------------------------


async def test_a_restart_serves_the_same_keys(start_app: StartApp) -> None:
    first = await start_app()
    async with client_for(first) as a:
        tokens = await log_in(a)
        before = await jwks(a)
    second = await start_app()
    async with client_for(second) as b:
        assert await jwks(b) == before
        assert await me_status(b, tokens["access_token"]) == 200
        assert kid_of((await log_in(b))["access_token"]) == kid_of(tokens["access_token"])


async def test_a_restart_after_rotation_signs_with_the_new_key(start_app: StartApp) -> None:
    first = await start_app()
    async with client_for(first) as a:
        old = await log_in(a)
        a.headers["Authorization"] = f"Bearer {old['access_token']}"
        new_kid = (await rotate(a))["kid"]
        before = await jwks(a)
    second = await start_app()
    async with client_for(second) as b:
        assert await jwks(b) == before
        assert await me_status(b, old["access_token"]) == 200
        assert kid_of((await log_in(b))["access_token"]) == new_kid


# --- retirement ------------------------------------------------------------------------------


class MovableClock:
    """The real clock plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def clocked_app(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[FastAPI, Container, MovableClock]]:
    clock = MovableClock()
    container = build_container(make_settings(), clock=clock)
    app = create_app(container=container)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield app, container, clock


async def test_a_rotated_key_is_retired_once_its_tokens_have_expired(
    clocked_app: tuple[FastAPI, Container, MovableClock],
) -> None:
    app, container, clock = clocked_app
    async with client_for(app) as c:
        tokens = await log_in(c)
        c.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        # Signed by the first key and never shown before it is retired.
        unseen = (await log_in(c))["access_token"]
        [old_kid] = await signing_keys(c)
        new_kid = (await rotate(c))["kid"]
        # Not yet: tokens of the old key may still be live.
        clock.offset = timedelta(seconds=600)
        await container.keys.reload(container.default_tenant_id)
        assert set(await jwks(c)) == {old_kid, new_kid}
        assert (await signing_keys(c))[old_kid]["state"] == "retiring"
        # Past every expiry (ttl plus leeway): retired, unpublished, no longer verifying.
        clock.offset = timedelta(seconds=600 + 30 + 1)
        await container.keys.reload(container.default_tenant_id)
        assert set(await jwks(c)) == {new_kid}
        keys = await signing_keys(c)
        assert keys[old_kid]["state"] == "retired"
        assert keys[old_kid]["retired_at"] is not None
        assert keys[new_kid]["state"] == "active"
        response = await c.get("/me", headers={"Authorization": f"Bearer {unseen}"})
        assert_problem(response, 401, "invalid_token")


async def test_a_restart_retires_expired_keys(
    clocked_app: tuple[FastAPI, Container, MovableClock],
    make_settings: Callable[..., Settings],
) -> None:
    app, _, _ = clocked_app
    async with client_for(app) as c:
        tokens = await log_in(c)
        c.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        [old_kid] = await signing_keys(c)
        new_kid = (await rotate(c))["kid"]
    later = MovableClock()
    later.offset = timedelta(seconds=600 + 30 + 1)
    container = build_container(make_settings(), clock=later)
    restarted = create_app(container=container)
    async with restarted.router.lifespan_context(restarted), client_for(restarted) as c:
        assert set(await jwks(c)) == {new_kid}
        assert old_kid not in (await c.get("/.well-known/jwks.json")).text


# --- truapi keys -----------------------------------------------------------------------------


def test_keys_rotate_and_list_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("APP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("APP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    [line] = listed.stdout.strip().splitlines()
    first_kid = line.split()[0]
    assert "ES256" in line
    assert "active" in line

    rotated = runner.invoke(cli, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "new active key" in rotated.stdout
    assert "ES256" in rotated.stdout
    assert first_kid not in rotated.stdout

    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 2
    by_kid = {line.split()[0]: line for line in lines}
    assert "retiring" in by_kid[first_kid]
    assert "verifies until" in by_kid[first_kid]
    [new_kid] = set(by_kid) - {first_kid}
    assert new_kid in rotated.stdout
    assert "active" in by_kid[new_kid]
    assert "private" not in listed.stdout.lower()


async def test_a_key_rotated_on_the_command_line_is_used_after_a_restart(
    start_app: StartApp, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = await start_app()
    async with client_for(first) as a:
        old = (await log_in(a))["access_token"]
    for key in [k for k in os.environ if k.startswith("APP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("APP_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    # The command runs its own event loop, so it runs off this test's loop.
    rotated = await asyncio.to_thread(CliRunner().invoke, cli, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    second = await start_app()
    async with client_for(second) as b:
        published = await jwks(b)
        assert kid_of(old) in published
        assert len(published) == 2
        new = (await log_in(b))["access_token"]
        assert kid_of(new) != kid_of(old)
        assert kid_of(new) in rotated.stdout
        assert await me_status(b, old) == 200
