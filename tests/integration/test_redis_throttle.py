"""The login throttling policy on a real Redis, and its fallback when Redis is away."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.clock import FakeClock
from tests.conftest import REDIS_URL, need_service
from tests.unit.test_login_throttle import POLICY, LoginThrottleContract
from truapi.adapters.memory.throttle import MemoryLoginThrottle
from truapi.adapters.redis.throttle import RedisLoginThrottle
from truapi.application.ports.throttle import LoginThrottle

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    need_service("Redis", REDIS_URL, 6379, "APP_TEST_REDIS_URL")
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    value = f"truapi-test:{uuid.uuid4().hex}:throttle:"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}*")]
    if keys:
        await redis.delete(*keys)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TestRedisLoginThrottle(LoginThrottleContract):
    @pytest.fixture
    def throttle(self, clock: FakeClock, redis: Redis, prefix: str) -> LoginThrottle:
        fallback = MemoryLoginThrottle(clock, **POLICY)
        return RedisLoginThrottle(redis, fallback, clock, **POLICY, key_prefix=prefix)

    async def test_two_instances_share_the_counts(
        self, clock: FakeClock, redis: Redis, prefix: str
    ) -> None:
        one, two = (
            RedisLoginThrottle(
                redis, MemoryLoginThrottle(clock, **POLICY), clock, **POLICY, key_prefix=prefix
            )
            for _ in range(2)
        )
        for i in range(2):
            await one.failed("alice@t1", f"192.0.2.{i}")
            await two.failed("alice@t1", f"198.51.100.{i}")
        assert await one.retry_after("alice@t1", "203.0.113.1") == 10

    async def test_keys_hold_neither_login_names_nor_addresses(
        self, throttle: LoginThrottle, redis: Redis, prefix: str
    ) -> None:
        await throttle.failed("alice@t1", "192.0.2.1")
        keys = [key.decode() async for key in redis.scan_iter(match=f"{prefix}*")]
        assert len(keys) == 2
        assert not any("alice" in key or "192.0.2.1" in key for key in keys)
        for key in keys:
            assert await redis.ttl(key) == POLICY["reset_s"]


async def test_an_unreachable_redis_falls_back_without_raising() -> None:
    clock = FakeClock()
    fallback = MemoryLoginThrottle(clock, **POLICY)
    dead = Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=0.5)
    throttle = RedisLoginThrottle(dead, fallback, clock, **POLICY)
    try:
        started = time.monotonic()
        waits = [await throttle.failed("alice@t1", "192.0.2.1") for _ in range(4)]
        assert waits == [0, 0, 0, 10]
        assert await throttle.retry_after("alice@t1", "192.0.2.1") == 10
        assert await fallback.retry_after("alice@t1", "192.0.2.1") == 10
        await throttle.succeeded("alice@t1", "192.0.2.1")
        assert await fallback.retry_after("alice@t1", "192.0.2.1") == 0
        # Bounded by the throttle's own timeout, whatever the client's retries.
        assert time.monotonic() - started < 2.5
    finally:
        await dead.aclose()


class TcpProxy:
    """Forwards a local port to Redis; stopping it is a Redis outage as clients see it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_it_returns_to_redis_when_redis_is_back(redis: Redis, prefix: str) -> None:
    clock = FakeClock()
    fallback = MemoryLoginThrottle(clock, **POLICY)
    target = redis.connection_pool.connection_kwargs.get("port", 6379)
    proxy = TcpProxy(int(target))
    await proxy.start()
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    via_proxy = Redis(host="127.0.0.1", port=proxy.port, db=db, socket_connect_timeout=0.5)
    throttle = RedisLoginThrottle(
        via_proxy, fallback, clock, **POLICY, key_prefix=prefix, retry_s=0.2
    )
    key = f"{prefix}a:{hashlib.sha256(b'alice@t1').hexdigest()}"
    try:
        await throttle.failed("alice@t1", "192.0.2.1")
        assert await redis.hget(key, "n") == b"1"

        await proxy.stop()
        await throttle.failed("alice@t1", "192.0.2.1")
        assert await redis.hget(key, "n") == b"1"
        assert await fallback.retry_after("alice@t1", "192.0.2.1") == 0

        await proxy.start()
        await asyncio.sleep(0.3)
        await throttle.failed("alice@t1", "192.0.2.1")
        assert await redis.hget(key, "n") == b"2"
    finally:
        await via_proxy.aclose()
        await proxy.stop()
