"""Helpers for the HTTP API tests: problem-body checks, user factories, apps with overrides."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import ADMIN_USERNAME, authenticate
from truapi.api.app import create_app
from truapi.config import Settings

PROBLEM_JSON = "application/problem+json"
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
#: Every field of a user as clients see it (CONTRACT §3), and nothing more.
USER_FIELDS = {
    "id",
    "tenant_id",
    "username",
    "email",
    "display_name",
    "status",
    "mfa_enabled",
    "created_at",
    "updated_at",
}

LINK_NEXT_RE = re.compile(r'<([^>]+)>;\s*rel="next"')

#: Builds an app with settings overrides, runs its lifespan, and returns it.
StartApp = Callable[..., Awaitable[FastAPI]]
#: Builds such an app and returns an HTTP client to it.
MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check an RFC 9457 error response as CONTRACT §1 describes it; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:truapi:error:{code}", body
    assert body["code"] == code, body
    assert body["status"] == status, body
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["instance"] == response.request.url.path, body
    request_id = response.headers["x-request-id"]
    assert REQUEST_ID_RE.fullmatch(request_id)
    assert body["request_id"] == request_id, body
    return body


def assert_validation_problem(
    response: httpx.Response, code: str = "validation_error"
) -> list[Any]:
    """A 422 problem whose ``errors`` is a non-empty list of ``{loc, message, type}``."""
    body = assert_problem(response, 422, code)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors
    for error in errors:
        assert set(error) == {"loc", "message", "type"}, error
        assert isinstance(error["loc"], list)
        assert all(isinstance(part, str | int) for part in error["loc"])
        assert isinstance(error["message"], str)
        assert error["message"]
        assert isinstance(error["type"], str)
        assert error["type"]
    return errors


def error_locs(errors: list[Any]) -> list[list[str | int]]:
    return [error["loc"] for error in errors]


async def create_user(
    client: httpx.AsyncClient,
    username: str,
    email: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Create a user through the API, asserting 201; return its body."""
    payload: dict[str, Any] = {"username": username, "email": email or f"{username}@example.com"}
    payload.update(fields)
    response = await client.post("/users", json=payload)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def all_users(client: httpx.AsyncClient, **params: str | int) -> list[dict[str, Any]]:
    """Every user matching ``params`` (one page of up to 200, asserting it is the last),
    except the administrator the test client is logged in as."""
    response = await client.get("/users", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    items: list[dict[str, Any]] = [u for u in page["items"] if u["username"] != ADMIN_USERNAME]
    return items


async def usernames(client: httpx.AsyncClient, **params: str | int) -> list[str]:
    return [user["username"] for user in await all_users(client, **params)]


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def start_app(make_settings: Callable[..., Settings]) -> AsyncIterator[StartApp]:
    """Start apps built with settings overrides; each is shut down after the test."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> FastAPI:
            app = create_app(make_settings(**overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield start


@pytest.fixture
async def make_client(start_app: StartApp) -> AsyncIterator[MakeClient]:
    """An HTTP client to a fresh app built with settings overrides."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> httpx.AsyncClient:
            app = await start_app(**overrides)
            client = await stack.enter_async_context(client_for(app))
            await authenticate(client)
            return client

        yield make
