"""Session listings are cursor-paginated like every other list (CONTRACT §1)."""

from __future__ import annotations

import httpx

from tests.api.conftest import LINK_NEXT_RE, assert_problem
from tests.conftest import log_in


async def test_sessions_come_in_pages_newest_first(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        await log_in(client)  # with the client's own login: three sessions
    first = await client.get("/me/sessions", params={"limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    match = LINK_NEXT_RE.search(first.headers["link"])
    assert match is not None
    second = await client.get(match.group(1))
    rest = second.json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    listed = [s["created_at"] for s in page["items"] + rest["items"]]
    assert listed == sorted(listed, reverse=True)
    assert [s["current"] for s in page["items"] + rest["items"]].count(True) == 1
    admin_id = (await client.get("/me")).json()["id"]
    by_admin = await client.get(f"/users/{admin_id}/sessions", params={"limit": 1})
    assert len(by_admin.json()["items"]) == 1


async def test_a_tampered_or_foreign_session_cursor_is_400(client: httpx.AsyncClient) -> None:
    await log_in(client)
    cursor = (await client.get("/me/sessions", params={"limit": 1})).json()["next_cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    response = await client.get("/me/sessions", params={"cursor": tampered})
    assert_problem(response, 400, "invalid_cursor")
    users_cursor = (await client.get("/users", params={"limit": 1})).json()
    assert users_cursor["next_cursor"] is None  # one user: no foreign cursor to try here
    assert_problem(await client.get("/me/sessions", params={"limit": 0}), 422, "validation_error")
