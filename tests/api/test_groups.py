"""POST/GET /groups and GET/PATCH/DELETE /groups/{id}: shapes, names, search, pagination,
ETags, the protected ``admins`` group, tenant isolation and audit (CONTRACT §1, §5)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.authz_support import PASSWORD, audit_events, container_of
from tests.api.conftest import assert_problem, assert_validation_problem, error_locs
from tests.api.group_support import (
    add_member,
    create_group,
    me_id,
    nest,
    other_tenant,
    plain_user,
    walk_pages,
)

GROUP_FIELDS = {
    "id",
    "tenant_id",
    "name",
    "description",
    "external_id",
    "created_at",
    "updated_at",
}
JSON = {"content-type": "application/json"}


async def names(client: httpx.AsyncClient, **params: str | int) -> list[str]:
    """Every group name of one listing (one page of up to 200, asserted to be the last)."""
    response = await client.get("/groups", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    return [g["name"] for g in body["items"]]


# -- POST /groups -----------------------------------------------------------------------


async def test_create_answers_201_with_location_etag_and_the_group(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/groups",
        json={"name": "  Finance  ", "description": "Money people", "external_id": "okta:00g1"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    group = response.json()
    assert set(group) == GROUP_FIELDS
    assert uuid.UUID(group["id"])
    assert group["name"] == "Finance"
    assert group["description"] == "Money people"
    assert group["external_id"] == "okta:00g1"
    assert group["created_at"] == group["updated_at"]
    assert group["created_at"].endswith("Z")
    me = await client.get("/me")
    assert group["tenant_id"] == me.json()["tenant_id"]

    assert response.headers["location"] == f"/groups/{group['id']}"
    etag = response.headers["etag"]
    assert etag.startswith(('"', 'W/"'))
    assert etag.endswith('"')
    got = await client.get(response.headers["location"])
    assert got.status_code == 200
    assert got.json() == group
    assert got.headers["etag"] == etag


async def test_create_defaults_description_and_external_id(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "editors")
    assert group["description"] == ""
    assert group["external_id"] is None


@pytest.mark.parametrize("second", ["FINANCE", "finance", "  Finance ", "fInAnCe"])
async def test_name_taken_regardless_of_case(client: httpx.AsyncClient, second: str) -> None:
    await create_group(client, "Finance")
    response = await client.post("/groups", json={"name": second})
    assert_problem(response, 409, "group_name_taken")
    assert await names(client) == ["admins", "Finance"]


async def test_non_ascii_names_clash_regardless_of_case(client: httpx.AsyncClient) -> None:
    await create_group(client, "Ärzte")
    response = await client.post("/groups", json={"name": "ÄRZTE"})
    assert_problem(response, 409, "group_name_taken")


async def test_the_bootstrap_admins_group_holds_its_name(client: httpx.AsyncClient) -> None:
    response = await client.post("/groups", json={"name": "Admins"})
    assert_problem(response, 409, "group_name_taken")


@pytest.mark.parametrize(
    "extra",
    [{"owner": "user:x"}, {"id": str(uuid.uuid4())}, {"tenant_id": str(uuid.uuid4())}],
)
async def test_create_refuses_unknown_fields(
    client: httpx.AsyncClient, extra: dict[str, Any]
) -> None:
    response = await client.post("/groups", json={"name": "finance", **extra})
    errors = assert_validation_problem(response)
    assert ["body", next(iter(extra))] in error_locs(errors)
    assert await names(client) == ["admins"]


@pytest.mark.parametrize(
    "name",
    ["", "   ", "a\x00b", "tab\there", "line\nbreak", "del\x7f", "n\x85el", "x" * 101],
)
async def test_create_refuses_bad_names(client: httpx.AsyncClient, name: str) -> None:
    response = await client.post("/groups", json={"name": name})
    assert_validation_problem(response)
    assert await names(client) == ["admins"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": None},
        {"name": 7},
        {"name": ["finance"]},
        {"name": "finance", "description": "bell\x07"},
        {"name": "finance", "description": "d" * 501},
        {"name": "finance", "external_id": ""},
        {"name": "finance", "external_id": "esc\x1b"},
        {"name": "finance", "external_id": "e" * 256},
    ],
)
async def test_create_refuses_bad_bodies(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await client.post("/groups", json=body)
    assert_validation_problem(response)
    assert await names(client) == ["admins"]


async def test_a_hundred_character_name_is_fine(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "n" * 100)
    assert group["name"] == "n" * 100


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_create_needs_json(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post(
        "/groups", content=b'{"name": "finance"}', headers={"content-type": content_type}
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert await names(client) == ["admins"]


@pytest.mark.parametrize("body", [b"{", b'{"name": "finance",}', b"\xff\xfe", b"nope"])
async def test_create_with_malformed_json_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/groups", content=body, headers=JSON)
    assert_problem(response, 400, "malformed_request")


async def test_create_needs_a_token(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.post("/groups", json={"name": "finance"})
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_plain_user_cannot_create_groups(client: httpx.AsyncClient) -> None:
    bob = await plain_user(client, "bob")
    response = await client.post("/groups", json={"name": "bobs"}, headers=bob.headers)
    assert_problem(response, 403, "forbidden")
    assert await names(client) == ["admins"]


# -- GET /groups --------------------------------------------------------------------------


async def test_list_is_ordered_by_name_ignoring_case(client: httpx.AsyncClient) -> None:
    for name in ["zeta", "Beta", "alpha", "Gamma"]:
        await create_group(client, name)
    response = await client.get("/groups")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    assert "link" not in response.headers
    assert [g["name"] for g in body["items"]] == ["admins", "alpha", "Beta", "Gamma", "zeta"]
    for item in body["items"]:
        assert set(item) == GROUP_FIELDS
    alpha = next(g for g in body["items"] if g["name"] == "alpha")
    assert alpha == (await client.get(f"/groups/{alpha['id']}")).json()


async def test_search_matches_name_or_description_ignoring_case(
    client: httpx.AsyncClient,
) -> None:
    await create_group(client, "Finance", description="Money People")
    await create_group(client, "Marketing", description="Brand and campaigns")
    await create_group(client, "Ärzte", description="Medical staff")
    assert await names(client, q="fin") == ["Finance"]
    assert await names(client, q="FIN") == ["Finance"]
    assert await names(client, q="money") == ["Finance"]
    assert await names(client, q="PEOPLE") == ["Finance"]
    assert await names(client, q="an") == ["admins", "Finance", "Marketing"]  # "tenant"
    assert await names(client, q="ärz") == ["Ärzte"]
    assert await names(client, q="ÄRZ") == ["Ärzte"]
    assert await names(client, q="nothing-like-this") == []


async def test_search_does_not_span_name_and_description(client: httpx.AsyncClient) -> None:
    await create_group(client, "ab", description="cd")
    assert await names(client, q="ab") == ["ab"]
    assert await names(client, q="cd") == ["ab"]
    assert await names(client, q="bc") == []
    assert await names(client, q="b c") == []


async def test_search_treats_percent_and_underscore_literally(client: httpx.AsyncClient) -> None:
    for name in ["100% club", "100 club", "a_b", "axb", "back\\slash"]:
        await create_group(client, name)
    assert await names(client, q="%") == ["100% club"]
    assert await names(client, q="100%") == ["100% club"]
    assert await names(client, q="_") == ["a_b"]
    assert await names(client, q="a_b") == ["a_b"]
    assert await names(client, q="\\") == ["back\\slash"]
    assert await names(client, q="%%") == []


@pytest.mark.parametrize("q", ["", "bell\x07", "x" * 201])
async def test_search_term_is_validated(client: httpx.AsyncClient, q: str) -> None:
    response = await client.get("/groups", params={"q": q})
    errors = assert_validation_problem(response)
    assert ["query", "q"] in error_locs(errors)


async def test_list_pages_follow_the_cursor_and_link(client: httpx.AsyncClient) -> None:
    created = [await create_group(client, f"group-{i:02d}") for i in range(7)]
    pages = await walk_pages(client, "/groups", {"limit": 3})
    assert [len(p) for p in pages] == [3, 3, 2]
    seen = [g["name"] for page in pages for g in page]
    assert seen == ["admins"] + [g["name"] for g in created]


async def test_search_pages_keep_the_filter(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await create_group(client, f"team-{i}")
        await create_group(client, f"other-{i}")
    pages = await walk_pages(client, "/groups", {"limit": 2, "q": "team"})
    assert [g["name"] for page in pages for g in page] == [f"team-{i}" for i in range(5)]


async def test_pages_are_stable_under_inserts(client: httpx.AsyncClient) -> None:
    for name in ["b", "d", "f", "h"]:
        await create_group(client, name)
    first = await client.get("/groups", params={"limit": 2})
    assert [g["name"] for g in first.json()["items"]] == ["admins", "b"]
    # Groups that sort before and after the cursor appear in no page twice.
    await create_group(client, "a")
    await create_group(client, "c")
    rest = await client.get("/groups", params={"limit": 10, "cursor": first.json()["next_cursor"]})
    assert [g["name"] for g in rest.json()["items"]] == ["c", "d", "f", "h"]


@pytest.mark.parametrize("q", ["r&d %", "a+b", "x=y #1", "ü/ß?"])
async def test_next_links_keep_a_search_with_special_characters(
    client: httpx.AsyncClient, q: str
) -> None:
    wanted = [f"{q} {i}" for i in range(5)]
    for name in wanted:
        await create_group(client, name)
    await create_group(client, "unrelated")
    pages = await walk_pages(client, "/groups", {"limit": 2, "q": q})
    assert [g["name"] for page in pages for g in page] == wanted


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc"])
async def test_limit_is_bounded(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/groups", params={"limit": limit})
    errors = assert_validation_problem(response)
    assert ["query", "limit"] in error_locs(errors)


async def test_limit_200_is_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/groups", params={"limit": 200})
    assert response.status_code == 200


@pytest.mark.parametrize("cursor", ["garbage", "eyJ4IjoxfQ", "%%%", "a" * 300])
async def test_a_made_up_cursor_is_400(client: httpx.AsyncClient, cursor: str) -> None:
    response = await client.get("/groups", params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


async def test_a_tampered_cursor_is_400(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await create_group(client, f"g{i}")
    cursor = (await client.get("/groups", params={"limit": 1})).json()["next_cursor"]
    assert cursor
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    response = await client.get("/groups", params={"limit": 1, "cursor": flipped})
    assert_problem(response, 400, "invalid_cursor")


async def test_a_cursor_of_another_search_is_400(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await create_group(client, f"team-{i}")
    cursor = (await client.get("/groups", params={"limit": 1, "q": "team"})).json()["next_cursor"]
    assert cursor
    response = await client.get("/groups", params={"limit": 1, "q": "eam", "cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")
    response = await client.get("/groups", params={"limit": 1, "cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


async def test_a_cursor_of_another_listing_is_400(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "team")
    for _ in range(3):
        other = await create_group(client, f"sub-{uuid.uuid4().hex[:6]}")
        await nest(client, group, other)
    members = await client.get(f"/groups/{group['id']}/members", params={"limit": 1})
    cursor = members.json()["next_cursor"]
    assert cursor
    response = await client.get("/groups", params={"cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")


async def test_listing_needs_a_token(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.get("/groups")
    assert_problem(response, 401, "unauthenticated")


async def test_a_plain_user_cannot_list_groups(client: httpx.AsyncClient) -> None:
    bob = await plain_user(client, "bob")
    response = await client.get("/groups", headers=bob.headers)
    assert_problem(response, 403, "forbidden")


# -- GET /groups/{id} ---------------------------------------------------------------------


async def test_get_unknown_group_is_404(client: httpx.AsyncClient) -> None:
    await create_group(client, "finance")
    response = await client.get(f"/groups/{uuid.uuid4()}")
    assert_problem(response, 404, "group_not_found")


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "admins"])
async def test_non_uuid_group_id_is_422(
    client: httpx.AsyncClient, method: str, bad_id: str
) -> None:
    kwargs: dict[str, Any] = {"json": {"description": "x"}} if method == "PATCH" else {}
    response = await client.request(method, f"/groups/{bad_id}", **kwargs)
    errors = assert_validation_problem(response)
    assert ["path", "group_id"] in error_locs(errors)


async def test_get_needs_a_token(client: httpx.AsyncClient, anon_client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await anon_client.get(f"/groups/{group['id']}")
    assert_problem(response, 401, "unauthenticated")


async def test_a_plain_user_cannot_read_a_group(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    bob = await plain_user(client, "bob")
    response = await client.get(f"/groups/{group['id']}", headers=bob.headers)
    assert_problem(response, 403, "forbidden")


# -- PATCH /groups/{id} -------------------------------------------------------------------


async def test_patch_changes_fields_and_etag(client: httpx.AsyncClient) -> None:
    created = await client.post("/groups", json={"name": "finance", "external_id": "okta:1"})
    group = created.json()
    response = await client.patch(
        f"/groups/{group['id']}",
        json={"name": " Finance & Audit ", "description": "Money and checks"},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["name"] == "Finance & Audit"
    assert changed["description"] == "Money and checks"
    assert changed["external_id"] == "okta:1"
    assert changed["id"] == group["id"]
    assert changed["created_at"] == group["created_at"]
    assert changed["updated_at"] >= group["updated_at"]
    assert response.headers["etag"] != created.headers["etag"]
    got = await client.get(f"/groups/{group['id']}")
    assert got.json() == changed
    assert got.headers["etag"] == response.headers["etag"]


async def test_patch_with_an_empty_body_keeps_every_field(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance", description="d", external_id="okta:1")
    response = await client.patch(f"/groups/{group['id']}", json={})
    assert response.status_code == 200, response.text
    for field in ("name", "description", "external_id"):
        assert response.json()[field] == group[field]


async def test_external_id_null_clears_it_and_leaving_it_out_keeps_it(
    client: httpx.AsyncClient,
) -> None:
    group = await create_group(client, "finance", external_id="okta:00g1")
    kept = await client.patch(f"/groups/{group['id']}", json={"description": "x"})
    assert kept.json()["external_id"] == "okta:00g1"
    relinked = await client.patch(f"/groups/{group['id']}", json={"external_id": "ldap:cn=fin"})
    assert relinked.json()["external_id"] == "ldap:cn=fin"
    cleared = await client.patch(f"/groups/{group['id']}", json={"external_id": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["external_id"] is None
    assert (await client.get(f"/groups/{group['id']}")).json()["external_id"] is None


async def test_renaming_to_another_groups_name_is_409(client: httpx.AsyncClient) -> None:
    await create_group(client, "Finance")
    group = await create_group(client, "marketing")
    response = await client.patch(f"/groups/{group['id']}", json={"name": "FINANCE"})
    assert_problem(response, 409, "group_name_taken")
    assert (await client.get(f"/groups/{group['id']}")).json()["name"] == "marketing"


async def test_a_group_may_change_the_case_of_its_own_name(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await client.patch(f"/groups/{group['id']}", json={"name": "FINANCE"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "FINANCE"


async def test_patch_with_matching_if_match_succeeds(client: httpx.AsyncClient) -> None:
    created = await client.post("/groups", json={"name": "finance"})
    group_id = created.json()["id"]
    response = await client.patch(
        f"/groups/{group_id}",
        json={"description": "one"},
        headers={"If-Match": created.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    again = await client.patch(
        f"/groups/{group_id}",
        json={"description": "two"},
        headers={"If-Match": response.headers["etag"]},
    )
    assert again.status_code == 200, again.text
    assert again.json()["description"] == "two"
    star = await client.patch(
        f"/groups/{group_id}", json={"description": "three"}, headers={"If-Match": "*"}
    )
    assert star.status_code == 200, star.text


class WithinOneMillisecond:
    """A clock whose readings differ by microseconds but share one millisecond, as the
    readings of two requests handled at nearly the same moment do."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.base = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls = min(self.calls + 1, 999)
        return self.base + timedelta(microseconds=self.calls)


