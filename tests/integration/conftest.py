"""Shared fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import authenticate
from truapi.api.app import create_app
from truapi.config import Settings

Pair = tuple[httpx.AsyncClient, httpx.AsyncClient]
MakePair = Callable[..., Awaitable[Pair]]


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def two_instances(make_settings: Callable[..., Settings]) -> AsyncIterator[MakePair]:
    """Start instances A and B on the same database (their lifespans running, so both follow
    revocations and keys) and return a client to each, logged in as the administrator."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> Pair:
            clients = []
            for _ in range(2):
                app = create_app(make_settings(**overrides))
                await stack.enter_async_context(app.router.lifespan_context(app))
                client = await stack.enter_async_context(client_for(app))
                await authenticate(client)
                clients.append(client)
            return clients[0], clients[1]

        yield make
