"""POST /users with Idempotency-Key (CONTRACT §1)."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import all_users, assert_problem, assert_validation_problem

ALICE = {"username": "alice", "email": "alice@example.com", "password": "violet kestrel rising"}


async def test_same_key_and_body_replays_the_first_response(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-alice-1"}
    first = await client.post("/users", json=ALICE, headers=headers)
    assert first.status_code == 201, first.text
    second = await client.post("/users", json=ALICE, headers=headers)
    assert second.status_code == 201, second.text
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["etag"] == first.headers["etag"]
    assert "violet" not in second.text
    assert [u["id"] for u in await all_users(client)] == [first.json()["id"]]


async def test_replay_still_works_after_the_user_changed(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-42"}
    first = await client.post("/users", json=ALICE, headers=headers)
    user_id = first.json()["id"]
    await client.patch(f"/users/{user_id}", json={"display_name": "Renamed"})
    again = await client.post("/users", json=ALICE, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert len(await all_users(client)) == 1


async def test_same_key_with_a_different_body_is_422(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-alice-1"}
    first = await client.post("/users", json=ALICE, headers=headers)
    assert first.status_code == 201
    other = {**ALICE, "username": "bob", "email": "bob@example.com"}
    response = await client.post("/users", json=other, headers=headers)
    assert_problem(response, 422, "idempotency_key_reused")
    assert [u["username"] for u in await all_users(client)] == ["alice"]


async def test_same_key_differing_only_in_display_name_is_422(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-alice-2"}
    assert (await client.post("/users", json=ALICE, headers=headers)).status_code == 201
    response = await client.post(
        "/users", json={**ALICE, "display_name": "Someone else"}, headers=headers
    )
    assert_problem(response, 422, "idempotency_key_reused")


async def test_different_keys_are_independent(client: httpx.AsyncClient) -> None:
    first = await client.post("/users", json=ALICE, headers={"Idempotency-Key": "one"})
    assert first.status_code == 201
    # A new key means a new request: the username is taken now.
    second = await client.post("/users", json=ALICE, headers={"Idempotency-Key": "two"})
    assert_problem(second, 409, "username_taken")
    bob = await client.post(
        "/users",
        json={"username": "bob", "email": "bob@example.com"},
        headers={"Idempotency-Key": "three"},
    )
    assert bob.status_code == 201
    assert len(await all_users(client)) == 2


async def test_failed_request_does_not_burn_the_key(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    bad = await client.post("/users", json={**ALICE, "password": "password"}, headers=headers)
    assert_problem(bad, 422, "password_too_common")
    good = await client.post("/users", json=ALICE, headers=headers)
    assert good.status_code == 201, good.text


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "k" * 300, "", "tab\there", "caf\u00e9"],
    ids=["256", "300", "empty", "control", "non-ascii"],
)
async def test_invalid_key_is_422_and_creates_nothing(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post(
        "/users",
        json=ALICE,
        headers=[(b"Idempotency-Key", key.encode())],
    )
    errors = assert_validation_problem(response)
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in errors]
    assert await all_users(client) == []


@pytest.mark.parametrize("key", ["k", "k" * 255, "a b~!@#$%^&*()", "550e8400-e29b-41d4"])
async def test_valid_keys_are_accepted(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post("/users", json=ALICE, headers={"Idempotency-Key": key})
    assert response.status_code == 201, response.text
    again = await client.post("/users", json=ALICE, headers={"Idempotency-Key": key})
    assert again.status_code == 201
    assert again.json() == response.json()
