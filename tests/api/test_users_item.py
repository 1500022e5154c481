"""GET, PATCH and DELETE /users/{id}: ETags, If-Match, 404, 409, 412, 422 (CONTRACT §1, §3)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    all_users,
    assert_problem,
    assert_validation_problem,
    create_user,
    error_locs,
)

NOT_UUIDS = ["not-a-uuid", "123", "01a220a7-dfd2-73f9-b234", "%20", "ｕｕｉｄ"]


async def test_get_returns_user_with_etag(client: httpx.AsyncClient) -> None:
    created = await create_user(client, "alice", password="violet kestrel under the pier")
    response = await client.get(f"/users/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    etag = response.headers["etag"]
    assert etag.startswith(('"', 'W/"'))
    assert etag.endswith('"')
    again = await client.get(f"/users/{created['id']}")
    assert again.headers["etag"] == etag


async def test_get_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    await create_user(client, "alice")
    response = await client.get(f"/users/{uuid.uuid4()}")
    assert_problem(response, 404, "user_not_found")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("bad_id", NOT_UUIDS)
async def test_non_uuid_id_is_422(client: httpx.AsyncClient, method: str, bad_id: str) -> None:
    kwargs: dict[str, Any] = {"json": {"display_name": "x"}} if method == "PATCH" else {}
    response = await client.request(method, f"/users/{bad_id}", **kwargs)
    errors = assert_validation_problem(response)
    assert ["path", "user_id"] in error_locs(errors)


async def test_patch_changes_fields_and_etag(client: httpx.AsyncClient) -> None:
    created = await create_user(client, "alice", display_name="Alice")
    first = await client.get(f"/users/{created['id']}")
    response = await client.patch(
        f"/users/{created['id']}",
        json={"display_name": "  Alice L.  ", "email": "Alice.L@Example.com"},
    )
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["display_name"] == "Alice L."
    assert user["email"] == "alice.l@example.com"
    assert user["username"] == "alice"
    assert user["id"] == created["id"]
    assert user["created_at"] == created["created_at"]
    assert user["updated_at"] >= created["updated_at"]
    new_etag = response.headers["etag"]
    assert new_etag != first.headers["etag"]

    got = await client.get(f"/users/{created['id']}")
    assert got.json() == user
    assert got.headers["etag"] == new_etag


async def test_patch_with_empty_body_changes_nothing_visible(client: httpx.AsyncClient) -> None:
    created = await create_user(client, "alice", display_name="Alice")
    response = await client.patch(f"/users/{created['id']}", json={})
    assert response.status_code == 200, response.text
    body = response.json()
    for field in ("username", "email", "display_name", "status"):
        assert body[field] == created[field]


async def test_patch_with_matching_if_match_succeeds(client: httpx.AsyncClient) -> None:
    created = await create_user(client, "alice")
    etag = (await client.get(f"/users/{created['id']}")).headers["etag"]
    response = await client.patch(
        f"/users/{created['id']}", json={"display_name": "A"}, headers={"If-Match": etag}
    )
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "A"
    # The ETag from the PATCH response is good for the next conditional change.
    again = await client.patch(
        f"/users/{created['id']}",
        json={"display_name": "B"},
        headers={"If-Match": response.headers["etag"]},
    )
    assert again.status_code == 200, again.text
    assert again.json()["display_name"] == "B"


async def test_patch_with_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    created = await create_user(client, "alice", display_name="Alice")
    stale = (await client.get(f"/users/{created['id']}")).headers["etag"]
    changed = await client.patch(f"/users/{created['id']}", json={"display_name": "Bob"})
    assert changed.status_code == 200

    response = await client.patch(
        f"/users/{created['id']}", json={"display_name": "Mallory"}, headers={"If-Match": stale}
    )
    assert_problem(response, 412, "precondition_failed")
    current = await client.get(f"/users/{created['id']}")
    assert current.json()["display_name"] == "Bob"
    assert current.headers["etag"] == changed.headers["etag"]


@pytest.mark.parametrize("if_match", ['"nope"', "garbage", '"0000-1"'])
async def test_patch_with_foreign_if_match_is_412(client: httpx.AsyncClient, if_match: str) -> None:
    created = await create_user(client, "alice", display_name="Alice")
    response = await client.patch(
        f"/users/{created['id']}", json={"display_name": "X"}, headers={"If-Match": if_match}
    )
    assert_problem(response, 412, "precondition_failed")
    assert (await client.get(f"/users/{created['id']}")).json()["display_name"] == "Alice"


async def test_patch_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"/users/{uuid.uuid4()}", json={"display_name": "Ghost"})
    assert_problem(response, 404, "user_not_found")
    assert await all_users(client) == []


@pytest.mark.parametrize("clash", ["alice@example.com", "ALICE@Example.Com"])
async def test_patch_to_taken_email_is_409(client: httpx.AsyncClient, clash: str) -> None:
    await create_user(client, "alice", "alice@example.com")
    bob = await create_user(client, "bob", "bob@example.com")
    response = await client.patch(f"/users/{bob['id']}", json={"email": clash})
    assert_problem(response, 409, "email_taken")
    assert (await client.get(f"/users/{bob['id']}")).json()["email"] == "bob@example.com"


@pytest.mark.parametrize(
    "payload",
    [
        {"username": "mallory"},
        {"password_hash": "x"},
        {"password": "violet kestrel under the pier"},
        {"id": "01a220a7-dfd2-73f9-b234-32cd964cd154"},
        {"tenant_id": "01a220a7-dfd2-73f9-b234-32cd964cd154"},
        {"mfa_enabled": True},
        {"display_name": "ok", "role": "admin"},
    ],
    ids=lambda payload: "+".join(payload),
)
async def test_patch_unknown_field_is_422_and_changes_nothing(
    client: httpx.AsyncClient, payload: dict[str, Any]
) -> None:
    created = await create_user(client, "alice", display_name="Alice")
    response = await client.patch(f"/users/{created['id']}", json=payload)
    errors = assert_validation_problem(response)
    assert any(e["type"] == "extra_forbidden" for e in errors)
    current = await client.get(f"/users/{created['id']}")
    assert current.json() == created


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "not-an-email"},
        {"display_name": ""},
        {"display_name": "a\u0000b"},
        {"display_name": "x" * 101},
        {"status": "deleted"},
        {"email": None, "display_name": 5},
    ],
)
async def test_patch_invalid_value_is_422(
    client: httpx.AsyncClient, payload: dict[str, Any]
) -> None:
    created = await create_user(client, "alice", display_name="Alice")
    response = await client.patch(f"/users/{created['id']}", json=payload)
    assert_validation_problem(response)
    assert (await client.get(f"/users/{created['id']}")).json() == created


async def test_delete_then_404_and_username_and_email_are_free(
    client: httpx.AsyncClient,
) -> None:
    created = await create_user(client, "alice", "alice@example.com")
    response = await client.delete(f"/users/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""

    assert_problem(await client.get(f"/users/{created['id']}"), 404, "user_not_found")
    assert_problem(
        await client.patch(f"/users/{created['id']}", json={"display_name": "x"}),
        404,
        "user_not_found",
    )
    assert_problem(await client.delete(f"/users/{created['id']}"), 404, "user_not_found")
    assert await all_users(client) == []

    again = await create_user(client, "ALICE", "Alice@Example.com")
    assert again["id"] != created["id"]
    assert again["username"] == "alice"
    assert again["email"] == "alice@example.com"


async def test_delete_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete(f"/users/{uuid.uuid4()}"), 404, "user_not_found")


async def test_delete_with_stale_if_match_is_412_and_keeps_the_user(
    client: httpx.AsyncClient,
) -> None:
    created = await create_user(client, "alice")
    stale = (await client.get(f"/users/{created['id']}")).headers["etag"]
    changed = await client.patch(f"/users/{created['id']}", json={"display_name": "A2"})
    assert changed.status_code == 200

    response = await client.delete(f"/users/{created['id']}", headers={"If-Match": stale})
    assert_problem(response, 412, "precondition_failed")
    assert (await client.get(f"/users/{created['id']}")).status_code == 200

    current = changed.headers["etag"]
    done = await client.delete(f"/users/{created['id']}", headers={"If-Match": current})
    assert done.status_code == 204
    assert (await client.get(f"/users/{created['id']}")).status_code == 404


async def test_delete_leaves_other_users_alone(client: httpx.AsyncClient) -> None:
    alice = await create_user(client, "alice")
    bob = await create_user(client, "bob")
    assert (await client.delete(f"/users/{alice['id']}")).status_code == 204
    assert [u["id"] for u in await all_users(client)] == [bob["id"]]
