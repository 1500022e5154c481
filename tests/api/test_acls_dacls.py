"""GET, PUT and DELETE /acls/{rid} and /dacls/{rid}: defaults, replacement, ETags and
If-Match, registration of unknown resources, validation of entries, built-in resources,
who may call them and the audit trail (CONTRACT §1, §5)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.authz_support import (
    admins_group_id,
    audit_events,
    deny,
    entry,
    me,
    other_tenant,
    plain_user,
    put_acl,
    put_dacl,
    put_resource,
    root_of,
)
from tests.api.conftest import assert_problem, assert_validation_problem

ACL_FIELDS = {"resource", "inherit", "entries", "etag"}


async def get_acl(client: httpx.AsyncClient, rid: str) -> httpx.Response:
    response = await client.get(f"/acls/{rid}")
    assert response.status_code == 200, response.text
    assert set(response.json()) == ACL_FIELDS
    assert response.headers["etag"] == response.json()["etag"]
    return response


async def dacls_of(client: httpx.AsyncClient, rid: str) -> dict[str, list[dict[str, Any]]]:
    response = await client.get(f"/dacls/{rid}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"resource", "dacls"}
    assert body["resource"] == rid
    result: dict[str, list[dict[str, Any]]] = {}
    for item in body["dacls"]:
        assert set(item) == {"applies_to", "entries"}
        assert item["applies_to"] not in result
        result[item["applies_to"]] = item["entries"]
    return result


# -- GET /acls/{rid} ------------------------------------------------------------------------


async def test_a_registered_resource_without_acl_has_the_default(
    client: httpx.AsyncClient,
) -> None:
    await put_resource(client, "doc:x")
    response = await get_acl(client, "doc:x")
    body = response.json()
    assert body["resource"] == "doc:x"
    assert body["inherit"] is True
    assert body["entries"] == []
    etag = response.headers["etag"]
    assert etag.startswith(('"', 'W/"'))
    assert etag.endswith('"')


async def test_get_acl_of_unknown_resource_is_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert_problem(await client.get("/acls/doc:nope"), 404, "resource_not_found")
    assert_problem(await client.get(f"/acls/user:{uuid.uuid4()}"), 404, "resource_not_found")
    other = await other_tenant(app)
    assert_problem(await client.get(f"/acls/{other.root}"), 404, "resource_not_found")
    assert_problem(await client.get(f"/acls/user:{other.user_id}"), 404, "resource_not_found")


async def test_tenant_root_acl_lets_admins_do_everything(client: httpx.AsyncClient) -> None:
    root = await root_of(client)
    body = (await get_acl(client, root)).json()
    assert body["resource"] == root
    assert body["inherit"] is True
    assert body["entries"] == [entry(f"group:{await admins_group_id(client)}", "*")]


# -- PUT /acls/{rid} ------------------------------------------------------------------------


async def test_put_registers_an_unknown_resource_under_the_root(
    client: httpx.AsyncClient,
) -> None:
    admin = await me(client)
    entries = [entry(f"user:{admin['id']}", "read", "write")]
    response = await client.put("/acls/doc:new", json={"entries": entries})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == ACL_FIELDS
    assert body["resource"] == "doc:new"
    assert body["inherit"] is True  # the default when left out
    assert body["entries"] == entries
    assert response.headers["etag"] == body["etag"]
    resource = await client.get("/resources/doc:new")
    assert resource.status_code == 200, resource.text
    assert resource.json()["parent"] is None
    assert resource.json()["owner"] is None
    assert (await get_acl(client, "doc:new")).json() == body


async def test_put_replaces_the_whole_list_in_order(client: httpx.AsyncClient) -> None:
    admin_id = (await me(client))["id"]
    group = await admins_group_id(client)
    first = [
        entry(f"user:{admin_id}", "read"),
        deny("authenticated", "write", "delete"),
        entry("owner", "*"),
        entry(f"group:{group}", "share"),
        entry(f"api_key:{uuid.uuid4()}", "read"),
    ]
    assert (await put_acl(client, "doc:x", first))["entries"] == first
    assert (await get_acl(client, "doc:x")).json()["entries"] == first

    second = [entry("authenticated", "read")]
    body = await put_acl(client, "doc:x", second, inherit=False)
    assert body["entries"] == second
    assert body["inherit"] is False
    got = (await get_acl(client, "doc:x")).json()
    assert got["entries"] == second
    assert got["inherit"] is False

    # inherit left out is true again; an empty list is allowed.
    response = await client.put("/acls/doc:x", json={"entries": []})
    assert response.status_code == 200, response.text
    assert response.json()["inherit"] is True
    assert response.json()["entries"] == []


async def test_entries_are_put_in_canonical_form(client: httpx.AsyncClient) -> None:
    user_id = (await me(client))["id"]
    response = await client.put(
        "/acls/doc:x",
        json={
            "entries": [
                {
                    "effect": "allow",
                    "principal": f"user:{user_id.upper()}",
                    "actions": ["read", "write", "read"],
                }
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["entries"] == [entry(f"user:{user_id}", "read", "write")]


async def test_put_on_builtin_resources(client: httpx.AsyncClient, app: FastAPI) -> None:
    admin_id = (await me(client))["id"]
    body = await put_acl(client, f"user:{admin_id}", [entry("authenticated", "read")])
    assert body["resource"] == f"user:{admin_id}"
    response = await client.put(
        f"/acls/user:{uuid.uuid4()}", json={"entries": [entry("authenticated", "read")]}
    )
    assert_problem(response, 404, "resource_not_found")
    other = await other_tenant(app)
    for rid in (other.root, f"user:{other.user_id}", f"group:{other.admins.id}"):
        response = await client.put(f"/acls/{rid}", json={"entries": []})
        assert_problem(response, 404, "resource_not_found")
    # The other tenant's root keeps its own ACL.
    async with app.state.container.uow(readonly=True) as uow:
        acl = await uow.acls.get(other.tenant.id, other.root)
    assert acl is not None
    assert len(acl.entries) == 1


async def test_etag_and_if_match(client: httpx.AsyncClient) -> None:
    await put_resource(client, "doc:x")
    initial = (await get_acl(client, "doc:x")).headers["etag"]
    one = [entry("authenticated", "read")]
    two = [entry("authenticated", "write")]

    response = await client.put("/acls/doc:x", json={"entries": one}, headers={"If-Match": initial})
    assert response.status_code == 200, response.text
    etag_one = response.headers["etag"]
    assert etag_one != initial
    assert (await get_acl(client, "doc:x")).headers["etag"] == etag_one

    stale = await client.put("/acls/doc:x", json={"entries": two}, headers={"If-Match": initial})
    assert_problem(stale, 412, "precondition_failed")
    assert (await get_acl(client, "doc:x")).json()["entries"] == one
    assert_problem(
        await client.put("/acls/doc:x", json={"entries": two}, headers={"If-Match": '"nope"'}),
        412,
        "precondition_failed",
    )

    response = await client.put("/acls/doc:x", json={"entries": two}, headers={"If-Match": "*"})
    assert response.status_code == 200, response.text
    etag_two = response.headers["etag"]
    assert etag_two not in (initial, etag_one)

    response = await client.put(
        "/acls/doc:x", json={"entries": one}, headers={"If-Match": f'"other", {etag_two}'}
    )
    assert response.status_code == 200, response.text
    etag_three = response.headers["etag"]

    # Without If-Match the last write wins.
    assert (await client.put("/acls/doc:x", json={"entries": two})).status_code == 200
    current = (await get_acl(client, "doc:x")).headers["etag"]
    assert current != etag_three

    assert_problem(
        await client.delete("/acls/doc:x", headers={"If-Match": etag_three}),
        412,
        "precondition_failed",
    )
    assert (await get_acl(client, "doc:x")).json()["entries"] == two
    response = await client.delete("/acls/doc:x", headers={"If-Match": current})
    assert response.status_code == 204, response.text


async def test_if_match_on_an_unknown_resource_is_412_and_registers_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put(
        "/acls/doc:x", json={"entries": []}, headers={"If-Match": '"12345"'}
    )
    assert_problem(response, 412, "precondition_failed")
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")


# -- DELETE /acls/{rid} ---------------------------------------------------------------------


async def test_delete_acl(client: httpx.AsyncClient) -> None:
    await put_acl(client, "doc:x", [entry("authenticated", "read")], inherit=False)
    response = await client.delete("/acls/doc:x")
    assert response.status_code == 204
    assert response.content == b""
    body = (await get_acl(client, "doc:x")).json()
    assert body["inherit"] is True
    assert body["entries"] == []
    # The resource stays registered, and deleting again is harmless.
    assert (await client.get("/resources/doc:x")).status_code == 200
    assert (await client.delete("/acls/doc:x")).status_code == 204
    assert_problem(await client.delete("/acls/doc:nope"), 404, "resource_not_found")
    assert_problem(await client.delete(f"/acls/user:{uuid.uuid4()}"), 404, "resource_not_found")


# -- ACL validation -------------------------------------------------------------------------

BAD_ENTRIES: list[Any] = [
    {"effect": "permit", "principal": "authenticated", "actions": ["read"]},
    {"effect": "ALLOW", "principal": "authenticated", "actions": ["read"]},
    {"effect": None, "principal": "authenticated", "actions": ["read"]},
    {"effect": "allow", "principal": "bob", "actions": ["read"]},
    {"effect": "allow", "principal": "user:not-a-uuid", "actions": ["read"]},
    {"effect": "allow", "principal": "user:", "actions": ["read"]},
    {"effect": "allow", "principal": "tenant:" + str(uuid.uuid4()), "actions": ["read"]},
    {"effect": "allow", "principal": "Authenticated", "actions": ["read"]},
    {"effect": "allow", "principal": "", "actions": ["read"]},
    {"effect": "allow", "principal": "x" * 101, "actions": ["read"]},
    {"effect": "allow", "principal": "authenticated", "actions": []},
    {"effect": "allow", "principal": "authenticated", "actions": ["Read"]},
    {"effect": "allow", "principal": "authenticated", "actions": ["read write"]},
    {"effect": "allow", "principal": "authenticated", "actions": [""]},
    {"effect": "allow", "principal": "authenticated", "actions": ["1read"]},
    {"effect": "allow", "principal": "authenticated", "actions": ["a" * 65]},
    {"effect": "allow", "principal": "authenticated", "actions": "read"},
    {"effect": "allow", "principal": "authenticated", "actions": [1]},
    {"effect": "allow", "principal": "authenticated", "actions": [f"a{i}" for i in range(65)]},
    {"effect": "allow", "principal": "authenticated"},
    {"principal": "authenticated", "actions": ["read"]},
    {"effect": "allow", "actions": ["read"]},
    {"effect": "allow", "principal": "authenticated", "actions": ["read"], "extra": 1},
    {"effect": "allow", "principal": "authenticated", "actions": ["read"], "priority": 5},
    "allow authenticated read",
    None,
]


@pytest.mark.parametrize("bad", BAD_ENTRIES)
async def test_bad_acl_entries_are_422(client: httpx.AsyncClient, bad: Any) -> None:
    await put_acl(client, "doc:x", [entry("authenticated", "read")])
    response = await client.put(
        "/acls/doc:x", json={"entries": [entry("authenticated", "write"), bad]}
    )
    assert_validation_problem(response)
    assert (await get_acl(client, "doc:x")).json()["entries"] == [entry("authenticated", "read")]
    # A bad body registers nothing either.
    response = await client.put("/acls/doc:unregistered", json={"entries": [bad]})
    assert_validation_problem(response)
    assert_problem(await client.get("/resources/doc:unregistered"), 404, "resource_not_found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"inherit": False},
        {"entries": None},
        {"entries": {}},
        {"entries": [], "owner": "x"},
        {"entries": [], "resource": "doc:y"},
        {"entries": [], "etag": '"1"'},
        {"entries": [], "inherit": "sometimes"},
        {"entries": [entry("authenticated", "read")] * 501},
        [],
    ],
)
async def test_bad_acl_bodies_are_422(client: httpx.AsyncClient, body: Any) -> None:
    await put_resource(client, "doc:x")
    assert_validation_problem(await client.put("/acls/doc:x", json=body))
    assert (await get_acl(client, "doc:x")).json()["entries"] == []


async def test_acl_body_must_be_json(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/acls/doc:x", content=b'{"entries": [', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "malformed_request")
    response = await client.put(
        "/acls/doc:x", content=b"entries=", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")


# -- /dacls/{rid} ---------------------------------------------------------------------------


async def test_tenant_root_has_the_builtin_user_dacl(client: httpx.AsyncClient) -> None:
    root = await root_of(client)
    assert await dacls_of(client, root) == {"user": [entry("owner", "read", "write")]}


async def test_dacls_get_put_replace_and_delete(client: httpx.AsyncClient) -> None:
    await put_resource(client, "folder:f")
    assert await dacls_of(client, "folder:f") == {}

    docs = [entry("owner", "read", "write"), deny("authenticated", "delete")]
    response = await client.put("/dacls/folder:f", json={"applies_to": "doc", "entries": docs})
    assert response.status_code == 200, response.text
    assert response.json() == {"resource": "folder:f", "applies_to": "doc", "entries": docs}

    anything = [entry("authenticated", "read")]
    await put_dacl(client, "folder:f", "*", anything)
    assert await dacls_of(client, "folder:f") == {"doc": docs, "*": anything}

    # One DACL per applies_to: a second PUT replaces it.
    replaced = [entry("authenticated", "list")]
    await put_dacl(client, "folder:f", "doc", replaced)
    assert await dacls_of(client, "folder:f") == {"doc": replaced, "*": anything}
    await put_dacl(client, "folder:f", "doc", [])
    assert await dacls_of(client, "folder:f") in ({"doc": [], "*": anything}, {"*": anything})

    response = await client.delete("/dacls/folder:f", params={"applies_to": "doc"})
    assert response.status_code == 204
    assert response.content == b""
    assert await dacls_of(client, "folder:f") == {"*": anything}
    # Deleting one that is not there is harmless.
    assert (await client.delete("/dacls/folder:f?applies_to=img")).status_code == 204
    assert (await client.delete("/dacls/folder:f?applies_to=*")).status_code == 204
    assert await dacls_of(client, "folder:f") == {}
    # The ACL is separate and untouched.
    assert (await get_acl(client, "folder:f")).json()["entries"] == []


async def test_put_dacl_registers_an_unknown_resource(client: httpx.AsyncClient) -> None:
    await put_dacl(client, "folder:new", "doc", [entry("owner", "read")])
    resource = await client.get("/resources/folder:new")
    assert resource.status_code == 200, resource.text
    assert resource.json()["parent"] is None


async def test_dacls_on_unknown_resources_are_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    assert_problem(await client.get("/dacls/folder:nope"), 404, "resource_not_found")
    assert_problem(
        await client.delete("/dacls/folder:nope?applies_to=doc"), 404, "resource_not_found"
    )
    response = await client.put(
        f"/dacls/user:{uuid.uuid4()}", json={"applies_to": "doc", "entries": []}
    )
    assert_problem(response, 404, "resource_not_found")
    other = await other_tenant(app)
    assert_problem(await client.get(f"/dacls/{other.root}"), 404, "resource_not_found")
    response = await client.put(f"/dacls/{other.root}", json={"applies_to": "user", "entries": []})
    assert_problem(response, 404, "resource_not_found")
    assert_problem(
        await client.delete(f"/dacls/{other.root}?applies_to=user"), 404, "resource_not_found"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"entries": []},
        {"applies_to": "doc"},
        {"applies_to": "Doc", "entries": []},
        {"applies_to": "", "entries": []},
        {"applies_to": "a b", "entries": []},
        {"applies_to": "**", "entries": []},
        {"applies_to": "doc:x", "entries": []},
        {"applies_to": "a" * 33, "entries": []},
        {"applies_to": "doc", "entries": [], "resource": "folder:f"},
        {"applies_to": "doc", "entries": [{"effect": "permit", "principal": "owner"}]},
        {"applies_to": "doc", "entries": [entry("nobody", "read")]},
        {"applies_to": "doc", "entries": [entry("owner")]},
        {"applies_to": "doc", "entries": [{**entry("owner", "read"), "x": 1}]},
    ],
)
async def test_bad_dacl_bodies_are_422(client: httpx.AsyncClient, body: Any) -> None:
    await put_resource(client, "folder:f")
    assert_validation_problem(await client.put("/dacls/folder:f", json=body))
    assert await dacls_of(client, "folder:f") == {}


async def test_delete_dacl_needs_a_valid_applies_to(client: httpx.AsyncClient) -> None:
    await put_dacl(client, "folder:f", "doc", [entry("owner", "read")])
    for query in (
        "",
        "?applies_to=",
        "?applies_to=Doc",
        "?applies_to=a%20b",
        "?applies_to=" + "a" * 33,
    ):
        assert_validation_problem(await client.delete(f"/dacls/folder:f{query}"))
    assert await dacls_of(client, "folder:f") == {"doc": [entry("owner", "read")]}


# -- who may call them ----------------------------------------------------------------------


async def test_plain_users_get_403_on_acls_and_dacls(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    alice = await plain_user(client, "alice")
    h = alice.headers
    await put_acl(client, "doc:x", [entry(alice.principal, "read", "write")])
    own = f"/acls/{alice.principal}"
    requests: list[tuple[str, str, Any]] = [
        ("GET", "/acls/doc:x", None),
        ("PUT", "/acls/doc:x", {"entries": [entry(alice.principal, "*")]}),
        ("DELETE", "/acls/doc:x", None),
        ("GET", "/dacls/doc:x", None),
        ("PUT", "/dacls/doc:x", {"applies_to": "*", "entries": [entry(alice.principal, "*")]}),
        ("DELETE", "/dacls/doc:x?applies_to=*", None),
        # Reading and writing their own user resource is not administering it.
        ("GET", own, None),
        ("PUT", own, {"entries": [entry(alice.principal, "*")]}),
        ("GET", f"/dacls/{alice.principal}", None),
        ("PUT", "/acls/doc:unknown", {"entries": [entry(alice.principal, "*")]}),
    ]
    for method, path, body in requests:
        response = await client.request(method, path, json=body, headers=h)
        assert_problem(response, 403, "forbidden")
        anon = await anon_client.request(method, path, json=body)
        assert_problem(anon, 401, "unauthenticated")
    assert (await get_acl(client, "doc:x")).json()["entries"] == [
        entry(alice.principal, "read", "write")
    ]
    assert_problem(await client.get("/resources/doc:unknown"), 404, "resource_not_found")


async def test_admin_on_a_resource_lets_a_plain_user_manage_its_acls(
    client: httpx.AsyncClient,
) -> None:
    alice = await plain_user(client, "alice")
    h = alice.headers
    await put_acl(client, "doc:x", [entry(alice.principal, "admin")])
    await put_resource(client, "doc:y")

    response = await client.get("/acls/doc:x", headers=h)
    assert response.status_code == 200, response.text
    entries = [entry(alice.principal, "admin"), entry("authenticated", "read")]
    response = await client.put("/acls/doc:x", json={"entries": entries}, headers=h)
    assert response.status_code == 200, response.text
    response = await client.put(
        "/dacls/doc:x", json={"applies_to": "doc", "entries": entries}, headers=h
    )
    assert response.status_code == 200, response.text
    assert (await client.get("/dacls/doc:x", headers=h)).status_code == 200
    assert (await client.delete("/dacls/doc:x?applies_to=doc", headers=h)).status_code == 204

    assert_problem(await client.get("/acls/doc:y", headers=h), 403, "forbidden")
    assert_problem(await client.get("/dacls/doc:y", headers=h), 403, "forbidden")

    # Giving away their own admin right locks them out at once.
    response = await client.put(
        "/acls/doc:x", json={"entries": [entry("authenticated", "read")]}, headers=h
    )
    assert response.status_code == 200, response.text
    assert_problem(await client.get("/acls/doc:x", headers=h), 403, "forbidden")


# -- audit ----------------------------------------------------------------------------------


async def test_acl_changes_are_audited_with_before_and_after(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    actor = f"user:{(await me(client))['id']}"
    one = [entry("authenticated", "read")]
    two = [deny("authenticated", "write")]
    await put_acl(client, "doc:x", one)
    await put_acl(client, "doc:x", two, inherit=False)
    assert (await client.delete("/acls/doc:x")).status_code == 204

    changed = [e for e in await audit_events(app, "acl.changed") if e.target == "doc:x"]
    assert len(changed) == 2
    assert all(e.actor == actor for e in changed)
    assert changed[0].details["before"] == {"inherit": True, "entries": []}
    assert changed[0].details["after"] == {"inherit": True, "entries": one}
    assert changed[1].details["before"] == {"inherit": True, "entries": one}
    assert changed[1].details["after"] == {"inherit": False, "entries": two}

    deleted = await audit_events(app, "acl.deleted")
    assert [e.target for e in deleted] == ["doc:x"]
    assert deleted[0].actor == actor
    assert deleted[0].details["before"] == {"inherit": False, "entries": two}
    # The PUT registered doc:x: that is audited too.
    assert [e.target for e in await audit_events(app, "resource.created")] in (["doc:x"], [])


async def test_refused_changes_write_no_audit_event(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await put_acl(client, "doc:x", [entry("authenticated", "read")])
    etag = '"999999"'
    response = await client.put("/acls/doc:x", json={"entries": []}, headers={"If-Match": etag})
    assert_problem(response, 412, "precondition_failed")
    assert len(await audit_events(app, "acl.changed")) == 1


async def test_dacl_changes_are_audited_with_before_and_after(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    actor = f"user:{(await me(client))['id']}"
    one = [entry("owner", "read")]
    two = [entry("owner", "read", "write")]
    await put_dacl(client, "folder:f", "doc", one)
    await put_dacl(client, "folder:f", "doc", two)
    assert (await client.delete("/dacls/folder:f?applies_to=doc")).status_code == 204
    assert (await client.delete("/dacls/folder:f?applies_to=doc")).status_code == 204

    changed = await audit_events(app, "dacl.changed")
    assert [e.target for e in changed] == ["folder:f", "folder:f"]
    assert all(e.actor == actor for e in changed)
    assert changed[0].details == {"applies_to": "doc", "before": None, "after": one}
    assert changed[1].details == {"applies_to": "doc", "before": one, "after": two}

    deleted = await audit_events(app, "dacl.deleted")
    assert len(deleted) == 1  # the second delete changed nothing
    assert deleted[0].target == "folder:f"
    assert deleted[0].actor == actor
    assert deleted[0].details["applies_to"] == "doc"
    assert deleted[0].details["before"] == two


async def test_missing_user_resource_is_resource_not_found_for_everyone(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice = await plain_user(client, "alice")
    other = await other_tenant(app)
    for missing in (f"user:{uuid.uuid4()}", f"user:{other.user_id}"):
        for path in (f"/acls/{missing}", f"/dacls/{missing}", f"/resources/{missing}"):
            assert_problem(await client.get(path), 404, "resource_not_found")
            response = await client.get(path, headers=alice.headers)
            assert_problem(response, 404, "resource_not_found")


async def test_an_oversized_acl_body_is_413(client: httpx.AsyncClient) -> None:
    big = {"entries": [entry("authenticated", *[f"a{i}" for i in range(60)])] * 4000}
    assert len(json.dumps(big)) > 1024 * 1024
    response = await client.put("/acls/doc:x", json=big)
    assert_problem(response, 413, "payload_too_large")
    assert_problem(await client.get("/resources/doc:x"), 404, "resource_not_found")


async def test_deleting_a_user_removes_their_resource_and_acl(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    bob = await plain_user(client, "bob")
    await put_acl(client, bob.principal, [entry("authenticated", "read")])
    await put_dacl(client, bob.principal, "doc", [entry("owner", "read")])
    assert (await client.delete(f"/users/{bob.id}")).status_code == 204
    assert_problem(await client.get(f"/acls/{bob.principal}"), 404, "resource_not_found")
    assert_problem(await client.get(f"/dacls/{bob.principal}"), 404, "resource_not_found")
    assert_problem(await client.get(f"/resources/{bob.principal}"), 404, "resource_not_found")
    container = app.state.container
    async with container.uow(readonly=True) as uow:
        assert await uow.acls.get(container.default_tenant_id, bob.principal) is None
