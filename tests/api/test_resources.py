"""PUT, GET and DELETE /resources/{rid} and GET /resources: registration, parents, owners,
built-in resources, cycles, reserved types, malformed names, cascades, listing, ids with
``/`` and the audit trail (CONTRACT §1, §5)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.authz_support import (
    JsonDict,
    audit_events,
    container_of,
    entry,
    me,
    other_tenant,
    plain_user,
    put_acl,
    put_dacl,
    put_resource,
    root_of,
)
from tests.api.conftest import LINK_NEXT_RE, assert_problem, assert_validation_problem
from truapi.application.authz.changes import Actor
from truapi.application.authz.resources import PutResource
from truapi.domain.policy.resources import ResourceName

RESOURCE_FIELDS = {"id", "type", "parent", "owner", "created_at"}


def assert_timestamp(value: str) -> None:
    assert value.endswith("Z"), value
    datetime.fromisoformat(value.replace("Z", "+00:00"))


async def get_resource(client: httpx.AsyncClient, rid: str) -> JsonDict:
    response = await client.get(f"/resources/{rid}")
    assert response.status_code == 200, response.text
    body: JsonDict = response.json()
    return body


# -- PUT /resources/{rid} -------------------------------------------------------------------


async def test_put_registers_with_201_then_answers_200(client: httpx.AsyncClient) -> None:
    first = await client.put("/resources/doc:readme", json={})
    assert first.status_code == 201, first.text
    assert first.headers["content-type"].startswith("application/json")
    body = first.json()
    assert set(body) == RESOURCE_FIELDS
    assert body["id"] == "doc:readme"
    assert body["type"] == "doc"
    assert body["parent"] is None
    assert body["owner"] is None
    assert_timestamp(body["created_at"])

    again = await client.put("/resources/doc:readme", json={})
    assert again.status_code == 200, again.text
    assert again.json() == body
    assert await get_resource(client, "doc:readme") == body


async def test_put_sets_parent_and_owner(client: httpx.AsyncClient) -> None:
    admin = await me(client)
    owner = f"user:{admin['id']}"
    await put_resource(client, "folder:finance")
    response = await client.put(
        "/resources/doc:q3-report", json={"parent": "folder:finance", "owner": owner}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["parent"] == "folder:finance"
    assert body["owner"] == owner
    assert await get_resource(client, "doc:q3-report") == body


async def test_left_out_fields_keep_their_value_and_null_clears(
    client: httpx.AsyncClient,
) -> None:
    admin = await me(client)
    owner = f"user:{admin['id']}"
    await put_resource(client, "folder:a")
    await put_resource(client, "folder:b")
    created = await put_resource(client, "doc:x", parent="folder:a", owner=owner)

    # Only the owner changes: the parent stays.
    response = await client.put("/resources/doc:x", json={"owner": None})
    assert response.status_code == 200, response.text
    assert response.json() == {**created, "owner": None}

    # Only the parent changes: the (cleared) owner stays cleared.
    response = await client.put("/resources/doc:x", json={"parent": "folder:b"})
    assert response.status_code == 200, response.text
    assert response.json() == {**created, "owner": None, "parent": "folder:b"}

    response = await client.put("/resources/doc:x", json={"owner": owner})
    assert response.json() == {**created, "parent": "folder:b"}

    # An empty body changes nothing.
    response = await client.put("/resources/doc:x", json={})
    assert response.status_code == 200
    assert response.json() == {**created, "parent": "folder:b"}

    # null moves it to the top, under the tenant root.
    response = await client.put("/resources/doc:x", json={"parent": None})
    assert response.status_code == 200
    assert response.json() == {**created, "parent": None}
    assert response.json()["created_at"] == created["created_at"]


async def test_the_tenant_root_as_parent_is_reported_as_null(client: httpx.AsyncClient) -> None:
    root = await root_of(client)
    body = await put_resource(client, "doc:top", parent=root)
    assert body["parent"] is None


async def test_owner_may_be_a_group_and_is_put_in_canonical_form(
    client: httpx.AsyncClient,
) -> None:
    group = await client.post("/groups", json={"name": "finance"})
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    body = await put_resource(client, "doc:x", owner=f"group:{group_id.upper()}")
    assert body["owner"] == f"group:{group_id}"


@pytest.mark.parametrize(
    "owner", ["owner", "authenticated", "bob", "user:not-a-uuid", "user:", "", "tenant:x"]
)
async def test_bad_owner_is_422(client: httpx.AsyncClient, owner: str) -> None:
    response = await client.put("/resources/doc:x", json={"owner": owner})
    assert_validation_problem(response)
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"parent": None, "color": "red"},
        {"id": "doc:other"},
        {"created_at": "2020-01-01T00:00:00Z"},
        {"type": "folder"},
        {"parent": 5},
        {"owner": ["user:x"]},
    ],
)
async def test_unknown_or_mistyped_fields_are_422(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.put("/resources/doc:x", json=body)
    assert_validation_problem(response)
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")


async def test_put_needs_a_json_body(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/resources/doc:x", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_request")
    response = await client.put(
        "/resources/doc:x", content=b"parent=x", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'"doc:x"', b"5", b"{}{}", b"\xff\xfe"])
async def test_odd_bodies_are_4xx(client: httpx.AsyncClient, raw: bytes) -> None:
    for path in ("/resources/doc:x", "/acls/doc:x", "/dacls/doc:x"):
        response = await client.put(path, content=raw, headers={"content-type": "application/json"})
        assert response.status_code in (400, 422), (path, raw, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")


async def test_unsupported_methods_are_405(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("POST", "/resources/doc:x"),
        ("PATCH", "/resources/doc:x"),
        ("POST", "/acls/doc:x"),
        ("PATCH", "/dacls/doc:x"),
        ("GET", "/authz/check"),
        ("DELETE", "/authz/endpoints"),
    ]:
        response = await client.request(method, path)
        assert_problem(response, 405, "method_not_allowed")


# -- GET /resources/{rid} -------------------------------------------------------------------


async def test_get_builtin_user_resource_of_an_existing_user(client: httpx.AsyncClient) -> None:
    admin = await me(client)
    body = await get_resource(client, f"user:{admin['id']}")
    assert set(body) == RESOURCE_FIELDS
    assert body["id"] == f"user:{admin['id']}"
    assert body["type"] == "user"
    assert body["parent"] is None
    # A user owns their own user: resource.
    assert body["owner"] == f"user:{admin['id']}"
    assert body["created_at"] == admin["created_at"]
    # The id is a UUID: another spelling names the same resource.
    upper = await get_resource(client, f"user:{admin['id'].upper()}")
    assert upper == body


async def test_get_builtin_tenant_root_and_group(client: httpx.AsyncClient) -> None:
    root = await root_of(client)
    body = await get_resource(client, root)
    assert body["id"] == root
    assert body["type"] == "tenant"
    assert body["parent"] is None
    admins = next(g for g in (await me(client))["groups"] if g["name"] == "admins")
    group = await get_resource(client, f"group:{admins['id']}")
    assert group["type"] == "group"
    assert group["parent"] is None


async def test_get_unknown_resources_is_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    for rid in [
        "doc:nope",
        f"user:{uuid.uuid4()}",
        f"group:{uuid.uuid4()}",
        f"tenant:{uuid.uuid4()}",
        f"api_key:{uuid.uuid4()}",
    ]:
        assert_problem(await client.get(f"/resources/{rid}"), 404, "resource_not_found")
    other = await other_tenant(app)
    assert_problem(await client.get(f"/resources/{other.root}"), 404, "resource_not_found")
    assert_problem(await client.get(f"/resources/user:{other.user_id}"), 404, "resource_not_found")
    assert_problem(
        await client.get(f"/resources/group:{other.admins.id}"), 404, "resource_not_found"
    )


async def test_resources_of_another_tenant_are_invisible(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A resource registered in another tenant is not found here, and the same name here
    is a different resource."""
    other = await other_tenant(app)
    container = container_of(app)
    await container.resources.put(
        Actor(other.tenant.id, f"user:{other.user_id}"),
        PutResource(name=ResourceName.parse("doc:shared-name")),
    )
    assert_problem(await client.get("/resources/doc:shared-name"), 404, "resource_not_found")
    assert_problem(await client.get("/acls/doc:shared-name"), 404, "resource_not_found")
    response = await client.put("/resources/doc:shared-name", json={})
    assert response.status_code == 201, response.text


