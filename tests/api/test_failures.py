"""Failures the caller must survive: the database going away and coming back; a bug in a route."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.conftest import StartApp, all_users, assert_problem, client_for, create_user
from tests.conftest import authenticate

PG_HOST, PG_PORT = "127.0.0.1", 5432


class TcpProxy:
    """A TCP forwarder that can be cut (listener and every live connection) and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                # An abortive close (RST) makes the database's clients notice at once.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_writer)),
            asyncio.ensure_future(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._tasks.difference_update(pumps)
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.close()

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()


@pytest.fixture
async def pg_proxy() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(PG_HOST, PG_PORT)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


def through(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    scheme, rest = url.split("://", 1)
    credentials, _, location = rest.rpartition("@")
    database = location.split("/", 1)[1]
    prefix = f"{credentials}@" if credentials else ""
    return f"{scheme}://{prefix}127.0.0.1:{port}/{database}"


@pytest.mark.parametrize("backend", ["postgres"])
async def test_database_outage_gives_503_then_recovers_without_restart(
    start_app: StartApp, database_url: str, pg_proxy: TcpProxy
) -> None:
    app = await start_app(database_url=through(database_url, pg_proxy.port))
    async with client_for(app) as client:
        await authenticate(client)
        user = await create_user(client, "alice")
        assert (await client.get(f"/users/{user['id']}")).status_code == 200

        await pg_proxy.stop()

        response = await client.get(f"/users/{user['id']}")
        body = assert_problem(response, 503, "service_unavailable")
        for leak in ("Traceback", "asyncpg", "SELECT", "127.0.0.1", "sqlalchemy"):
            assert leak not in response.text, leak
        assert body["detail"]
        assert_problem(
            await client.post("/users", json={"username": "bob", "email": "bob@example.com"}),
            503,
            "service_unavailable",
        )
        assert_problem(await client.get("/users"), 503, "service_unavailable")
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "failing"
        assert ready.json()["status"] != "ok"
        assert (await client.get("/health/live")).status_code == 200

        await pg_proxy.start()  # same port: the app's URL is unchanged

        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"] == "ok"
        got = await client.get(f"/users/{user['id']}")
        assert got.status_code == 200, got.text
        assert got.json() == user
        bob = await create_user(client, "bob")
        listed = await all_users(client)
        assert [u["id"] for u in listed] == [user["id"], bob["id"]]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_unexpected_exception_is_500_without_internals_and_reaches_error_hooks(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    seen: list[tuple[BaseException, dict[str, object]]] = []
    app.state.container.error_hooks.append(lambda exc, ctx: seen.append((exc, ctx)))

    def broken_hook(_exc: BaseException, _ctx: dict[str, object]) -> None:
        raise RuntimeError("a failing hook must not hide the error from the next one")

    app.state.container.error_hooks.insert(0, broken_hook)

    async def explode() -> dict[str, Any]:
        raise ValueError(
            "SELECT password_hash FROM users WHERE secret='hunter2' -- internal detail"
        )

    app.add_api_route("/__boom", explode, methods=["GET"])

    response = await client.get("/__boom", headers={"X-Request-ID": "boom-1"})
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "boom-1"
    for leak in (
        "Traceback",
        "SELECT",
        "password_hash",
        "hunter2",
        "ValueError",
        "explode",
        'File "',
    ):
        assert leak not in response.text, leak

    assert len(seen) == 1
    error, context = seen[0]
    assert isinstance(error, ValueError)
    assert "hunter2" in str(error)
    assert context["request_id"] == "boom-1"

    # The process keeps serving, and the failure is counted.
    assert (await client.get("/health/live")).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert "truapi_unexpected_errors_total 1.0" in metrics
    assert 'route="/__boom",status="500"' in metrics
