"""POST /auth/login and POST /auth/token (password grant): success, sameness of failures,
throttling."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import MakeClient, assert_problem, create_user
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME, log_in

PASSWORD = "correct horse battery"


async def test_login_returns_a_token_pair_that_opens_the_api(
    anon_client: httpx.AsyncClient,
) -> None:
    response = await anon_client.post(
        "/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "session_id",
        "scope",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    me = await anon_client.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == ADMIN_USERNAME
    assert me.json()["session"]["id"] == body["session_id"]
    assert me.json()["session"]["current"] is True


async def test_login_by_email_and_case_insensitive_username(client: httpx.AsyncClient) -> None:
    await create_user(client, "bob", "Bob@Example.com", password=PASSWORD)
    assert (await log_in(client, "bob@example.com", PASSWORD))["access_token"]
    assert (await log_in(client, "BOB", PASSWORD))["access_token"]


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "bob", "password": "wrong password here"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "disabled", "password": PASSWORD},
        {"username": "bob", "password": PASSWORD, "tenant": "no-such-tenant"},
        {"username": "x", "password": PASSWORD},
        {"username": "no@such.example", "password": PASSWORD},
    ],
    ids=["wrong-password", "unknown-user", "disabled-user", "unknown-tenant", "bad-name", "email"],
)
async def test_every_login_failure_looks_the_same(
    client: httpx.AsyncClient, payload: dict[str, str]
) -> None:
    await create_user(client, "bob", password=PASSWORD)
    await create_user(client, "disabled", password=PASSWORD, status="disabled")
    response = await client.post("/auth/login", json=payload)
    body = assert_problem(response, 401, "invalid_credentials")
    assert response.headers["www-authenticate"] == "Bearer"
    assert body["detail"] == "The username or password is incorrect."
    assert set(body) == {"type", "title", "status", "detail", "instance", "code", "request_id"}


async def test_login_body_is_validated(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.post("/auth/login", json={"username": "admin"})
    assert_problem(response, 422, "validation_error")
    response = await anon_client.post(
        "/auth/login", json={"username": "admin", "password": "x", "role": "root"}
    )
    assert_problem(response, 422, "validation_error")
    response = await anon_client.post(
        "/auth/login", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_request")
    response = await anon_client.post("/auth/login", data={"username": "a", "password": "b"})
    assert_problem(response, 415, "unsupported_media_type")


async def test_repeated_failures_are_throttled_per_account(make_client: MakeClient) -> None:
    client = await make_client(login_throttle_free_failures=3, login_throttle_delay_s=60)
    await create_user(client, "carol", password=PASSWORD)
    for _ in range(3):
        response = await client.post(
            "/auth/login", json={"username": "carol", "password": "wrong password!"}
        )
        assert_problem(response, 401, "invalid_credentials")
    response = await client.post(
        "/auth/login", json={"username": "carol", "password": "wrong password!"}
    )
    assert_problem(response, 401, "invalid_credentials")
    # Now even the right password waits: the account is throttled, not the whole service.
    response = await client.post("/auth/login", json={"username": "carol", "password": PASSWORD})
    body = assert_problem(response, 429, "too_many_attempts")
    assert 0 < int(response.headers["retry-after"]) <= 900
    assert "carol" not in body["detail"]
    other = await client.post(
        "/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
    )
    assert other.status_code == 200


async def test_unknown_accounts_are_throttled_like_known_ones(make_client: MakeClient) -> None:
    client = await make_client(login_throttle_free_failures=2)
    await create_user(client, "dave", password=PASSWORD)
    answers = {}
    for name in ("dave", "ghost"):
        for _ in range(3):
            await client.post("/auth/login", json={"username": name, "password": "wrong pass!"})
        response = await client.post("/auth/login", json={"username": name, "password": "x" * 9})
        answers[name] = (response.status_code, response.json()["code"])
    assert answers["dave"] == answers["ghost"] == (429, "too_many_attempts")


async def test_spoofed_forwarded_for_does_not_reset_throttling(make_client: MakeClient) -> None:
    client = await make_client(
        login_throttle_client_free_failures=3, login_throttle_free_failures=100
    )
    for i in range(4):
        await client.post(
            "/auth/login",
            json={"username": f"user{i}", "password": "wrong password"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
    response = await client.post(
        "/auth/login",
        json={"username": "someone-else", "password": "wrong password"},
        headers={"X-Forwarded-For": "203.0.113.99"},
    )
    assert_problem(response, 429, "too_many_attempts")


async def test_token_endpoint_password_grant(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.post(
        "/auth/token",
        data={"grant_type": "password", "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"grant_type": "password", "username": "admin", "password": "wrong password"},
            "invalid_grant",
        ),
        ({"grant_type": "password", "username": "admin"}, "invalid_request"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "trt_unknown"}, "invalid_grant"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
    ],
)
async def test_token_endpoint_errors_are_rfc6749(
    anon_client: httpx.AsyncClient, data: dict[str, str], error: str
) -> None:
    response = await anon_client.post("/auth/token", data=data)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error
    assert set(body) == {"error", "error_description"}


async def test_token_endpoint_refuses_json(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.post(
        "/auth/token", json={"grant_type": "password", "username": "a", "password": "b"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_failures_are_counted_by_reason_in_metrics(anon_client: httpx.AsyncClient) -> None:
    await anon_client.post("/auth/login", json={"username": "admin", "password": "wrong password"})
    await anon_client.get("/me", headers={"Authorization": "Bearer not.a.token"})
    await anon_client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": "x"}
    )
    metrics = (await anon_client.get("/metrics")).text
    assert 'truapi_auth_failures_total{reason="invalid_credentials"} 1.0' in metrics
    assert 'truapi_auth_failures_total{reason="invalid_token.malformed"} 1.0' in metrics
    assert 'truapi_auth_failures_total{reason="invalid_refresh_token"} 1.0' in metrics
