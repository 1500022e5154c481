"""Revocations fanned out through a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from tests.clock import FakeClock
from tests.conftest import REDIS_URL, need_service
from tests.unit.test_revocations import FakeUnitOfWorkFactory, eventually
from truapi.adapters.redis.revocations import RedisRevocationBus, decode, encode
from truapi.application.auth.revocations import RevocationWatcher, RevokedSessions
from truapi.application.ports.auth_repositories import Revocation

pytestmark = pytest.mark.redis

NOW = datetime.now(UTC).replace(microsecond=0)


def revocation() -> Revocation:
    return Revocation(
        tenant_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        revoked_at=NOW,
        expires_at=NOW + timedelta(minutes=10),
    )


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    need_service("Redis", REDIS_URL, 6379, "APP_TEST_REDIS_URL")
    client = Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def channel() -> str:
    return f"truapi-test:{uuid.uuid4().hex}:revocations"


async def subscribed(redis: Redis, channel: str) -> None:
    """Wait until the channel has a listener: a message published before would be lost."""
    for _ in range(200):
        [(_, listeners)] = await redis.pubsub_numsub(channel)
        if int(listeners) >= 1:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"nobody subscribed to {channel}")


async def test_a_published_revocation_reaches_another_bus_within_a_second(
    redis: Redis, channel: str
) -> None:
    sender = RedisRevocationBus(REDIS_URL, channel=channel)
    receiver = RedisRevocationBus(REDIS_URL, channel=channel)
    received: list[Revocation] = []

    async def deliver(revocations: list[Revocation]) -> None:
        received.extend(revocations)

    task = asyncio.create_task(receiver.listen(deliver))
    try:
        await subscribed(redis, channel)
        sent = [revocation(), revocation()]
        await sender.publish(sent)
        await eventually(lambda: len(received) == 2, within_s=1.0)
        assert received == sent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await sender.aclose()
        await receiver.aclose()


async def test_malformed_messages_are_ignored(redis: Redis, channel: str) -> None:
    bus = RedisRevocationBus(redis, channel=channel)
    received: list[Revocation] = []

    async def deliver(revocations: list[Revocation]) -> None:
        received.extend(revocations)

    task = asyncio.create_task(bus.listen(deliver))
    try:
        await subscribed(redis, channel)
        junk_messages: list[str | bytes] = [
            "not json",
            "{}",
            '[{"session_id": "x"}]',
            "[1]",
            encode([revocation()]).replace('"session_id":"', '"session_id":"nope'),
            b"\xff\xfe",
        ]
        for junk in junk_messages:
            await redis.publish(channel, junk)
        good = revocation()
        await bus.publish([good])
        await eventually(lambda: len(received) == 1)
        assert received == [good]
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_watcher_listens_again_after_its_connection_is_killed(
    redis: Redis, channel: str
) -> None:
    name = f"truapi-test-{uuid.uuid4().hex[:12]}"
    listening = Redis.from_url(REDIS_URL, client_name=name)
    sender = RedisRevocationBus(redis, channel=channel)
    revoked = RevokedSessions()
    watcher = RevocationWatcher(
        FakeUnitOfWorkFactory(),
        revoked,
        FakeClock(NOW),
        interval_s=60,
        lookback=timedelta(minutes=11),
        bus=RedisRevocationBus(listening, channel=channel),
        listen_backoff_s=(0.05, 0.5),
    )
    await watcher.start()
    try:
        await subscribed(redis, channel)
        first = revocation()
        await sender.publish([first])
        await eventually(lambda: str(first.session_id) in revoked)

        # Only this test's listener, not every pub/sub client of a shared server.
        ids = [c["id"] for c in await redis.client_list(_type="pubsub") if c["name"] == name]
        assert ids
        for client_id in ids:
            await redis.client_kill_filter(_id=client_id, _type="pubsub")
        await subscribed(redis, channel)

        second = revocation()
        await sender.publish([second])
        await eventually(lambda: str(second.session_id) in revoked, within_s=1.0)
    finally:
        await watcher.stop()
        await listening.aclose()


def test_messages_round_trip_and_reject_naive_times() -> None:
    sent = [revocation()]
    assert decode(encode(sent)) == sent
    naive = encode(sent).replace("+00:00", "")
    with pytest.raises(ValueError, match="offset"):
        decode(naive)
