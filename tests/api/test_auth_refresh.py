"""POST /auth/refresh, /auth/logout and /auth/revoke: rotation, reuse detection, revocation."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.conftest import assert_problem, create_user
from tests.conftest import log_in

PASSWORD = "correct horse battery"


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient) -> None:
    first = await log_in(client)
    response = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["session_id"] == first["session_id"]
    me = await client.get("/me", headers=bearer(second))
    assert me.status_code == 200


async def test_reusing_a_refresh_token_revokes_the_session(client: httpx.AsyncClient) -> None:
    first = await log_in(client)
    second = (
        await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    reuse = await client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert_problem(reuse, 401, "refresh_token_reused")
    # The whole family is dead: the child refresh token and the session's access tokens.
    child = await client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_problem(child, 401, "invalid_refresh_token")
    me = await client.get("/me", headers=bearer(second))
    assert_problem(me, 401, "invalid_token")


@pytest.mark.parametrize(
    "token",
    ["trt_unknown", "not-a-token", "x" * 4000, "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"],
)
async def test_bad_refresh_tokens(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": token})
    assert_problem(response, 401, "invalid_refresh_token")


async def test_an_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    tokens = await log_in(client)
    response = await client.post("/auth/refresh", json={"refresh_token": tokens["access_token"]})
    assert_problem(response, 401, "invalid_refresh_token")


async def test_a_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    tokens = await log_in(client)
    response = await client.get(
        "/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_parallel_refreshes_of_one_token_give_exactly_one_success(
    client: httpx.AsyncClient,
) -> None:
    tokens = await log_in(client)
    responses = await asyncio.gather(
        *[
            client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(10)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 9, [r.text for r in responses]


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    tokens = await log_in(client)
    response = await client.post("/auth/logout", headers=bearer(tokens))
    assert response.status_code == 204
    assert_problem(await client.get("/me", headers=bearer(tokens)), 401, "invalid_token")
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_problem(refresh, 401, "invalid_refresh_token")


async def test_logout_needs_authentication(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.post("/auth/logout")
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
async def test_revocation_endpoint_ends_the_session(
    anon_client: httpx.AsyncClient, kind: str
) -> None:
    tokens = await log_in(anon_client)
    response = await anon_client.post("/auth/revoke", data={"token": tokens[kind]})
    assert response.status_code == 200
    assert_problem(await anon_client.get("/me", headers=bearer(tokens)), 401, "invalid_token")


@pytest.mark.parametrize("data", [{"token": "garbage"}, {"token": "trt_x"}, {}])
async def test_revocation_endpoint_answers_200_to_anything(
    anon_client: httpx.AsyncClient, data: dict[str, str]
) -> None:
    response = await anon_client.post("/auth/revoke", data=data)
    assert response.status_code == 200


async def test_disabling_a_user_ends_their_sessions(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "erin", password=PASSWORD)
    tokens = await log_in(client, "erin", PASSWORD)
    response = await client.patch(f"/users/{user['id']}", json={"status": "disabled"})
    assert response.status_code == 200
    assert_problem(await client.get("/me", headers=bearer(tokens)), 401, "invalid_token")
    refresh = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert_problem(refresh, 401, "invalid_refresh_token")


async def test_deleting_a_user_ends_their_sessions(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "frank", password=PASSWORD)
    tokens = await log_in(client, "frank", PASSWORD)
    assert (await client.delete(f"/users/{user['id']}")).status_code == 204
    assert_problem(await client.get("/me", headers=bearer(tokens)), 401, "invalid_token")
