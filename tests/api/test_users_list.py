"""GET /users: keyset pagination, filters, sorting and cursor integrity (CONTRACT §1, §3)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    LINK_NEXT_RE,
    USER_FIELDS,
    all_users,
    assert_problem,
    assert_validation_problem,
    create_user,
    usernames,
)
from tests.conftest import ADMIN_USERNAME


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def walk(
    client: httpx.AsyncClient, params: dict[str, str | int], between: Any = None
) -> list[list[dict[str, Any]]]:
    """Follow ``next_cursor`` to the end; ``between(n)`` runs after page ``n``."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        query = dict(params)
        if cursor is not None:
            query["cursor"] = cursor
        response = await client.get("/users", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        link = response.headers.get("link")
        if cursor is None:
            assert link is None
            return pages
        assert link is not None
        assert LINK_NEXT_RE.search(link)
        assert len(pages) < 100, "pagination does not end"
        if between is not None:
            await between(len(pages))


async def test_a_fresh_tenant_lists_only_its_administrator(client: httpx.AsyncClient) -> None:
    response = await client.get("/users")
    assert response.status_code == 200
    body = response.json()
    assert [u["username"] for u in body["items"]] == [ADMIN_USERNAME]
    assert body["next_cursor"] is None
    assert "link" not in response.headers


async def test_default_limit_is_50(client: httpx.AsyncClient) -> None:
    for i in range(50):  # and the administrator: 51 users
        await create_user(client, f"user{i:02d}")
    response = await client.get("/users")
    body = response.json()
    assert len(body["items"]) == 50
    assert body["next_cursor"] is not None
    rest = await client.get("/users", params={"cursor": body["next_cursor"]})
    assert [u["username"] for u in rest.json()["items"]] == ["user49"]
    assert rest.json()["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "-1", "201", "1000", "abc", "1.5", ""])
async def test_limit_outside_1_to_200_is_422(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/users", params={"limit": limit})
    errors = assert_validation_problem(response)
    assert ["query", "limit"] in [e["loc"] for e in errors]


@pytest.mark.parametrize("limit", [1, 200])
async def test_limit_bounds_are_accepted(client: httpx.AsyncClient, limit: int) -> None:
    await create_user(client, "alice")
    await create_user(client, "bob")
    response = await client.get("/users", params={"limit": limit})
    assert response.status_code == 200
    assert len(response.json()["items"]) == min(limit, 3)  # with the administrator


async def test_walk_all_pages_each_user_once_with_link_header(client: httpx.AsyncClient) -> None:
    admin = (await client.get("/me")).json()
    created = [await create_user(client, f"walker{i}") for i in range(7)]
    pages = await walk(client, {"limit": 3})
    assert [len(page) for page in pages] == [3, 3, 2]
    seen = [user["id"] for page in pages for user in page]
    assert seen == [admin["id"]] + [user["id"] for user in created]  # default: created_at


async def test_link_header_points_at_the_next_page(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await create_user(client, f"linked{i}")
    first = await client.get("/users", params={"limit": 2, "q": "linked"})
    match = LINK_NEXT_RE.search(first.headers["link"])
    assert match is not None
    by_link = await client.get(match.group(1))
    by_cursor = await client.get(
        "/users", params={"limit": 2, "q": "linked", "cursor": first.json()["next_cursor"]}
    )
    assert by_link.status_code == 200
    assert by_link.json() == by_cursor.json()
    assert [u["username"] for u in by_link.json()["items"]] == ["linked2"]


@pytest.mark.parametrize("sort", ["username", "-username", "created_at", "-created_at"])
async def test_pages_are_stable_under_inserts_between_pages(
    client: httpx.AsyncClient, sort: str
) -> None:
    originals = {(await create_user(client, f"mid{i}"))["id"] for i in range(6)}
    inserted = 0

    async def insert_ahead(page: int) -> None:
        # Users that sort before and after the current position: with OFFSET paging they
        # would shift rows across page boundaries and produce duplicates or gaps.
        nonlocal inserted
        if page > 3:
            return
        await create_user(client, f"aa{inserted}")
        await create_user(client, f"zz{inserted}")
        inserted += 1

    pages = await walk(client, {"limit": 2, "sort": sort}, between=insert_ahead)
    seen = [user["id"] for page in pages for user in page]
    assert len(seen) == len(set(seen)), "a user appeared twice"
    assert originals <= set(seen), "a user that existed throughout was skipped"


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("created_at", ["carol", "alice", "bob"]),
        ("-created_at", ["bob", "alice", "carol"]),
        ("username", ["alice", "bob", "carol"]),
        ("-username", ["carol", "bob", "alice"]),
    ],
)
async def test_sort_orders(client: httpx.AsyncClient, sort: str, expected: list[str]) -> None:
    for name in ("carol", "alice", "bob"):
        await create_user(client, name)
        await asyncio.sleep(0.005)
    assert await usernames(client, sort=sort) == expected
    pages = await walk(client, {"limit": 1, "sort": sort})
    walked = [page[0]["username"] for page in pages]
    assert walked.count(ADMIN_USERNAME) == 1
    assert [name for name in walked if name != ADMIN_USERNAME] == expected


async def test_default_sort_is_created_at(client: httpx.AsyncClient) -> None:
    for name in ("carol", "alice", "bob"):
        await create_user(client, name)
        await asyncio.sleep(0.005)
    assert await usernames(client) == ["carol", "alice", "bob"]


@pytest.mark.parametrize("sort", ["name", "created", "+username", "username,-created_at", ""])
async def test_unknown_sort_is_422(client: httpx.AsyncClient, sort: str) -> None:
    assert_validation_problem(await client.get("/users", params={"sort": sort}))


async def test_q_is_a_case_insensitive_substring_of_username_email_or_display_name(
    client: httpx.AsyncClient,
) -> None:
    await create_user(client, "alice", "alice@wonder.land", display_name="Alice Liddell")
    await create_user(client, "bob", "robert@builder.example", display_name="Bob The Builder")
    await create_user(client, "carol", "carol@example.com", display_name="Carol Danvers")
    assert await usernames(client, q="ALI") == ["alice"]
    assert await usernames(client, q="WONDER.LAND") == ["alice"]
    assert await usernames(client, q="builder") == ["bob"]
    assert await usernames(client, q="danVERS") == ["carol"]
    assert await usernames(client, q="RO") == ["bob", "carol"]
    assert await usernames(client, q="nobody") == []


async def test_q_treats_like_wildcards_and_backslash_literally(
    client: httpx.AsyncClient,
) -> None:
    await create_user(client, "a_c", "one@example.com", display_name="Underscore")
    await create_user(client, "abc", "two@example.com", display_name="Plain")
    await create_user(client, "axxc", "three@example.com", display_name="Many")
    await create_user(client, "pct", "four@example.com", display_name="50% off")
    await create_user(client, "pcx", "five@example.com", display_name="500 off")
    await create_user(client, "bsl", "six@example.com", display_name="back\\slash")
    await create_user(client, "bsx", "seven@example.com", display_name="backslash")

    assert await usernames(client, q="a_c") == ["a_c"]
    assert await usernames(client, q="_") == ["a_c"]
    assert await usernames(client, q="a%c") == []
    assert await usernames(client, q="%") == ["pct"]
    assert await usernames(client, q="50%") == ["pct"]
    assert await usernames(client, q="0%") == ["pct"]
    assert await usernames(client, q="\\") == ["bsl"]
    assert await usernames(client, q="k\\s") == ["bsl"]
    assert await usernames(client, q="\\%") == []
    assert await usernames(client, q="\\_") == []


@pytest.mark.parametrize("q", ["", "x" * 201, "a\u0000b", "a\nb"])
async def test_invalid_q_is_422(client: httpx.AsyncClient, q: str) -> None:
    assert_validation_problem(await client.get("/users", params={"q": q}))


async def test_filter_by_status(client: httpx.AsyncClient) -> None:
    await create_user(client, "alice")
    await create_user(client, "bob", status="disabled")
    await create_user(client, "carol")
    assert await usernames(client, status="disabled") == ["bob"]
    assert await usernames(client, status="active") == ["alice", "carol"]
    assert_validation_problem(await client.get("/users", params={"status": "banned"}))


@pytest.mark.parametrize("given", ["alice", "ALICE", "Alice", "ａｌｉｃｅ"])
async def test_filter_by_username_is_exact_and_case_insensitive(
    client: httpx.AsyncClient, given: str
) -> None:
    await create_user(client, "alice")
    await create_user(client, "alice2")
    await create_user(client, "malice")
    assert await usernames(client, username=given) == ["alice"]


@pytest.mark.parametrize("given", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@example.Com"])
async def test_filter_by_email_is_exact_and_case_insensitive(
    client: httpx.AsyncClient, given: str
) -> None:
    await create_user(client, "alice", "alice@example.com")
    await create_user(client, "malice", "malice@example.com")
    await create_user(client, "alice2", "alice@example.com.au")
    assert await usernames(client, email=given) == ["alice"]


async def test_username_and_email_filters_that_cannot_match_give_empty_or_422(
    client: httpx.AsyncClient,
) -> None:
    await create_user(client, "alice")
    assert await usernames(client, username="nobody") == []
    assert await usernames(client, email="nobody@example.com") == []
    assert_validation_problem(await client.get("/users", params={"username": "bad name!"}))


async def test_filters_combine(client: httpx.AsyncClient) -> None:
    await create_user(client, "alice", display_name="Team Red")
    await create_user(client, "bob", display_name="Team Red", status="disabled")
    await create_user(client, "carol", display_name="Team Blue", status="disabled")
    assert await usernames(client, q="red", status="disabled") == ["bob"]
    assert await usernames(client, q="team", status="disabled", sort="-username") == [
        "carol",
        "bob",
    ]


async def test_filter_by_created_after_and_before(client: httpx.AsyncClient) -> None:
    made = []
    for name in ("early", "middle", "late"):
        made.append(await create_user(client, name))
        await asyncio.sleep(0.03)
    middle = parse_ts(made[1]["created_at"])
    just_before = iso_z(middle - timedelta(milliseconds=5))
    just_after = iso_z(middle + timedelta(milliseconds=5))

    assert await usernames(client, created_after=just_before) == ["middle", "late"]
    assert await usernames(client, created_before=just_after) == ["early", "middle"]
    assert await usernames(client, created_after=just_before, created_before=just_after) == [
        "middle"
    ]
    # The same instant written with another offset selects the same users.
    plus_two = (middle - timedelta(milliseconds=5)).astimezone(timezone(timedelta(hours=2)))
    assert await usernames(client, created_after=plus_two.isoformat()) == ["middle", "late"]
    assert (
        await usernames(client, created_after=iso_z(datetime.now(UTC) + timedelta(hours=1))) == []
    )


@pytest.mark.parametrize("param", ["created_after", "created_before"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", "1700000000x"])
async def test_invalid_timestamps_are_422(
    client: httpx.AsyncClient, param: str, value: str
) -> None:
    assert_validation_problem(await client.get("/users", params={param: value}))


async def test_filtered_walk_returns_each_match_once(client: httpx.AsyncClient) -> None:
    wanted = set()
    for i in range(5):
        wanted.add((await create_user(client, f"team{i}", display_name="Team"))["id"])
        await create_user(client, f"solo{i}", display_name="Solo")
    pages = await walk(client, {"limit": 2, "q": "team", "sort": "-username"})
    seen = [user["id"] for page in pages for user in page]
    assert sorted(seen) == sorted(wanted)
    assert [u["username"] for page in pages for u in page] == [f"team{i}" for i in range(4, -1, -1)]


async def first_cursor(client: httpx.AsyncClient, **params: str | int) -> str:
    response = await client.get("/users", params={"limit": 1, **params})
    cursor = response.json()["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


async def test_tampered_cursor_is_400(client: httpx.AsyncClient) -> None:
    for name in ("alice", "bob", "carol"):
        await create_user(client, name)
    cursor = await first_cursor(client)
    middle = len(cursor) // 2
    swapped = "A" if cursor[middle] != "A" else "B"
    for bad in (
        cursor[:middle] + swapped + cursor[middle + 1 :],
        cursor[:-2],
        cursor + "AA",
        "not-a-cursor",
        "!!!!",
        "eyJhIjoxfQ",  # base64 of {"a":1}: well-formed, unsigned
    ):
        response = await client.get("/users", params={"limit": 1, "cursor": bad})
        assert_problem(response, 400, "invalid_cursor")


@pytest.mark.parametrize(
    ("issued_with", "reused_with"),
    [
        ({}, {"q": "a"}),
        ({"q": "a"}, {"q": "b"}),
        ({}, {"sort": "-created_at"}),
        ({"sort": "username"}, {"sort": "-username"}),
        ({}, {"status": "active"}),
        ({}, {"username": "bob"}),
        ({}, {"email": "bob@example.com"}),
        ({}, {"created_after": "2000-01-01T00:00:00Z"}),
        ({"created_before": "2999-01-01T00:00:00Z"}, {}),
    ],
)
async def test_cursor_reused_with_other_filters_is_400(
    client: httpx.AsyncClient, issued_with: dict[str, str], reused_with: dict[str, str]
) -> None:
    for name in ("alice", "bob", "carol"):
        await create_user(client, name)
    cursor = await first_cursor(client, **issued_with)
    same = await client.get("/users", params={"limit": 1, "cursor": cursor, **issued_with})
    assert same.status_code == 200
    response = await client.get("/users", params={"limit": 1, "cursor": cursor, **reused_with})
    assert_problem(response, 400, "invalid_cursor")


async def test_cursor_survives_a_change_of_limit(client: httpx.AsyncClient) -> None:
    for name in ("alice", "bob", "carol"):
        await create_user(client, name)
    cursor = await first_cursor(client, sort="username")  # after "admin"
    response = await client.get("/users", params={"limit": 5, "sort": "username", "cursor": cursor})
    assert response.status_code == 200
    assert [u["username"] for u in response.json()["items"]] == ["alice", "bob", "carol"]


async def test_list_items_never_carry_secrets(client: httpx.AsyncClient) -> None:
    await create_user(client, "alice", password="violet kestrel under the pier")
    items = await all_users(client)
    assert set(items[0]) == USER_FIELDS
