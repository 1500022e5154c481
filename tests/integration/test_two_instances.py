"""Two app instances on one database behave as one service (CONTRACT §4, §8): a token from
one works on the other, a logout on one is honoured by the other within
``APP_REVOCATION_PROPAGATION_S`` (through Redis when configured, else by polling the
database), and a signing key rotated on one is honoured by the other."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.conftest import REDIS_URL, log_in, need_service
from tests.integration.conftest import MakePair, Pair

PASSWORD = "correct horse battery"
#: How long the tests wait, and how soon the change must have been seen.
WAIT_S = 1.5
DEADLINE_S = 1.2
POLL_S = 0.05


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def kid_of(token: str) -> str:
    head = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]
    return kid


async def me_status(client: httpx.AsyncClient, token: str) -> int:
    return (await client.get("/me", headers=bearer(token))).status_code


async def seconds_until(check: Callable[[], Awaitable[bool]], within_s: float = WAIT_S) -> float:
    """Poll ``check`` every 50 ms; how many seconds it took to hold (fails after ``within_s``)."""
    start = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - start
        if time.monotonic() - start > within_s:
            pytest.fail(f"not seen within {within_s} s")
        await asyncio.sleep(POLL_S)


def with_redis() -> dict[str, Any]:
    need_service("Redis", REDIS_URL, 6379, "APP_TEST_REDIS_URL")
    return {"redis_url": REDIS_URL}


#: (backend, settings overrides): PostgreSQL with Redis, and polling the database on both.
SETUPS = [
    pytest.param("postgres", True, id="postgres-redis", marks=pytest.mark.redis),
    pytest.param("postgres", False, id="postgres-poll"),
    pytest.param("sqlite", False, id="sqlite-poll"),
]


async def pair(two_instances: MakePair, redis: bool) -> Pair:
    return await two_instances(**(with_redis() if redis else {}))


@pytest.mark.parametrize(("backend", "redis"), SETUPS)
async def test_a_token_from_a_works_on_b(two_instances: MakePair, redis: bool) -> None:
    a, b = await pair(two_instances, redis)
    tokens = await log_in(a)
    response = await b.get("/me", headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    assert response.json()["session"]["id"] == tokens["session_id"]
    refreshed = await b.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert await me_status(a, refreshed.json()["access_token"]) == 200


@pytest.mark.parametrize(("backend", "redis"), SETUPS)
async def test_a_logout_on_a_is_honoured_on_b_within_the_propagation_delay(
    two_instances: MakePair, redis: bool
) -> None:
    a, b = await pair(two_instances, redis)
    tokens = await log_in(a)
    token = tokens["access_token"]
    # B has verified (and may have cached) the token before the logout.
    assert await me_status(b, token) == 200
    assert (await a.post("/auth/logout", headers=bearer(token))).status_code == 204

    async def refused_on_b() -> bool:
        return await me_status(b, token) == 401

    took = await seconds_until(refused_on_b)
    assert took <= DEADLINE_S, f"B still accepted the token {took:.2f} s after the logout"
    response = await b.get("/me", headers=bearer(token))
    assert response.json()["code"] == "invalid_token"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert await me_status(a, token) == 401


@pytest.mark.parametrize(("backend", "redis"), SETUPS)
@pytest.mark.parametrize("how", ["revoke-endpoint", "my-other-sessions", "admin", "disable"])
async def test_other_ways_of_ending_a_session_reach_b(
    two_instances: MakePair, redis: bool, how: str
) -> None:
    a, b = await pair(two_instances, redis)
    created = await a.post(
        "/users", json={"username": "bob", "email": "bob@example.com", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    kept = await log_in(a, "bob", PASSWORD)
    ended = await log_in(a, "bob", PASSWORD)
    token = ended["access_token"]
    assert await me_status(b, token) == 200
    if how == "revoke-endpoint":
        response = await a.post("/auth/revoke", data={"token": ended["refresh_token"]})
        assert response.status_code == 200
    elif how == "my-other-sessions":
        response = await a.delete("/me/sessions", headers=bearer(kept["access_token"]))
        assert response.status_code == 204
    elif how == "admin":
        response = await a.delete(f"/users/{user_id}/sessions")
        assert response.status_code == 204
    else:
        response = await a.patch(f"/users/{user_id}", json={"status": "disabled"})
        assert response.status_code == 200

    async def refused_on_b() -> bool:
        return await me_status(b, token) == 401

    took = await seconds_until(refused_on_b)
    assert took <= DEADLINE_S, f"B still accepted the token {took:.2f} s later"


@pytest.mark.parametrize(("backend", "redis"), SETUPS)
async def test_b_verifies_tokens_signed_by_a_key_rotated_on_a(
    two_instances: MakePair, redis: bool
) -> None:
    a, b = await pair(two_instances, redis)
    old_token = a.headers["Authorization"].removeprefix("Bearer ")
    rotated = await a.post("/admin/signing-keys/rotate")
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]
    new_token = (await log_in(a))["access_token"]
    assert kid_of(new_token) == new_kid

    async def accepted_on_b() -> bool:
        return await me_status(b, new_token) == 200

    took = await seconds_until(accepted_on_b)
    assert took <= DEADLINE_S, f"B refused A's new key for {took:.2f} s"
    # The old key keeps verifying on both, and B now publishes and signs with the new key.
    assert await me_status(b, old_token) == 200
    assert await me_status(a, old_token) == 200
    published = {key["kid"] for key in (await b.get("/.well-known/jwks.json")).json()["keys"]}
    assert {new_kid, kid_of(old_token)} <= published
    assert kid_of((await log_in(b))["access_token"]) == new_kid


@pytest.mark.parametrize(("backend", "redis"), SETUPS)
async def test_b_publishes_a_key_rotated_on_a_within_the_propagation_delay(
    two_instances: MakePair, redis: bool
) -> None:
    a, b = await pair(two_instances, redis)
    rotated = await a.post("/admin/signing-keys/rotate")
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]

    async def published_on_b() -> bool:
        keys = (await b.get("/.well-known/jwks.json")).json()["keys"]
        return new_kid in {key["kid"] for key in keys}

    # No token signed by the new key reaches B: a third party verifying A's tokens with the
    # JWKS it fetched from B must still find the key (CONTRACT §8: shared within the delay).
    took = await seconds_until(published_on_b)
    assert took <= DEADLINE_S, f"B's JWKS lacked A's new key for {took:.2f} s"


@pytest.mark.parametrize(("backend", "redis"), SETUPS)
async def test_b_signs_with_a_key_rotated_on_a_within_the_propagation_delay(
    two_instances: MakePair, redis: bool
) -> None:
    a, b = await pair(two_instances, redis)
    rotated = await a.post("/admin/signing-keys/rotate")
    assert rotated.status_code == 201, rotated.text
    new_kid: str = rotated.json()["kid"]

    async def b_signs_with_the_new_key() -> bool:
        token: str = (await log_in(b))["access_token"]
        return kid_of(token) == new_kid

    # A key B keeps signing with after the rotation is retired on the schedule A set for it,
    # before the tokens B signed with it have expired.
    took = await seconds_until(b_signs_with_the_new_key)
    assert took <= DEADLINE_S, f"B signed with the retiring key for {took:.2f} s"
