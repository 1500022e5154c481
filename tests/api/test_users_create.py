"""POST /users: creation, normalisation, uniqueness and input validation (CONTRACT §1, §3)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    USER_FIELDS,
    all_users,
    assert_problem,
    assert_validation_problem,
    create_user,
    error_locs,
)

RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
PASSWORD = "violet kestrel under the pier"


def assert_no_secret(text: str) -> None:
    """No password, hash or hash marker in a response body."""
    assert PASSWORD not in text
    assert "argon2" not in text
    assert "password" not in text
    assert "hash" not in text


async def usernames_in(client: httpx.AsyncClient) -> list[str]:
    return [user["username"] for user in await all_users(client)]


async def test_create_returns_201_location_and_the_user(client: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    response = await client.post(
        "/users",
        json={
            "username": "Alice",
            "email": "Alice@Example.COM",
            "display_name": "Alice Liddell",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    user = response.json()
    assert set(user) == USER_FIELDS
    assert response.headers["location"] == f"/users/{user['id']}"
    assert uuid.UUID(user["id"])
    assert uuid.UUID(user["tenant_id"])
    assert user["username"] == "alice"
    assert user["email"] == "alice@example.com"
    assert user["display_name"] == "Alice Liddell"
    assert user["status"] == "active"
    assert user["mfa_enabled"] is False
    assert RFC3339_UTC.fullmatch(user["created_at"])
    assert RFC3339_UTC.fullmatch(user["updated_at"])
    created = datetime.fromisoformat(user["created_at"].replace("Z", "+00:00"))
    assert abs((created - before).total_seconds()) < 60
    assert_no_secret(response.text)

    got = await client.get(response.headers["location"])
    assert got.status_code == 200
    assert got.json() == user
    assert got.headers["etag"] == response.headers["etag"]
    assert_no_secret(got.text)
    listed = await client.get("/users")
    assert [u for u in listed.json()["items"] if u["username"] != "admin"] == [user]
    assert_no_secret(listed.text)


async def test_display_name_defaults_to_the_username(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "Bob.Smith", "bob@example.com")
    assert user["username"] == "bob.smith"
    assert user["display_name"] == "bob.smith"


async def test_display_name_is_trimmed(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "carol", display_name="  Carol C.  ")
    assert user["display_name"] == "Carol C."


async def test_status_can_be_set_at_creation(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "dormant", status="disabled")
    assert user["status"] == "disabled"


@pytest.mark.parametrize(
    "username",
    [
        "abc",  # shortest allowed
        "a" * 32,  # longest allowed
        "0day",
        "j.doe-jr_2",
    ],
)
async def test_valid_usernames_are_accepted(client: httpx.AsyncClient, username: str) -> None:
    user = await create_user(client, username, "someone@example.com")
    assert user["username"] == username


async def test_fullwidth_username_is_nfkc_normalised(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "ＡＬＩＣＥ", "alice@example.com")
    assert user["username"] == "alice"


@pytest.mark.parametrize(
    "clash",
    ["alice", "ALICE", "Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ"],
    ids=["same", "upper", "title", "fullwidth", "fullwidth-upper"],
)
async def test_username_taken_also_for_case_and_unicode_form(
    client: httpx.AsyncClient, clash: str
) -> None:
    await create_user(client, "alice", "alice@example.com")
    response = await client.post("/users", json={"username": clash, "email": "other@example.com"})
    assert_problem(response, 409, "username_taken")
    assert await all_users(client, email="other@example.com") == []


@pytest.mark.parametrize(
    ("first", "clash"),
    [
        ("alice@example.com", "Alice@EXAMPLE.com"),
        ("alice@example.com", "ALICE@example.com"),
        ("josé@example.com", "jose\u0301@example.com"),  # NFC vs NFD
        ("anna@bücher.de", "anna@xn--bcher-kva.de"),  # IDNA: Unicode vs punycode
        ("anna@xn--bcher-kva.de", "ANNA@BÜCHER.DE"),
    ],
    ids=["domain-case", "local-case", "nfc-nfd", "idna-unicode-first", "idna-ascii-first"],
)
async def test_email_taken_also_for_case_and_unicode_form(
    client: httpx.AsyncClient, first: str, clash: str
) -> None:
    await create_user(client, "alice", first)
    response = await client.post("/users", json={"username": "bob", "email": clash})
    assert_problem(response, 409, "email_taken")
    assert await usernames_in(client) == ["alice"]


@pytest.mark.parametrize(
    "username",
    [
        "ali\u200bce",  # zero-width space
        "\u200balice",
        "ali\u200dce",  # zero-width joiner
        "\u0430lice",  # Cyrillic small a
        "аlісе",  # Cyrillic a, i, e
        "ab",  # too short
        "a" * 33,  # too long
        "a" * 300,
        "",
        "bad name",
        "bad!name",
        "bad@name",
        "-alice",
        ".alice",
        "_alice",
        "alice\n",
        "ali/ce",
        "élodie",
    ],
)
async def test_invalid_username_is_422(client: httpx.AsyncClient, username: str) -> None:
    response = await client.post("/users", json={"username": username, "email": "x@example.com"})
    errors = assert_validation_problem(response)
    assert ["body", "username"] in error_locs(errors)
    assert await all_users(client) == []


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "@example.com",
        "alice@",
        "alice@@example.com",
        "ali ce@example.com",
        "alice@exa mple.com",
        "alice@localhost",
        "alice@" + ".".join(["d" * 60] * 5) + ".com",  # over 254 in total
        "",
    ],
)
async def test_invalid_email_is_422(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/users", json={"username": "alice", "email": email})
    errors = assert_validation_problem(response)
    assert ["body", "email"] in error_locs(errors)
    assert await all_users(client) == []


@pytest.mark.parametrize(
    "display_name",
    [
        "x" * 101,
        "x" * 5000,
        "",
        "   ",
        "Bell\u0007",
        "Null\u0000byte",
        "Line\nbreak",
        "Tab\tbed",
        "Del\u007f",
        "C1\u0085control",
        "evil\u202egnp.exe",  # right-to-left override
        "iso\u2066late",
        "para\u2029sep",
    ],
)
async def test_invalid_display_name_is_422(client: httpx.AsyncClient, display_name: str) -> None:
    response = await client.post(
        "/users",
        json={"username": "alice", "email": "a@example.com", "display_name": display_name},
    )
    errors = assert_validation_problem(response)
    assert ["body", "display_name"] in error_locs(errors)
    assert await all_users(client) == []


async def test_display_name_of_100_chars_is_accepted(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "alice", display_name="é" * 100)
    assert user["display_name"] == "é" * 100


@pytest.mark.parametrize("password", ["", "short", "seven77", "x" * 257])
async def test_password_length_outside_8_to_256_is_422(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await client.post(
        "/users", json={"username": "alice", "email": "a@example.com", "password": password}
    )
    errors = assert_validation_problem(response)
    assert ["body", "password"] in error_locs(errors)
    assert await all_users(client) == []


@pytest.mark.parametrize("password", ["zq8#Lm2!", "Q" * 256, "a b c d e f g h"])
async def test_password_of_8_to_256_chars_is_accepted_without_composition_rules(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await client.post(
        "/users", json={"username": "alice", "email": "a@example.com", "password": password}
    )
    assert response.status_code == 201, response.text
    assert password not in response.text


@pytest.mark.parametrize("password", ["password", "PASSWORD", "12345678", "iloveyou", "qwertyuiop"])
async def test_common_password_is_422_password_too_common(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await client.post(
        "/users", json={"username": "alice", "email": "a@example.com", "password": password}
    )
    body = assert_problem(response, 422, "password_too_common")
    assert ["body", "password"] in error_locs(body["errors"])
    assert await all_users(client) == []


@pytest.mark.parametrize(
    "extra",
    [
        {"is_admin": True},
        {"id": "01a220a7-dfd2-73f9-b234-32cd964cd154"},
        {"tenant_id": "01a220a7-dfd2-73f9-b234-32cd964cd154"},
        {"password_hash": "$argon2id$v=19$m=65536,t=3,p=1$abc$def"},
        {"mfa_enabled": True},
        {"created_at": "2020-01-01T00:00:00Z"},
    ],
    ids=lambda extra: next(iter(extra)),
)
async def test_unknown_or_server_owned_fields_are_rejected(
    client: httpx.AsyncClient, extra: dict[str, Any]
) -> None:
    response = await client.post(
        "/users", json={"username": "alice", "email": "a@example.com", **extra}
    )
    errors = assert_validation_problem(response)
    (field,) = extra
    assert {"loc": ["body", field], "type": "extra_forbidden"} in [
        {"loc": e["loc"], "type": e["type"]} for e in errors
    ]
    assert await all_users(client) == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"username": "alice"},
        {"email": "a@example.com"},
        {"username": 123, "email": "a@example.com"},
        {"username": "alice", "email": "a@example.com", "status": "banned"},
        {"username": None, "email": "a@example.com"},
        [],
        "alice",
        None,  # no body at all
    ],
)
async def test_missing_or_mistyped_fields_are_422(
    client: httpx.AsyncClient, payload: object
) -> None:
    response = await client.post("/users", json=payload)
    assert_validation_problem(response)
    assert await all_users(client) == []


async def test_validation_errors_name_every_bad_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users",
        json={"username": "a", "email": "nope", "display_name": "\u0007", "password": "x"},
    )
    locs = error_locs(assert_validation_problem(response))
    for field in ("username", "email", "display_name", "password"):
        assert ["body", field] in locs
