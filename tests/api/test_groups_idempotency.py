"""``POST /groups`` honours ``Idempotency-Key`` like every creating request (CONTRACT §1)."""

from __future__ import annotations

import httpx

from tests.api.conftest import assert_problem


async def test_a_repeat_with_the_same_key_replays_the_first_answer(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "create-finance-1"}
    first = await client.post("/groups", json={"name": "finance"}, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post("/groups", json={"name": "finance"}, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    listed = await client.get("/groups", params={"q": "finance"})
    assert [g["id"] for g in listed.json()["items"]] == [first.json()["id"]]


async def test_the_same_key_with_another_body_is_refused(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-2"}
    assert (await client.post("/groups", json={"name": "a"}, headers=headers)).status_code == 201
    response = await client.post("/groups", json={"name": "b"}, headers=headers)
    assert_problem(response, 422, "idempotency_key_reused")


async def test_without_a_key_a_repeat_is_a_name_clash(client: httpx.AsyncClient) -> None:
    assert (await client.post("/groups", json={"name": "ops"})).status_code == 201
    assert_problem(await client.post("/groups", json={"name": "OPS"}), 409, "group_name_taken")
