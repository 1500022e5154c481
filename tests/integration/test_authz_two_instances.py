"""Two instances on one database see each other's policy changes (CONTRACT §5): a permission
granted or revoked on A is honoured on B within ``APP_REVOCATION_PROPAGATION_S`` — through
Redis when configured, else by polling — and on A itself at once. Concurrent requests on the
two instances cannot close a group or resource loop together."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.conftest import log_in
from tests.integration.conftest import MakePair
from tests.integration.test_two_instances import (
    DEADLINE_S,
    SETUPS,
    bearer,
    pair,
    seconds_until,
)

PASSWORD = "correct horse battery"


async def plain_user(client: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """Create a user; return its id and an access token."""
    created = await client.post(
        "/users", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    )
    assert created.status_code == 201, created.text
    tokens = await log_in(client, name, PASSWORD)
    return created.json()["id"], tokens["access_token"]


async def allowed(client: httpx.AsyncClient, token: str, action: str, resource: str) -> bool:
    response = await client.post(
        "/authz/check", json={"action": action, "resource": resource}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["allowed"])


@pytest.mark.parametrize(("backend", "redis"), SETUPS)
async def test_an_acl_change_on_a_reaches_b_within_the_propagation_delay(
    two_instances: MakePair, redis: bool
) -> None:
    a, b = await pair(two_instances, redis)
    user_id, token = await plain_user(a, "bob")
    grant = {"entries": [{"effect": "allow", "principal": f"user:{user_id}", "actions": ["read"]}]}
    assert (await a.put("/acls/doc:plan", json=grant)).status_code == 200
    # Both instances have decided (and cached) the grant before it is taken away.
    assert await allowed(a, token, "read", "doc:plan")
    assert await allowed(b, token, "read", "doc:plan")

    assert (await a.put("/acls/doc:plan", json={"entries": []})).status_code == 200
    assert not await allowed(a, token, "read", "doc:plan")  # the same instance: at once

    async def revoked_on_b() -> bool:
        return not await allowed(b, token, "read", "doc:plan")

    took = await seconds_until(revoked_on_b)
    assert took <= DEADLINE_S, f"B still allowed {took:.2f} s after the change"


@pytest.mark.parametrize(("backend", "redis"), SETUPS)
async def test_a_membership_removed_on_a_stops_granting_on_b(
    two_instances: MakePair, redis: bool
) -> None:
    a, b = await pair(two_instances, redis)
    user_id, token = await plain_user(a, "carol")
    group = await a.post("/groups", json={"name": "readers"})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    entry = {"effect": "allow", "principal": f"group:{group_id}", "actions": ["read"]}
    assert (await a.put("/acls/doc:plan", json={"entries": [entry]})).status_code == 200
    member = f"/groups/{group_id}/members/user/{user_id}"
    assert (await a.put(member)).status_code == 204
    assert await allowed(b, token, "read", "doc:plan")

    assert (await a.delete(member)).status_code == 204

    async def revoked_on_b() -> bool:
        return not await allowed(b, token, "read", "doc:plan")

    took = await seconds_until(revoked_on_b)
    assert took <= DEADLINE_S, f"B still allowed {took:.2f} s after the membership ended"


@pytest.mark.parametrize(("backend", "redis"), SETUPS[:2])
async def test_concurrent_nesting_on_two_instances_never_closes_a_loop(
    two_instances: MakePair, redis: bool
) -> None:
    a, b = await pair(two_instances, redis)
    ids = []
    for name in ("left", "right"):
        response = await a.post("/groups", json={"name": name})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    left, right = ids
    for _ in range(5):
        results = await asyncio.gather(
            a.put(f"/groups/{left}/members/group/{right}"),
            b.put(f"/groups/{right}/members/group/{left}"),
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [204, 409], [r.text for r in results]
        assert {r.json()["code"] for r in results if r.status_code == 409} == {"group_cycle"}
        for group, other in ((left, right), (right, left)):
            await a.delete(f"/groups/{group}/members/group/{other}")


@pytest.mark.parametrize(("backend", "redis"), SETUPS[:2])
async def test_concurrent_parents_on_two_instances_never_close_a_loop(
    two_instances: MakePair, redis: bool
) -> None:
    a, b = await pair(two_instances, redis)
    for name in ("folder:x", "folder:y"):
        assert (await a.put(f"/resources/{name}", json={})).status_code == 201
    for _ in range(5):
        results = await asyncio.gather(
            a.put("/resources/folder:x", json={"parent": "folder:y"}),
            b.put("/resources/folder:y", json={"parent": "folder:x"}),
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 409], [r.text for r in results]
        for name in ("folder:x", "folder:y"):
            assert (await a.put(f"/resources/{name}", json={"parent": None})).status_code == 200
