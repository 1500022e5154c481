"""Login throttle shared through Redis, with a local fallback while Redis is unreachable."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from truapi.application.ports.clock import Clock
from truapi.application.ports.throttle import LoginThrottle

log = structlog.get_logger("truapi.throttle")

T = TypeVar("T")

#: Errors meaning "Redis cannot be reached", as opposed to bugs.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OSError)

# KEYS[1]: the key's hash. ARGV: now (epoch seconds), reset_s. Returns the failure count.
# The time comes from the caller so every instance (and a test's clock) applies one policy;
# the TTL only cleans up.
_RECORD_FAILURE = """
local n = 0
local last = redis.call('HGET', KEYS[1], 't')
if last and tonumber(ARGV[1]) - tonumber(last) < tonumber(ARGV[2]) then
  n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 't', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return n
"""


class RedisLoginThrottle:
    """The policy of ``MemoryLoginThrottle`` with its counts in Redis hashes, so every
    instance sees every failure. Keys hold SHA-256 digests: no login name or address is
    stored in clear. While Redis is unreachable (or slower than ``timeout_s``) ``fallback``
    answers; Redis is tried again ``retry_s`` after each failure to reach it."""

    def __init__(
        self,
        redis: Redis,
        fallback: LoginThrottle,
        clock: Clock,
        *,
        free_failures: int,
        client_free_failures: int,
        delay_s: int,
        max_delay_s: int,
        reset_s: int,
        key_prefix: str = "truapi:throttle:",
        retry_s: float = 5.0,
        timeout_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._fallback = fallback
        self._clock = clock
        self._free_failures = free_failures
        self._client_free_failures = client_free_failures
        self._delay_s = delay_s
        self._max_delay_s = max_delay_s
        self._reset_s = reset_s
        self._prefix = key_prefix
        self._retry_s = retry_s
        self._timeout_s = timeout_s
        self._script = redis.register_script(_RECORD_FAILURE)
        self._down_until: float | None = None

    async def retry_after(self, account: str, client: str) -> int:
        async def shared() -> int:
            now = self._clock.now().timestamp()
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.hmget(self._key("a", account), "n", "t")
                pipe.hmget(self._key("c", client), "n", "t")
                (a_count, a_last), (c_count, c_last) = await pipe.execute()
            return max(
                self._remaining(a_count, a_last, self._free_failures, now),
                self._remaining(c_count, c_last, self._client_free_failures, now),
            )

        return await self._either(shared, lambda: self._fallback.retry_after(account, client))

    async def failed(self, account: str, client: str) -> int:
        async def shared() -> int:
            now = self._clock.now().timestamp()
            args: list[str | int] = [repr(now), self._reset_s]
            # One script call per key, not one for both, so the keys may live on different
            # cluster slots; each count is still updated atomically.
            async with self._redis.pipeline(transaction=False) as pipe:
                await self._script(keys=[self._key("a", account)], args=args, client=pipe)
                await self._script(keys=[self._key("c", client)], args=args, client=pipe)
                a_count, c_count = await pipe.execute()
            return max(
                self._wait(int(a_count), self._free_failures),
                self._wait(int(c_count), self._client_free_failures),
            )

        return await self._either(shared, lambda: self._fallback.failed(account, client))

    async def succeeded(self, account: str, client: str) -> None:
        async def shared() -> None:
            await self._redis.delete(self._key("a", account))

        await self._either(shared, lambda: self._fallback.succeeded(account, client))

    async def _either(
        self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        if self._down_until is not None and time.monotonic() < self._down_until:
            return await local()
        try:
            # A bound of our own: the client's retries and backoff could hold a login for
            # seconds before giving up.
            async with asyncio.timeout(self._timeout_s):
                result = await shared()
        except UNAVAILABLE as exc:
            if self._down_until is None:
                log.warning(
                    "login_throttle.redis_unavailable",
                    fallback="in-process",
                    error=type(exc).__name__,
                )
            self._down_until = time.monotonic() + self._retry_s
            return await local()
        if self._down_until is not None:
            self._down_until = None
            log.info("login_throttle.redis_restored")
        return result

    def _key(self, kind: str, value: str) -> str:
        return f"{self._prefix}{kind}:{hashlib.sha256(value.encode()).hexdigest()}"

    def _wait(self, count: int, free: int) -> int:
        if count <= free:
            return 0
        # The exponent is capped so that endless failures never build a huge integer.
        return min(self._delay_s * (1 << min(count - free - 1, 40)), self._max_delay_s)

    def _remaining(
        self, count: bytes | str | None, last: bytes | str | None, free: int, now: float
    ) -> int:
        if count is None or last is None:
            return 0
        # Another instance's clock may run ahead: never count a failure as in the future.
        elapsed = max(0.0, now - float(last))
        if elapsed >= self._reset_s:
            return 0
        return max(0, math.ceil(self._wait(int(count), free) - elapsed))