async def test_every_change_moves_the_etag_even_within_a_millisecond(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(container_of(app).clock, "now", WithinOneMillisecond())
    created = await client.post("/groups", json={"name": "finance"})
    group_id = created.json()["id"]
    stale = created.headers["etag"]
    first = await client.patch(
        f"/groups/{group_id}", json={"description": "first"}, headers={"If-Match": stale}
    )
    assert first.status_code == 200, first.text
    # The representation changed, so its strong validator must too (RFC 9110 §8.8.3) ...
    assert first.headers["etag"] != stale
    # ... and a writer still holding the old one is refused instead of overwriting.
    lost = await client.patch(
        f"/groups/{group_id}", json={"description": "lost update"}, headers={"If-Match": stale}
    )
    assert_problem(lost, 412, "precondition_failed")
    gone = await client.delete(f"/groups/{group_id}", headers={"If-Match": stale})
    assert_problem(gone, 412, "precondition_failed")
    assert (await client.get(f"/groups/{group_id}")).json()["description"] == "first"


@pytest.mark.parametrize("if_match", ['"nope"', "garbage", '"0"'])
async def test_patch_with_a_foreign_if_match_is_412(
    client: httpx.AsyncClient, if_match: str
) -> None:
    group = await create_group(client, "finance")
    response = await client.patch(
        f"/groups/{group['id']}", json={"description": "x"}, headers={"If-Match": if_match}
    )
    assert_problem(response, 412, "precondition_failed")
    assert (await client.get(f"/groups/{group['id']}")).json() == group


async def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/groups", json={"name": "finance"})
    group_id = created.json()["id"]
    stale = created.headers["etag"]
    changed = await client.patch(f"/groups/{group_id}", json={"description": "first"})
    assert changed.status_code == 200
    response = await client.patch(
        f"/groups/{group_id}", json={"description": "lost update"}, headers={"If-Match": stale}
    )
    assert_problem(response, 412, "precondition_failed")
    current = await client.get(f"/groups/{group_id}")
    assert current.json()["description"] == "first"
    assert current.headers["etag"] == changed.headers["etag"]


async def test_patch_unknown_group_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"/groups/{uuid.uuid4()}", json={"description": "x"})
    assert_problem(response, 404, "group_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"id": str(uuid.uuid4())},
        {"tenant_id": str(uuid.uuid4())},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"name": ""},
        {"name": "  "},
        {"name": "a\x00b"},
        {"name": "x" * 101},
        {"description": "bell\x07"},
        {"external_id": ""},
    ],
)
async def test_patch_refuses_bad_bodies(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    group = await create_group(client, "finance")
    response = await client.patch(f"/groups/{group['id']}", json=body)
    assert_validation_problem(response)
    assert (await client.get(f"/groups/{group['id']}")).json() == group


async def test_patch_needs_json(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await client.patch(
        f"/groups/{group['id']}", content=b"description=x", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")
    response = await client.patch(f"/groups/{group['id']}", content=b"{", headers=JSON)
    assert_problem(response, 400, "malformed_request")


async def test_patch_needs_a_token_and_write_on_the_group(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    group = await create_group(client, "finance")
    response = await anon_client.patch(f"/groups/{group['id']}", json={"description": "x"})
    assert_problem(response, 401, "unauthenticated")
    bob = await plain_user(client, "bob")
    response = await client.patch(
        f"/groups/{group['id']}", json={"description": "x"}, headers=bob.headers
    )
    assert_problem(response, 403, "forbidden")
    assert (await client.get(f"/groups/{group['id']}")).json() == group


# -- the admins group ----------------------------------------------------------------------


async def admins_group(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/groups", params={"q": "admins"})
    found = [g for g in response.json()["items"] if g["name"] == "admins"]
    assert len(found) == 1
    group: dict[str, Any] = found[0]
    return group


@pytest.mark.parametrize("name", ["operators", "admins2", "admin"])
async def test_the_admins_group_cannot_be_renamed(client: httpx.AsyncClient, name: str) -> None:
    admins = await admins_group(client)
    response = await client.patch(f"/groups/{admins['id']}", json={"name": name})
    assert_problem(response, 409, "group_protected")
    assert (await client.get(f"/groups/{admins['id']}")).json()["name"] == "admins"


async def test_the_admins_group_may_be_described(client: httpx.AsyncClient) -> None:
    admins = await admins_group(client)
    response = await client.patch(
        f"/groups/{admins['id']}", json={"description": "People who run this tenant"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["description"] == "People who run this tenant"
    assert response.json()["name"] == "admins"


async def test_the_admins_group_cannot_be_deleted(client: httpx.AsyncClient) -> None:
    admins = await admins_group(client)
    response = await client.delete(f"/groups/{admins['id']}")
    assert_problem(response, 409, "group_protected")
    assert (await client.get(f"/groups/{admins['id']}")).status_code == 200
    # Its members keep their rights.
    assert (await client.post("/groups", json={"name": "still-admin"})).status_code == 201


# -- DELETE /groups/{id} ------------------------------------------------------------------


async def test_delete_removes_the_group_and_frees_its_name(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await client.delete(f"/groups/{group['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/groups/{group['id']}"), 404, "group_not_found")
    assert_problem(await client.delete(f"/groups/{group['id']}"), 404, "group_not_found")
    assert await names(client) == ["admins"]
    again = await create_group(client, "FINANCE")
    assert again["id"] != group["id"]


async def test_delete_removes_memberships_both_ways(client: httpx.AsyncClient) -> None:
    parent = await create_group(client, "parent")
    group = await create_group(client, "finance")
    child = await create_group(client, "child")
    admin_id = await me_id(client)
    await nest(client, parent, group)
    await nest(client, group, child)
    await add_member(client, group["id"], "user", admin_id)

    assert (await client.delete(f"/groups/{group['id']}")).status_code == 204
    members = await client.get(f"/groups/{parent['id']}/members", params={"transitive": "true"})
    assert members.json()["items"] == []
    mine = await client.get(f"/users/{admin_id}/groups", params={"transitive": "true"})
    assert [g["name"] for g in mine.json()["items"]] == ["admins"]
    # The child group itself stays, now outside any group.
    assert (await client.get(f"/groups/{child['id']}")).status_code == 200
    assert (await client.get(f"/groups/{child['id']}/members")).json()["items"] == []


async def test_delete_with_a_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    created = await client.post("/groups", json={"name": "finance"})
    group_id = created.json()["id"]
    changed = await client.patch(f"/groups/{group_id}", json={"description": "new"})
    response = await client.delete(
        f"/groups/{group_id}", headers={"If-Match": created.headers["etag"]}
    )
    assert_problem(response, 412, "precondition_failed")
    assert (await client.get(f"/groups/{group_id}")).status_code == 200
    response = await client.delete(
        f"/groups/{group_id}", headers={"If-Match": changed.headers["etag"]}
    )
    assert response.status_code == 204
    assert (await client.get(f"/groups/{group_id}")).status_code == 404


async def test_delete_unknown_group_is_404(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"/groups/{uuid.uuid4()}")
    assert_problem(response, 404, "group_not_found")


async def test_delete_needs_a_token_and_delete_on_the_group(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    group = await create_group(client, "finance")
    assert_problem(await anon_client.delete(f"/groups/{group['id']}"), 401, "unauthenticated")
    bob = await plain_user(client, "bob")
    response = await client.delete(f"/groups/{group['id']}", headers=bob.headers)
    assert_problem(response, 403, "forbidden")
    assert (await client.get(f"/groups/{group['id']}")).status_code == 200


# -- tenant isolation ---------------------------------------------------------------------


async def test_groups_of_another_tenant_are_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    other = await other_tenant(app)
    foreign = str(other.finance.id)
    mine = await create_group(client, "finance")  # the same name is free in this tenant
    assert mine["id"] != foreign

    for response in [
        await client.get(f"/groups/{foreign}"),
        await client.patch(f"/groups/{foreign}", json={"description": "pwned"}),
        await client.patch(f"/groups/{foreign}", json={"name": "pwned"}),
        await client.delete(f"/groups/{foreign}"),
        await client.delete(f"/groups/{other.admins.id}"),
        await client.get(f"/groups/{foreign}/members"),
        await client.get(f"/groups/{foreign}/members", params={"transitive": "true"}),
        await client.put(f"/groups/{foreign}/members/user/{await me_id(client)}"),
        await client.delete(f"/groups/{foreign}/members/user/{other.user_id}"),
        await client.put(f"/groups/{foreign}/members", json={"members": []}),
    ]:
        body = assert_problem(response, 404, "group_not_found")
        assert "Globex" not in response.text
        assert "gadmin" not in response.text
        assert set(body) >= {"type", "title", "status", "detail", "instance", "code"}

    assert await names(client) == ["admins", "finance"]
    assert [
        g["id"] for g in (await client.get("/groups", params={"q": "globex"})).json()["items"]
    ] == []

    container = container_of(app)
    async with container.uow(readonly=True) as uow:
        still = await uow.groups.get(other.tenant.id, other.finance.id)
        members = await uow.groups.direct_members(other.tenant.id, other.finance.id)
    assert still == other.finance
    assert [m.member_id for m in members] == [other.user_id]


async def test_each_tenant_sees_only_its_own_groups(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    other = await other_tenant(app, slug="globex")
    for i in range(3):
        await create_group(client, f"team-{i}")
    login = await client.post(
        "/auth/login", json={"username": "gadmin", "password": PASSWORD, "tenant": "globex"}
    )
    assert login.status_code == 200, login.text
    theirs = {"Authorization": f"Bearer {login.json()['access_token']}"}

    listed = await client.get("/groups", headers=theirs)
    assert listed.status_code == 200, listed.text
    expected = {str(other.admins.id), str(other.finance.id)}
    assert {g["id"] for g in listed.json()["items"]} == expected
    assert {g["tenant_id"] for g in listed.json()["items"]} == {str(other.tenant.id)}
    mine = await create_group(client, "mine")
    assert_problem(
        await client.get(f"/groups/{mine['id']}", headers=theirs), 404, "group_not_found"
    )
    # A cursor from one tenant's listing means nothing in another's.
    cursor = (await client.get("/groups", params={"limit": 1})).json()["next_cursor"]
    response = await client.get("/groups", params={"limit": 1, "cursor": cursor}, headers=theirs)
    assert_problem(response, 400, "invalid_cursor")
    # Their administrator's groups are theirs.
    me = (await client.get("/me", headers=theirs)).json()
    assert [g["name"] for g in me["groups"]] == ["admins", "finance"]


async def test_a_foreign_group_cannot_join_or_be_joined(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    other = await other_tenant(app)
    mine = await create_group(client, "finance")
    response = await client.put(f"/groups/{mine['id']}/members/group/{other.finance.id}")
    assert_problem(response, 404, "group_not_found")
    response = await client.put(f"/groups/{mine['id']}/members/user/{other.user_id}")
    assert_problem(response, 404, "user_not_found")
    response = await client.put(
        f"/groups/{mine['id']}/members",
        json={"members": [{"type": "user", "id": str(other.user_id)}]},
    )
    assert_problem(response, 404, "user_not_found")
    response = await client.put(
        f"/groups/{mine['id']}/members",
        json={"members": [{"type": "group", "id": str(other.finance.id)}]},
    )
    assert_problem(response, 404, "group_not_found")
    assert (await client.get(f"/groups/{mine['id']}/members")).json()["items"] == []


# -- audit --------------------------------------------------------------------------------


async def test_create_change_and_delete_are_audited(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = f"user:{await me_id(client)}"
    created = await client.post(
        "/groups", json={"name": "finance", "description": "d1", "external_id": "okta:1"}
    )
    group_id = created.json()["id"]
    (event,) = await audit_events(app, "group.created")
    assert event.target == f"group:{group_id}"
    assert event.actor == admin
    assert event.outcome == "success"
    assert event.request_id == created.headers["x-request-id"]
    assert event.details == {"name": "finance", "description": "d1", "external_id": "okta:1"}

    patched = await client.patch(
        f"/groups/{group_id}", json={"name": "Finance", "external_id": None}
    )
    (change,) = await audit_events(app, "group.changed")
    assert change.target == f"group:{group_id}"
    assert change.actor == admin
    assert change.request_id == patched.headers["x-request-id"]
    assert change.details == {
        "before": {"name": "finance", "description": "d1", "external_id": "okta:1"},
        "after": {"name": "Finance", "description": "d1", "external_id": None},
    }

    deleted = await client.delete(f"/groups/{group_id}")
    (gone,) = await audit_events(app, "group.deleted")
    assert gone.target == f"group:{group_id}"
    assert gone.actor == admin
    assert gone.request_id == deleted.headers["x-request-id"]
    assert gone.details["name"] == "Finance"


async def test_a_replayed_create_is_audited_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "audit-once"}
    first = await client.post("/groups", json={"name": "finance"}, headers=key)
    again = await client.post("/groups", json={"name": "finance"}, headers=key)
    assert first.status_code == again.status_code == 201
    (event,) = await audit_events(app, "group.created")
    assert event.target == f"group:{first.json()['id']}"


async def test_refused_changes_are_not_audited_as_done(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    group = await create_group(client, "finance")
    assert (await client.post("/groups", json={"name": "FINANCE"})).status_code == 409
    admins = await admins_group(client)
    assert (await client.patch(f"/groups/{admins['id']}", json={"name": "x"})).status_code == 409
    assert (await client.delete(f"/groups/{admins['id']}")).status_code == 409
    stale = await client.patch(
        f"/groups/{group['id']}", json={"description": "x"}, headers={"If-Match": '"0"'}
    )
    assert stale.status_code == 412
    assert len(await audit_events(app, "group.created")) == 1
    assert await audit_events(app, "group.changed") == []
    assert await audit_events(app, "group.deleted") == []


# -- oversized bodies, an unreachable database, concurrent writers --------------------------


async def test_an_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    padding = b"x" * (2 * 1024 * 1024)
    response = await client.post(
        "/groups", content=b'{"name": "big", "description": "' + padding + b'"}', headers=JSON
    )
    assert_problem(response, 413, "payload_too_large")
    group = await create_group(client, "finance")
    response = await client.patch(
        f"/groups/{group['id']}", content=b'{"description": "' + padding + b'"}', headers=JSON
    )
    assert_problem(response, 413, "payload_too_large")
    assert await names(client) == ["admins", "finance"]


async def unreachable(*args: object, **kwargs: object) -> None:
    raise ConnectionRefusedError("connection refused")


@pytest.mark.parametrize(
    ("method", "path", "use_case", "body"),
    [
        ("POST", "/groups", "create", {"name": "finance"}),
        ("GET", "/groups", "list_page", None),
        ("GET", "/groups/{id}", "get", None),
        ("PATCH", "/groups/{id}", "update", {"description": "x"}),
        ("DELETE", "/groups/{id}", "delete", None),
        ("GET", "/groups/{id}/members", "members", None),
        ("PUT", "/groups/{id}/members/user/{me}", "add_member", None),
        ("DELETE", "/groups/{id}/members/user/{me}", "remove_member", None),
        ("PUT", "/groups/{id}/members", "reconcile", {"members": []}),
        ("GET", "/users/{me}/groups", "groups_of", None),
    ],
)
async def test_an_unreachable_database_is_503_and_the_service_recovers(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    path: str,
    use_case: str,
    body: dict[str, Any] | None,
) -> None:
    group = await create_group(client, "team")
    url = path.format(id=group["id"], me=await me_id(client))
    # The use case fails the way the database driver does when the server is gone.
    monkeypatch.setattr(container_of(app).groups, use_case, unreachable)
    response = await client.request(method, url, json=body)
    payload = assert_problem(response, 503, "service_unavailable")
    assert "refused" not in payload["detail"]
    monkeypatch.undo()
    assert (await client.get(f"/groups/{group['id']}")).status_code == 200


async def test_concurrent_creates_of_one_name_make_one_group(client: httpx.AsyncClient) -> None:
    spellings = ["finance", "Finance", "FINANCE", "fInance", "financE"]
    responses = await asyncio.gather(
        *(client.post("/groups", json={"name": name}) for name in spellings)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "group_name_taken")
    listed = await names(client)
    assert len(listed) == 2
    assert listed[0] == "admins"
    assert listed[1].lower() == "finance"