# -- parents: missing, foreign, cycles ------------------------------------------------------


async def test_missing_parent_is_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.put("/resources/doc:x", json={"parent": "folder:missing"})
    assert_problem(response, 404, "resource_not_found")
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")

    other = await other_tenant(app)
    response = await client.put("/resources/doc:x", json={"parent": other.root})
    assert_problem(response, 404, "resource_not_found")
    response = await client.put("/resources/doc:x", json={"parent": f"user:{uuid.uuid4()}"})
    assert_problem(response, 404, "resource_not_found")
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")

    # An existing resource keeps its parent when the new one is missing.
    await put_resource(client, "folder:a")
    await put_resource(client, "doc:y", parent="folder:a")
    response = await client.put("/resources/doc:y", json={"parent": "folder:gone"})
    assert_problem(response, 404, "resource_not_found")
    assert (await get_resource(client, "doc:y"))["parent"] == "folder:a"


@pytest.mark.parametrize("parent", ["Folder:x", "folder", "folder: x", ""])
async def test_malformed_parent_is_422(client: httpx.AsyncClient, parent: str) -> None:
    response = await client.put("/resources/doc:x", json={"parent": parent})
    assert_validation_problem(response)


async def test_self_parent_is_a_cycle(client: httpx.AsyncClient) -> None:
    # Not even registered yet.
    response = await client.put("/resources/folder:a", json={"parent": "folder:a"})
    assert_problem(response, 409, "resource_cycle")
    await put_resource(client, "folder:a")
    response = await client.put("/resources/folder:a", json={"parent": "folder:a"})
    assert_problem(response, 409, "resource_cycle")
    assert (await get_resource(client, "folder:a"))["parent"] is None


