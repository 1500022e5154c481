"""Concurrent requests: uniqueness and idempotency hold when requests race."""

from __future__ import annotations

import asyncio

import httpx


async def test_racing_creates_of_one_name_in_different_forms_make_one_user(
    client: httpx.AsyncClient,
) -> None:
    names = ["alice", "Alice", "ALICE", "ａｌｉｃｅ", "aLiCe", "alicE"]
    responses = await asyncio.gather(
        *(
            client.post("/users", json={"username": n, "email": f"a{i}@example.com"})
            for i, n in enumerate(names)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (len(names) - 1)
    assert all(r.json()["code"] == "username_taken" for r in responses if r.status_code == 409)
    listed = await client.get("/users", params={"username": "alice"})
    assert len(listed.json()["items"]) == 1


async def test_racing_retries_with_one_idempotency_key_create_once_and_agree(
    client: httpx.AsyncClient,
) -> None:
    body = {"username": "carol", "email": "carol@example.com"}
    responses = await asyncio.gather(
        *(client.post("/users", json=body, headers={"Idempotency-Key": "k-1"}) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    listed = await client.get("/users", params={"username": "carol"})
    assert len(listed.json()["items"]) == 1
