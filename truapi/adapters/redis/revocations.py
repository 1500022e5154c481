"""Revocation fan-out over Redis pub/sub."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from redis.asyncio import Redis

from truapi.application.ports.auth_repositories import Revocation

log = structlog.get_logger("truapi.revocations")

_FIELDS = ("tenant_id", "session_id", "revoked_at", "expires_at")

#: The one channel instances tell each other about revocations and policy changes on.
CHANNEL = "truapi:revocations"


def encode(revocations: Sequence[Revocation]) -> str:
    """The JSON message for ``revocations``: a list of objects with ISO 8601 times."""
    return json.dumps(
        [
            {
                "tenant_id": str(r.tenant_id),
                "session_id": str(r.session_id),
                "revoked_at": r.revoked_at.isoformat(),
                "expires_at": r.expires_at.isoformat(),
            }
            for r in revocations
        ],
        separators=(",", ":"),
    )


def decode(data: str | bytes) -> list[Revocation]:
    """Parse a message; ValueError when it is not exactly what ``encode`` writes."""
    items: Any = json.loads(data)
    if not isinstance(items, list):
        raise ValueError("not a list")
    revocations = []
    for item in items:
        if not isinstance(item, dict) or set(item) != set(_FIELDS):
            raise ValueError("not a revocation object")
        if not all(isinstance(item[name], str) for name in _FIELDS):
            raise ValueError("fields must be strings")
        revoked_at = datetime.fromisoformat(item["revoked_at"])
        expires_at = datetime.fromisoformat(item["expires_at"])
        if revoked_at.tzinfo is None or expires_at.tzinfo is None:
            raise ValueError("times must carry their offset")
        revocations.append(
            Revocation(
                tenant_id=uuid.UUID(item["tenant_id"]),
                session_id=uuid.UUID(item["session_id"]),
                revoked_at=revoked_at,
                expires_at=expires_at,
            )
        )
    return revocations


class RedisRevocationBus:
    """Publishes revocations on one pub/sub channel that every instance listens to."""

    def __init__(
        self,
        redis: Redis | str,
        *,
        channel: str = CHANNEL,
        idle_ping_s: float = 30.0,
    ) -> None:
        self._owned = isinstance(redis, str)
        self._redis = Redis.from_url(redis) if isinstance(redis, str) else redis
        self._channel = channel
        self._idle_ping_s = idle_ping_s

    async def publish(self, revocations: Sequence[Revocation]) -> None:
        if revocations:
            await self._redis.publish(self._channel, encode(revocations))

    async def listen(self, deliver: Callable[[list[Revocation]], Awaitable[None]]) -> None:
        """Deliver each valid message until cancelled; raises when the connection fails, so
        the caller can reconnect (messages published meanwhile are lost: poll for them)."""
        async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self._channel)
            while True:
                message = await pubsub.get_message(timeout=self._idle_ping_s)
                if message is None:
                    # A quiet channel: a ping finds out whether the connection still lives.
                    await pubsub.ping()
                    continue
                if message.get("type") != "message":
                    continue
                data = message["data"]
                if data[:1] in (b"{", "{"):
                    continue  # a policy-version message, for the policy bus
                try:
                    revocations = decode(data)
                except (ValueError, TypeError):
                    log.warning("revocations.malformed_message", channel=self._channel)
                    continue
                if revocations:
                    await deliver(revocations)

    async def aclose(self) -> None:
        """Close the client when this bus made it from a URL."""
        if self._owned:
            await self._redis.aclose()