async def test_two_and_three_step_cycles_are_409(client: httpx.AsyncClient) -> None:
    await put_resource(client, "folder:a")
    await put_resource(client, "folder:b", parent="folder:a")
    response = await client.put("/resources/folder:a", json={"parent": "folder:b"})
    assert_problem(response, 409, "resource_cycle")

    await put_resource(client, "folder:c", parent="folder:b")
    response = await client.put("/resources/folder:a", json={"parent": "folder:c"})
    assert_problem(response, 409, "resource_cycle")
    assert (await get_resource(client, "folder:a"))["parent"] is None
    assert (await get_resource(client, "folder:b"))["parent"] == "folder:a"
    # Moving a node to a sibling branch is fine.
    await put_resource(client, "folder:d")
    assert (await put_resource(client, "folder:b", parent="folder:d"))["parent"] == "folder:d"


async def test_a_too_deep_chain_is_refused(make_client: Any) -> None:
    client: httpx.AsyncClient = await make_client(authz_max_depth=4)
    await put_resource(client, "n:0")
    last = "n:0"
    status = 201
    depth = 0
    for depth in range(1, 10):
        response = await client.put(f"/resources/n:{depth}", json={"parent": last})
        status = response.status_code
        if status != 201:
            break
        last = f"n:{depth}"
    assert status == 409
    assert_problem(response, 409, "hierarchy_too_deep")
    assert depth < 9


# -- reserved types -------------------------------------------------------------------------


async def test_builtin_resources_cannot_be_put_or_deleted(client: httpx.AsyncClient) -> None:
    admin = await me(client)
    root = await root_of(client)
    admins = next(g for g in admin["groups"] if g["name"] == "admins")
    await put_resource(client, "folder:a")
    for rid in [
        f"user:{admin['id']}",
        f"user:{uuid.uuid4()}",
        root,
        f"group:{admins['id']}",
        f"api_key:{uuid.uuid4()}",
    ]:
        for body in ({}, {"parent": "folder:a"}, {"owner": None}):
            response = await client.put(f"/resources/{rid}", json=body)
            assert_problem(response, 422, "reserved_resource_type")
        assert_problem(await client.delete(f"/resources/{rid}"), 422, "reserved_resource_type")
    # Still where they were.
    assert (await get_resource(client, f"user:{admin['id']}"))["parent"] is None


