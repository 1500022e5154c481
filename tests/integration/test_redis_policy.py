"""Policy versions fanned out through a real Redis, on the channel revocations use."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.conftest import REDIS_URL, need_service
from tests.integration.test_redis_revocations import revocation, subscribed
from tests.unit.test_revocations import eventually
from truapi.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from truapi.adapters.redis.policy import RedisPolicyBus, decode, encode
from truapi.adapters.redis.revocations import RedisRevocationBus
from truapi.application.authz.versions import PolicyVersions, PolicyWatcher
from truapi.application.ports.auth_repositories import Revocation

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
def channel() -> str:
    return f"truapi-test:{uuid.uuid4().hex}:revocations"


def test_messages_round_trip_and_other_messages_are_not_policy() -> None:
    tenant = uuid.uuid4()
    assert decode(encode(tenant, 7)) == (tenant, 7)
    # A revocation message shares the channel and is simply not ours.
    assert decode('[{"session_id": "x"}]') is None
    bad_messages: list[dict[str, object]] = [
        {"policy": {"tenant_id": "x", "version": 1}},
        {"policy": {"tenant_id": str(tenant), "version": 0}},
        {"policy": {"tenant_id": str(tenant), "version": True}},
        {"policy": {"tenant_id": str(tenant)}},
        {"policy": []},
    ]
    for bad in bad_messages:
        with pytest.raises(ValueError):  # noqa: PT011 (uuid.UUID's message is not ours)
            decode(json.dumps(bad))


async def test_versions_published_by_one_watcher_reach_another(redis: Redis, channel: str) -> None:
    tenant = uuid.uuid4()
    local, remote = PolicyVersions(), PolicyVersions()
    sender = PolicyWatcher(
        MemoryUnitOfWorkFactory(), local, interval_s=60, bus=RedisPolicyBus(redis, channel=channel)
    )
    receiver = PolicyWatcher(
        MemoryUnitOfWorkFactory(), remote, interval_s=60, bus=RedisPolicyBus(redis, channel=channel)
    )
    await receiver.start()
    try:
        await subscribed(redis, channel)
        await sender.publish(tenant, 3)
        assert local.get(tenant) == 3  # applied here at once
        await eventually(lambda: remote.get(tenant) == 3)
        # An older version arriving late never moves a tenant back.
        await sender.publish(tenant, 2)
        await asyncio.sleep(0.1)
        assert remote.get(tenant) == 3
    finally:
        await receiver.stop()


async def test_policy_and_revocation_messages_share_the_channel_without_confusion(
    redis: Redis, channel: str
) -> None:
    revocations: list[Revocation] = []
    versions: list[tuple[uuid.UUID, int]] = []

    async def got_revocations(found: list[Revocation]) -> None:
        revocations.extend(found)

    async def got_version(tenant: uuid.UUID, version: int) -> None:
        versions.append((tenant, version))

    revocation_bus = RedisRevocationBus(redis, channel=channel)
    policy_bus = RedisPolicyBus(redis, channel=channel)
    tasks = [
        asyncio.create_task(revocation_bus.listen(got_revocations)),
        asyncio.create_task(policy_bus.listen(got_version)),
    ]
    try:
        for _ in range(200):
            [(_, listeners)] = await redis.pubsub_numsub(channel)
            if int(listeners) >= 2:
                break
            await asyncio.sleep(0.01)
        tenant, sent = uuid.uuid4(), revocation()
        await policy_bus.publish(tenant, 5)
        await revocation_bus.publish([sent])
        await eventually(lambda: revocations == [sent] and versions == [(tenant, 5)])
        assert all(not t.done() for t in tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
