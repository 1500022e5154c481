import httpx


async def test_create_then_get(client: httpx.AsyncClient) -> None:
    r = await client.post("/users", json={"username": "Alice", "email": "a@example.com"})
    assert r.status_code == 201, r.text
    got = await client.get(r.headers["location"])
    assert got.json()["username"] == "alice"
