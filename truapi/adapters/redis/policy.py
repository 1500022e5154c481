"""Policy-version fan-out over Redis pub/sub, on the channel revocations use."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis

from truapi.adapters.redis.revocations import CHANNEL

log = structlog.get_logger("truapi.authz")


def encode(tenant_id: uuid.UUID, version: int) -> str:
    """An object (revocation messages are lists, so the two never mix up)."""
    return json.dumps({"policy": {"tenant_id": str(tenant_id), "version": version}})


def decode(data: str | bytes) -> tuple[uuid.UUID, int] | None:
    """The (tenant, version) of a policy message; None for any other message on the
    channel; ValueError for a malformed policy message."""
    message: Any = json.loads(data)
    if not isinstance(message, dict) or "policy" not in message:
        return None
    body = message["policy"]
    if not isinstance(body, dict) or set(body) != {"tenant_id", "version"}:
        raise ValueError("not a policy message")
    version = body["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("version must be a positive integer")
    return uuid.UUID(str(body["tenant_id"])), version


class RedisPolicyBus:
    """Publishes and follows policy versions."""

    def __init__(self, redis: Redis, *, channel: str = CHANNEL, idle_ping_s: float = 30.0) -> None:
        self._redis = redis
        self._channel = channel
        self._idle_ping_s = idle_ping_s

    async def publish(self, tenant_id: uuid.UUID, version: int) -> None:
        await self._redis.publish(self._channel, encode(tenant_id, version))

    async def listen(self, deliver: Callable[[uuid.UUID, int], Awaitable[None]]) -> None:
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self._channel)
            while True:
                message = await pubsub.get_message(timeout=self._idle_ping_s)
                if message is None:
                    await pubsub.ping()
                    continue
                if message.get("type") != "message":
                    continue
                try:
                    found = decode(message["data"])
                except (ValueError, TypeError):
                    log.warning("authz.malformed_message", channel=self._channel)
                    continue
                if found is not None:
                    await deliver(*found)
