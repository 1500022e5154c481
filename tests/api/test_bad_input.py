"""Hostile and broken requests: each gets a problem body, never a 500, and writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    REQUEST_ID_RE,
    MakeClient,
    all_users,
    assert_problem,
    assert_validation_problem,
    create_user,
    usernames,
)

TEN_MB = 10 * 1024 * 1024
JSON = {"content-type": "application/json"}


async def assert_nothing_written(client: httpx.AsyncClient, expected: list[str]) -> None:
    assert await usernames(client) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"username": "alice", "email": }',
        b"{'username': 'alice'}",
        b'{"username": "alice",}',
        b"not json at all",
        b'{"username": "alice"} trailing',
        b"\xff\xfe\x00garbage",
        b'{"username": "\xc3\x28"}',  # invalid UTF-8
    ],
)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_malformed_json_is_400(client: httpx.AsyncClient, body: bytes, method: str) -> None:
    existing = await create_user(client, "existing", display_name="Existing")
    path = "/users" if method == "POST" else f"/users/{existing['id']}"
    response = await client.request(method, path, content=body, headers=JSON)
    assert_problem(response, 400, "malformed_request")
    await assert_nothing_written(client, ["existing"])
    assert (await client.get(f"/users/{existing['id']}")).json() == existing


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/xml",
        "application/jsonp",
    ],
)
async def test_wrong_content_type_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    body = b'{"username": "alice", "email": "alice@example.com"}'
    response = await client.post("/users", content=body, headers={"content-type": content_type})
    assert_problem(response, 415, "unsupported_media_type")
    await assert_nothing_written(client, [])


async def test_form_post_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", data={"username": "alice", "email": "a@example.com"})
    assert_problem(response, 415, "unsupported_media_type")
    existing = await create_user(client, "existing")
    response = await client.patch(f"/users/{existing['id']}", data={"display_name": "Form"})
    assert_problem(response, 415, "unsupported_media_type")
    assert (await client.get(f"/users/{existing['id']}")).json() == existing


async def test_body_without_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", content=b'{"username": "alice", "email": "a@b.de"}')
    assert_problem(response, 415, "unsupported_media_type")
    await assert_nothing_written(client, [])


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json"],
)
async def test_json_media_type_variants_are_accepted(
    client: httpx.AsyncClient, content_type: str
) -> None:
    body = b'{"username": "alice", "email": "alice@example.com"}'
    response = await client.post("/users", content=body, headers={"content-type": content_type})
    assert response.status_code == 201, response.text


def big_json(size: int) -> bytes:
    prefix = b'{"username": "alice", "email": "a@example.com", "display_name": "'
    return prefix + b"x" * (size - len(prefix) - 2) + b'"}'


async def test_10_mb_body_with_content_length_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", content=big_json(TEN_MB), headers=JSON)
    assert response.request.headers["content-length"] == str(TEN_MB)
    assert_problem(response, 413, "payload_too_large")
    await assert_nothing_written(client, [])


async def test_10_mb_chunked_body_without_content_length_is_413(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        body = big_json(TEN_MB)
        for start in range(0, len(body), 64 * 1024):
            chunk = body[start : start + 64 * 1024]
            sent += len(chunk)
            yield chunk

    response = await client.post("/users", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_problem(response, 413, "payload_too_large")
    # Refused once the limit was crossed, not after reading all ten megabytes.
    assert sent < 2 * 1024 * 1024
    await assert_nothing_written(client, [])


async def test_oversized_patch_is_413_and_changes_nothing(client: httpx.AsyncClient) -> None:
    existing = await create_user(client, "existing")
    response = await client.patch(
        f"/users/{existing['id']}",
        content=b'{"display_name": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers=JSON,
    )
    assert_problem(response, 413, "payload_too_large")
    assert (await client.get(f"/users/{existing['id']}")).json() == existing


async def test_body_just_under_the_limit_is_not_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", content=big_json(1024 * 1024), headers=JSON)
    # Read and validated (the display name is too long), not refused for its size.
    assert_validation_problem(response)


async def test_lower_body_limit_is_honoured(make_client: MakeClient) -> None:
    client = await make_client(max_body_bytes=2048)
    response = await client.post("/users", content=big_json(4096), headers=JSON)
    assert_problem(response, 413, "payload_too_large")
    ok = await client.post("/users", json={"username": "alice", "email": "a@example.com"})
    assert ok.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        b'{"username": ' + b"9" * 5000 + b', "email": "a@example.com"}',
        b'{"username": "alice", "email": "a@example.com", "x": ' + b"1" * 5000 + b"}",
        b'{"username": 1e999999, "email": "a@example.com"}',
        b'{"username": -' + b"9" * 5000 + b".5e-99999}",
        b"[" * 10_000 + b"]" * 10_000,
        b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"username": "alice", "email": "a@example.com", "display_name": '
        + b"[" * 10_000
        + b"]" * 10_000
        + b"}",
    ],
    ids=[
        "huge-int",
        "huge-int-extra",
        "huge-exponent",
        "huge-float",
        "deep-list",
        "deep-object",
        "deep-in-field",
    ],
)
async def test_pathological_json_is_a_4xx_problem_never_500(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post("/users", content=body, headers=JSON)
    assert response.status_code in (400, 422), response.text
    assert_problem(
        response,
        response.status_code,
        "malformed_request" if response.status_code == 400 else "validation_error",
    )
    await assert_nothing_written(client, [])


@pytest.mark.parametrize(
    ("username", "status"),
    [
        ("ALICE", 409),
        ("ａｌｉｃｅ", 409),  # fullwidth
        ("Ａｌｉｃｅ", 409),
        ("ALİCE", 422),  # dotted capital I lower-cases to "i" plus a combining dot
    ],
)
async def test_username_lookalikes_by_case_or_unicode_form_never_make_a_second_alice(
    client: httpx.AsyncClient, username: str, status: int
) -> None:
    await create_user(client, "alice", "alice@example.com")
    response = await client.post("/users", json={"username": username, "email": "b@example.com"})
    if status == 409:
        assert_problem(response, 409, "username_taken")
    else:
        assert_validation_problem(response)
    await assert_nothing_written(client, ["alice"])


@pytest.mark.parametrize(
    "username",
    [
        "ali\u200bce",  # zero-width space
        "alice\u200b",
        "ali\ufeffce",  # zero-width no-break space (BOM)
        "ali\u00adce",  # soft hyphen
        "\u0430\u0440\u0440le",  # Cyrillic "аpple"
        "p\u0430ypal",  # Cyrillic a
        "\u0391lpha",  # Greek capital alpha
        "ali\u0301ce",  # combining accent
        "alice\u202e",  # right-to-left override
    ],
)
async def test_invisible_and_lookalike_characters_are_refused(
    client: httpx.AsyncClient, username: str
) -> None:
    response = await client.post("/users", json={"username": username, "email": "a@example.com"})
    errors = assert_validation_problem(response)
    assert ["body", "username"] in [e["loc"] for e in errors]
    await assert_nothing_written(client, [])


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("%", ["percent"]),
        ("_", ["under_score"]),
        ("\\", ["backslash"]),
        ("%%", []),
        ("__", []),
        ("\\\\", []),
        ("%_\\", []),
        ("'; DROP TABLE users; --", []),
    ],
)
async def test_like_metacharacters_in_q_are_literal(
    client: httpx.AsyncClient, q: str, expected: list[str]
) -> None:
    await create_user(client, "percent", display_name="100% sure")
    await create_user(client, "under_score")
    await create_user(client, "backslash", display_name="C:\\temp")
    await create_user(client, "plain", display_name="Nothing special")
    assert await usernames(client, q=q) == expected
    assert len(await all_users(client)) == 4


async def test_valid_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    for value in ("abc", "req-123_ABC.xyz", "x" * 128):
        response = await client.get("/health/live", headers={"X-Request-ID": value})
        assert response.headers["x-request-id"] == value
    problem = await client.get(f"/users/{uuid.uuid4()}", headers={"X-Request-ID": "trace-7"})
    body = assert_problem(problem, 404, "user_not_found")
    assert body["request_id"] == "trace-7"


@pytest.mark.parametrize(
    "value",
    ["has spaces", "x" * 129, "y" * 200, "semi;colon", "slash/es", 'quote"d', "é-accent", ""],
)
async def test_invalid_request_id_is_replaced(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get(
        f"/users/{uuid.uuid4()}", headers=[(b"X-Request-ID", value.encode())]
    )
    new_id = response.headers["x-request-id"]
    assert new_id != value
    assert REQUEST_ID_RE.fullmatch(new_id)
    body = assert_problem(response, 404, "user_not_found")
    assert body["request_id"] == new_id


async def test_each_request_without_an_id_gets_a_fresh_one(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/health/live")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    for request_id in ids:
        assert REQUEST_ID_RE.fullmatch(request_id)


@pytest.mark.parametrize(
    "path", ["/nope", "/user", "/users/abc/extra", "/%00", "/docs/../etc/passwd"]
)
async def test_unknown_path_is_404_problem(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/users"),
        ("DELETE", "/users"),
        ("PATCH", "/users"),
        ("PUT", "/users/{id}"),
        ("POST", "/users/{id}"),
        ("POST", "/health/live"),
        ("DELETE", "/health/ready"),
        ("POST", "/metrics"),
    ],
)
async def test_wrong_method_is_405_problem(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    existing = await create_user(client, "existing")
    url = path.replace("{id}", existing["id"])
    kwargs: dict[str, Any] = {"json": {}} if method in ("PUT", "POST", "PATCH") else {}
    response = await client.request(method, url, **kwargs)
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"]
    assert method not in response.headers["allow"]
    await assert_nothing_written(client, ["existing"])