async def test_a_builtin_resource_may_be_a_parent(client: httpx.AsyncClient) -> None:
    admin = await me(client)
    body = await put_resource(client, "doc:notes", parent=f"user:{admin['id']}")
    assert body["parent"] == f"user:{admin['id']}"


# -- malformed names ------------------------------------------------------------------------

MALFORMED = [
    "nocolon",
    "Doc:x",
    "1doc:x",
    "_doc:x",
    ":x",
    "doc:",
    "doc:has space",
    "doc:tab%09here",
    "doc:" + "x" * 201,
    "a" * 33 + ":x",
    "dóc:x",
    "user:not-a-uuid",
    "tenant:1",
    "doc:zero\u200bwidth",
]


@pytest.mark.parametrize("rid", MALFORMED)
async def test_malformed_names_are_422(client: httpx.AsyncClient, rid: str) -> None:
    for method in ("GET", "PUT", "DELETE"):
        kwargs: dict[str, Any] = {"json": {}} if method == "PUT" else {}
        response = await client.request(method, f"/resources/{rid}", **kwargs)
        assert response.status_code == 422, (method, rid, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["errors"]


async def test_ids_at_the_length_limits(client: httpx.AsyncClient) -> None:
    longest = "doc:" + "x" * 200
    body = await put_resource(client, longest)
    assert body["id"] == longest
    assert (await put_resource(client, "a" * 32 + ":x"))["type"] == "a" * 32
    assert (await put_resource(client, "d:1"))["id"] == "d:1"


@pytest.mark.parametrize(
    "rid",
    [
        "doc:reports/2024/q3",
        "doc:/leading",
        "doc:trailing/",
        "doc:a//b",
        "doc:héllo",
        "doc:日本語",
        "doc:🙂",
        "doc:a:b:c",
        "doc:semi;colon",
        "doc:50%",
    ],
)
async def test_odd_but_valid_ids_round_trip(client: httpx.AsyncClient, rid: str) -> None:
    response = await client.put(f"/resources/{rid}", json={})
    assert response.status_code == 201, response.text
    assert response.json()["id"] == rid
    got = await client.get(f"/resources/{rid}")
    assert got.status_code == 200, got.text
    assert got.json()["id"] == rid
    acl = await client.get(f"/acls/{rid}")
    assert acl.status_code == 200, acl.text
    assert acl.json()["resource"] == rid
    assert (await client.delete(f"/resources/{rid}")).status_code == 204
    assert_problem(await client.get(f"/resources/{rid}"), 404, "resource_not_found")


async def test_ids_containing_slashes(client: httpx.AsyncClient) -> None:
    await put_resource(client, "folder:reports/2024")
    body = await put_resource(client, "doc:reports/2024/q3", parent="folder:reports/2024")
    assert body["parent"] == "folder:reports/2024"
    page = await client.get("/resources", params={"parent": "folder:reports/2024"})
    assert [r["id"] for r in page.json()["items"]] == ["doc:reports/2024/q3"]
    # An encoded slash names the same resource.
    encoded = await client.get("/resources/doc:reports%2F2024%2Fq3")
    assert encoded.status_code == 200, encoded.text
    assert encoded.json()["id"] == "doc:reports/2024/q3"
    assert (await client.delete("/resources/folder:reports/2024?cascade=true")).status_code == 204
    assert_problem(await client.get("/resources/doc:reports/2024/q3"), 404, "resource_not_found")


ODD = [
    "",
    "x" * 10_000,
    "doc:" + "y" * 5_000,
    "doc:%2F",
    "%2F",
    "doc%3Ax",
    "doc:%00",
    "doc:%FF%FE",
    "doc:..",
    "../../etc/passwd",
    "doc:a\\b",
    ":",
    "::",
    "doc::",
    "𝔡𝔬𝔠:x",
    "doc:\u202eevil",
    "doc:x?cascade=true",
    "doc:#frag",
    "doc:new%0Aline",
    "doc:%0D%0A",
]


@pytest.mark.parametrize("rid", ODD)
async def test_odd_names_never_give_500(client: httpx.AsyncClient, rid: str) -> None:
    for prefix in ("/resources/", "/acls/", "/dacls/"):
        for method in ("GET", "PUT", "DELETE"):
            kwargs: dict[str, Any] = {}
            if method == "PUT":
                kwargs["json"] = (
                    {"applies_to": "*", "entries": []} if prefix == "/dacls/" else {"entries": []}
                )
            if method == "DELETE" and prefix == "/dacls/":
                kwargs["params"] = {"applies_to": "*"}
            response = await client.request(method, prefix + rid, **kwargs)
            assert response.status_code < 500, (method, prefix, rid, response.text)
            assert response.status_code in (200, 201, 204, 404, 405, 422), (
                method,
                prefix,
                rid,
                response.status_code,
            )
            if response.status_code >= 400:
                assert response.headers["content-type"].startswith("application/problem+json")


async def test_odd_check_and_listing_inputs_never_give_500(client: httpx.AsyncClient) -> None:
    for rid in ODD:
        for body in (
            {"action": "read", "resource": rid},
            {"action": rid, "resource": "doc:x"},
            {"action": "read", "resource": "doc:x", "principal": rid},
        ):
            response = await client.post("/authz/check", json=body)
            assert response.status_code in (200, 404, 422), (body, response.text)
        for params in ({"parent": rid}, {"type": rid}, {"cursor": rid}):
            response = await client.get("/resources", params=params)
            assert response.status_code in (200, 400, 404, 422), (params, response.text)


# -- DELETE /resources/{rid} ----------------------------------------------------------------


async def test_delete_answers_204_then_404(client: httpx.AsyncClient) -> None:
    await put_resource(client, "doc:x")
    response = await client.delete("/resources/doc:x")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")
    assert_problem(await client.delete("/resources/doc:x"), 404, "resource_not_found")
    assert_problem(await client.delete("/resources/doc:never"), 404, "resource_not_found")


async def test_delete_with_children_is_409_unless_cascade(client: httpx.AsyncClient) -> None:
    await put_resource(client, "folder:top")
    await put_resource(client, "folder:mid", parent="folder:top")
    await put_resource(client, "doc:leaf", parent="folder:mid")
    await put_resource(client, "doc:sibling")
    admin = await me(client)
    grant = [entry(f"user:{admin['id']}", "read")]
    for rid in ("folder:top", "folder:mid", "doc:leaf", "doc:sibling"):
        await put_acl(client, rid, grant)
        await put_dacl(client, rid, "doc", grant)

    assert_problem(await client.delete("/resources/folder:top"), 409, "resource_has_children")
    assert_problem(
        await client.delete("/resources/folder:top?cascade=false"), 409, "resource_has_children"
    )
    assert (await get_resource(client, "doc:leaf"))["parent"] == "folder:mid"

    response = await client.delete("/resources/folder:top", params={"cascade": "true"})
    assert response.status_code == 204, response.text
    for rid in ("folder:top", "folder:mid", "doc:leaf"):
        assert_problem(await client.get(f"/resources/{rid}"), 404, "resource_not_found")
        assert_problem(await client.get(f"/acls/{rid}"), 404, "resource_not_found")
        assert_problem(await client.get(f"/dacls/{rid}"), 404, "resource_not_found")
        # Registered again, they start with nothing: their ACLs went with them.
        await put_resource(client, rid)
        acl = (await client.get(f"/acls/{rid}")).json()
        assert acl["entries"] == []
        assert acl["inherit"] is True
        assert (await client.get(f"/dacls/{rid}")).json()["dacls"] == []
    # The sibling is untouched.
    assert (await client.get("/acls/doc:sibling")).json()["entries"] == grant
    assert len((await client.get("/dacls/doc:sibling")).json()["dacls"]) == 1


async def test_cascade_on_a_leaf_and_bad_cascade_value(client: httpx.AsyncClient) -> None:
    await put_resource(client, "doc:leaf")
    assert_validation_problem(await client.delete("/resources/doc:leaf?cascade=maybe"))
    assert (await client.delete("/resources/doc:leaf?cascade=true")).status_code == 204


async def test_deleting_a_resource_removes_its_acl(client: httpx.AsyncClient) -> None:
    admin = await me(client)
    await put_acl(client, "doc:x", [entry(f"user:{admin['id']}", "read")], inherit=False)
    assert (await client.delete("/resources/doc:x")).status_code == 204
    await put_resource(client, "doc:x")
    acl = (await client.get("/acls/doc:x")).json()
    assert acl["entries"] == []
    assert acl["inherit"] is True


# -- GET /resources -------------------------------------------------------------------------


async def list_ids(client: httpx.AsyncClient, **params: str | int) -> list[str]:
    response = await client.get("/resources", params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    for item in body["items"]:
        assert set(item) == RESOURCE_FIELDS
    return [item["id"] for item in body["items"]]


async def test_list_direct_children_with_filters(client: httpx.AsyncClient) -> None:
    root = await root_of(client)
    await put_resource(client, "folder:f")
    await put_resource(client, "doc:top")
    await put_resource(client, "doc:b", parent="folder:f")
    await put_resource(client, "doc:a", parent="folder:f")
    await put_resource(client, "img:c", parent="folder:f")
    await put_resource(client, "folder:g", parent="folder:f")
    await put_resource(client, "doc:deep", parent="folder:g")

    assert await list_ids(client) == ["doc:top", "folder:f"]
    assert await list_ids(client, parent=root) == ["doc:top", "folder:f"]
    assert await list_ids(client, type="doc") == ["doc:top"]
    assert await list_ids(client, parent="folder:f") == [
        "doc:a",
        "doc:b",
        "folder:g",
        "img:c",
    ]
    assert await list_ids(client, parent="folder:f", type="doc") == ["doc:a", "doc:b"]
    assert await list_ids(client, parent="folder:f", type="video") == []
    assert await list_ids(client, parent="folder:g") == ["doc:deep"]
    assert await list_ids(client, parent="doc:deep") == []


async def test_list_pages_with_cursor_and_link(client: httpx.AsyncClient) -> None:
    await put_resource(client, "folder:f")
    names = [f"doc:{i:02d}" for i in range(7)]
    for name in reversed(names):
        await put_resource(client, name, parent="folder:f")
    seen: list[str] = []
    response = await client.get("/resources", params={"parent": "folder:f", "limit": 3})
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert len(body["items"]) <= 3
        seen.extend(item["id"] for item in body["items"])
        if body["next_cursor"] is None:
            assert "link" not in response.headers
            break
        match = LINK_NEXT_RE.search(response.headers["link"])
        assert match is not None
        target = httpx.URL(match.group(1))
        assert target.params["cursor"] == body["next_cursor"]
        assert target.params["parent"] == "folder:f"
        # A resource added behind the cursor does not shift the pages.
        if pages == 1:
            await put_resource(client, "doc:000", parent="folder:f")
        response = await client.get(str(target))
    assert seen == names
    assert pages == 3


async def test_list_errors(client: httpx.AsyncClient) -> None:
    await put_resource(client, "folder:f")
    for rid in ("doc:a", "doc:b"):
        await put_resource(client, rid, parent="folder:f")
    first = await client.get("/resources", params={"parent": "folder:f", "limit": 1})
    cursor = first.json()["next_cursor"]
    assert cursor

    assert_problem(
        await client.get("/resources", params={"parent": "folder:missing"}),
        404,
        "resource_not_found",
    )
    assert_problem(
        await client.get("/resources", params={"cursor": "garbage"}), 400, "invalid_cursor"
    )
    # A cursor of one listing is foreign to another.
    assert_problem(await client.get("/resources", params={"cursor": cursor}), 400, "invalid_cursor")
    assert_problem(
        await client.get("/resources", params={"parent": "folder:f", "cursor": cursor + "x"}),
        400,
        "invalid_cursor",
    )
    for params in (
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"type": "Doc"},
        {"type": "a b"},
        {"parent": "nocolon"},
        {"parent": "doc:"},
    ):
        assert_validation_problem(await client.get("/resources", params=params))


# -- anonymous and plain callers ------------------------------------------------------------


async def test_anonymous_callers_get_401(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    await put_resource(client, "doc:x")
    for method, path in [
        ("GET", "/resources"),
        ("GET", "/resources/doc:x"),
        ("PUT", "/resources/doc:x"),
        ("DELETE", "/resources/doc:x"),
    ]:
        kwargs: dict[str, Any] = {"json": {}} if method == "PUT" else {}
        response = await anon_client.request(method, path, **kwargs)
        assert_problem(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_plain_users_cannot_manage_resources(client: httpx.AsyncClient) -> None:
    alice = await plain_user(client, "alice")
    await put_resource(client, "doc:x")
    h = alice.headers
    for response in [
        await client.get("/resources", headers=h),
        await client.get("/resources", params={"parent": "doc:x"}, headers=h),
        await client.get("/resources/doc:x", headers=h),
        await client.put("/resources/doc:x", json={"owner": alice.principal}, headers=h),
        await client.put("/resources/doc:new", json={}, headers=h),
        await client.delete("/resources/doc:x", headers=h),
        await client.get(f"/resources/{alice.principal}", headers=h),
    ]:
        assert_problem(response, 403, "forbidden")
    assert (await get_resource(client, "doc:x"))["owner"] is None
    assert_problem(await client.get("/resources/doc:new"), 404, "resource_not_found")


async def test_admin_on_a_resource_lets_a_plain_user_manage_it(
    client: httpx.AsyncClient,
) -> None:
    alice = await plain_user(client, "alice")
    h = alice.headers
    await put_resource(client, "folder:mine")
    await put_resource(client, "folder:theirs")
    await put_acl(client, "folder:mine", [entry(alice.principal, "admin")])

    response = await client.get("/resources/folder:mine", headers=h)
    assert response.status_code == 200, response.text
    # Inherited: the new child under their folder is theirs to manage too.
    response = await client.put("/resources/doc:a", json={"parent": "folder:mine"}, headers=h)
    assert_problem(response, 403, "forbidden")  # doc:a is not registered: under the root
    await put_resource(client, "doc:a", parent="folder:mine")
    response = await client.put("/resources/doc:a", json={"owner": alice.principal}, headers=h)
    assert response.status_code == 200, response.text
    listed = await client.get("/resources", params={"parent": "folder:mine"}, headers=h)
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["items"]] == ["doc:a"]
    assert (await client.delete("/resources/doc:a", headers=h)).status_code == 204

    assert_problem(await client.get("/resources/folder:theirs", headers=h), 403, "forbidden")
    assert_problem(await client.get("/resources", headers=h), 403, "forbidden")


async def test_moving_a_resource_needs_admin_on_its_new_parent(
    client: httpx.AsyncClient,
) -> None:
    alice = await plain_user(client, "alice")
    h = alice.headers
    await put_resource(client, "folder:mine")
    await put_resource(client, "folder:theirs")
    await put_resource(client, "doc:a", parent="folder:mine")
    await put_acl(client, "folder:mine", [entry(alice.principal, "admin")])

    response = await client.put("/resources/doc:a", json={"parent": "folder:theirs"}, headers=h)
    assert_problem(response, 403, "forbidden")
    assert (await client.get("/resources/doc:a")).json()["parent"] == "folder:mine"
    # Another place of their own is fine.
    await put_resource(client, "folder:also-mine")
    await put_acl(client, "folder:also-mine", [entry(alice.principal, "admin")])
    response = await client.put("/resources/doc:a", json={"parent": "folder:also-mine"}, headers=h)
    assert response.status_code == 200, response.text
    assert response.json()["parent"] == "folder:also-mine"


# -- audit ----------------------------------------------------------------------------------


async def test_resource_changes_are_audited_with_before_and_after(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    admin = await me(client)
    actor = f"user:{admin['id']}"
    await put_resource(client, "folder:f")
    await put_resource(client, "doc:x", parent="folder:f")
    await put_resource(client, "doc:x", owner=actor)
    await put_resource(client, "doc:x", owner=actor)  # no change: no event

    created = [e for e in await audit_events(app, "resource.created") if e.target == "doc:x"]
    assert len(created) == 1
    assert created[0].actor == actor
    assert created[0].details["before"] is None
    assert created[0].details["after"] == {"parent": "folder:f", "owner": None}

    changed = [e for e in await audit_events(app, "resource.changed") if e.target == "doc:x"]
    assert len(changed) == 1
    assert changed[0].actor == actor
    assert changed[0].details["before"] == {"parent": "folder:f", "owner": None}
    assert changed[0].details["after"] == {"parent": "folder:f", "owner": actor}

    assert (await client.delete("/resources/folder:f?cascade=true")).status_code == 204
    deleted = await audit_events(app, "resource.deleted")
    assert [e.target for e in deleted] == ["folder:f"]
    assert deleted[0].actor == actor
    assert deleted[0].details["cascade"] is True
    assert deleted[0].details["removed"] == 2


async def test_resource_deletion_audit_keeps_what_was_removed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    admin = await me(client)
    actor = f"user:{admin['id']}"
    await put_resource(client, "doc:x", owner=actor)
    await put_acl(client, "doc:x", [entry(actor, "read")])
    assert (await client.delete("/resources/doc:x")).status_code == 204
    (event,) = await audit_events(app, "resource.deleted")
    assert event.target == "doc:x"
    assert event.details["before"] == {"parent": None, "owner": actor}
    assert event.details["cascade"] is False
    assert event.details["removed"] == 1
    assert event.details["removed_ids"] == ["doc:x"]


# -- ETags and If-Match (CONTRACT §1) -------------------------------------------------------


async def test_resources_carry_an_etag_and_honour_if_match(client: httpx.AsyncClient) -> None:
    created = await client.put("/resources/doc:x", json={})
    assert created.status_code == 201
    etag = created.headers["etag"]
    assert etag.startswith(('"', 'W/"'))
    assert etag.endswith('"')
    got = await client.get("/resources/doc:x")
    assert got.headers["etag"] == etag
    # An unchanged resource keeps its ETag; a change gives a new one.
    same = await client.put("/resources/doc:x", json={}, headers={"If-Match": etag})
    assert same.status_code == 200, same.text
    assert same.headers["etag"] == etag
    await put_resource(client, "folder:f")
    moved = await client.put(
        "/resources/doc:x", json={"parent": "folder:f"}, headers={"If-Match": etag}
    )
    assert moved.status_code == 200, moved.text
    new_etag = moved.headers["etag"]
    assert new_etag != etag
    assert (await client.get("/resources/doc:x")).headers["etag"] == new_etag

    # The old ETag is stale now, for PUT and DELETE alike.
    stale = await client.put("/resources/doc:x", json={"parent": None}, headers={"If-Match": etag})
    assert_problem(stale, 412, "precondition_failed")
    assert_problem(
        await client.delete("/resources/doc:x", headers={"If-Match": etag}),
        412,
        "precondition_failed",
    )
    assert (await get_resource(client, "doc:x"))["parent"] == "folder:f"
    star = await client.put("/resources/doc:x", json={"owner": None}, headers={"If-Match": "*"})
    assert star.status_code == 200, star.text
    response = await client.delete("/resources/doc:x", headers={"If-Match": new_etag})
    assert response.status_code == 204, response.text
    # No resource matches an ETag: a conditional PUT does not create one.
    response = await client.put("/resources/doc:y", json={}, headers={"If-Match": new_etag})
    assert_problem(response, 412, "precondition_failed")
    assert_problem(await client.get("/resources/doc:y"), 404, "resource_not_found")


async def test_concurrent_opposite_moves_never_make_a_cycle(client: httpx.AsyncClient) -> None:
    for round_ in range(3):
        a, b = f"folder:a{round_}", f"folder:b{round_}"
        await put_resource(client, a)
        await put_resource(client, b)
        first, second = await asyncio.gather(
            client.put(f"/resources/{a}", json={"parent": b}),
            client.put(f"/resources/{b}", json={"parent": a}),
        )
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 409], (first.text, second.text)
        parents = [(await get_resource(client, r))["parent"] for r in (a, b)]
        assert parents.count(None) == 1
