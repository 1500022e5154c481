"""Every route declares its requirement; GET /authz/endpoints lists them; the users API is
protected by them (own record, other users, other tenants); APP_AUTHZ_MODE=audit and the
per-endpoint overrides of APP_AUTHZ_ENDPOINT_OVERRIDES (CONTRACT §3, §5)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.api.authz_support import (
    entry,
    me,
    other_tenant,
    plain_user,
    put_acl,
    put_resource,
)
from tests.api.conftest import MakeClient, StartApp, assert_problem, client_for
from tests.conftest import authenticate
from truapi.api.app import create_app
from truapi.api.guards import Access, Endpoint, endpoints, public
from truapi.config import Settings

_SAMPLE_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? (?P<v>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def flattened(app: FastAPI) -> FastAPI:
    """An app holding, in its own route list, every route ``app`` serves (FastAPI keeps
    included routers as lazy entries of ``app.routes``; this opens them as FastAPI's
    OpenAPI generator does). The routes are the very objects that serve requests."""
    return FastAPI(
        routes=[context.original_route for context in iter_route_contexts(app.routes)],
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )


def every_route(app: FastAPI) -> list[Endpoint]:
    return endpoints(flattened(app))


def openapi_operations(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    for line in text.splitlines():
        match = _SAMPLE_LINE.match(line)
        if match is None or match["name"] != name:
            continue
        found = dict(_LABEL.findall(match["labels"] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match["v"])
    return 0.0


async def denials(client: httpx.AsyncClient, endpoint: str, mode: str) -> float:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return metric(
        response.text, "truapi_authz_endpoint_denials_total", endpoint=endpoint, mode=mode
    )


# -- every route declares its requirement ---------------------------------------------------


def test_every_route_declares_a_requirement(settings: Settings) -> None:
    app = create_app(settings)
    undeclared = [
        f"{e.method} {e.path}"
        for e in [*endpoints(app), *every_route(app)]
        if e.requirement is None
    ]
    assert undeclared == [], f"routes without a declared requirement: {undeclared}"
    listed = {(e.method, e.path) for e in every_route(app)}
    # Nothing escapes the walk: every operation of the API is in it.
    assert openapi_operations(app) <= listed
    for known in [
        ("GET", "/users/{user_id}"),
        ("PUT", "/acls/{rid}"),
        ("POST", "/authz/check"),
        ("GET", "/me"),
        ("POST", "/auth/login"),
        ("GET", "/health/live"),
    ]:
        assert known in listed


def test_a_route_without_a_requirement_is_caught(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/undeclared")
    async def undeclared() -> dict[str, str]:
        return {}

    @app.get("/declared-public")
    @public
    async def declared() -> dict[str, str]:
        return {}

    found = {f"{e.method} {e.path}": e.requirement for e in every_route(app)}
    assert found["GET /undeclared"] is None
    requirement = found["GET /declared-public"]
    assert requirement is not None
    assert requirement.access is Access.PUBLIC


def test_requirements_of_well_known_routes(settings: Settings) -> None:
    found = {f"{e.method} {e.path}": e.requirement for e in every_route(create_app(settings))}

    def needs(key: str) -> tuple[str, str | None, str | None]:
        requirement = found[key]
        assert requirement is not None, key
        return requirement.access.value, requirement.action, requirement.resource

    assert needs("GET /health/live") == ("public", None, None)
    assert needs("POST /auth/login") == ("public", None, None)
    assert needs("GET /me") == ("authenticated", None, None)
    assert needs("POST /auth/logout") == ("authenticated", None, None)
    assert needs("POST /authz/check") == ("authenticated", None, None)
    assert needs("GET /users/{user_id}") == ("permission", "read", "user:{user_id}")
    assert needs("PATCH /users/{user_id}") == ("permission", "write", "user:{user_id}")
    assert needs("DELETE /users/{user_id}") == ("permission", "delete", "user:{user_id}")
    assert needs("GET /users") == ("permission", "read", "tenant:{tenant_id}")
    assert needs("POST /users") == ("permission", "write", "tenant:{tenant_id}")
    assert needs("GET /authz/endpoints")[0] == "permission"
    for key in ("GET /resources/{rid}", "PUT /acls/{rid}", "DELETE /dacls/{rid}"):
        assert needs(key) == ("permission", "admin", "{rid}")


def test_the_registry_itself_sees_every_route(settings: Settings) -> None:
    app = create_app(settings)
    seen = {(e.method, e.path) for e in endpoints(app)}
    assert seen == {(e.method, e.path) for e in every_route(app)}


# -- GET /authz/endpoints -------------------------------------------------------------------


def check_items(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_key: dict[str, dict[str, Any]] = {}
    for item in items:
        assert item["access"] in ("public", "authenticated", "permission"), item
        assert isinstance(item["method"], str)
        assert item["path"].startswith("/"), item
        assert ":path}" not in item["path"], item
        if item["access"] == "permission":
            assert isinstance(item["action"], str), item
            assert item["action"], item
            assert isinstance(item["resource"], str), item
            assert item["resource"], item
        else:
            assert item.get("action") is None, item
            assert item.get("resource") is None, item
        key = f"{item['method']} {item['path']}"
        assert key not in by_key, f"{key} is listed twice"
        by_key[key] = item
    return by_key


async def test_endpoints_listing_shape_and_access(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    response = await client.get("/authz/endpoints")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items"}
    assert body["items"]
    check_items(body["items"])

    alice = await plain_user(client, "alice")
    assert_problem(await client.get("/authz/endpoints", headers=alice.headers), 403, "forbidden")
    assert_problem(await anon_client.get("/authz/endpoints"), 401, "unauthenticated")


async def test_endpoints_listing_names_every_route(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.get("/authz/endpoints")
    assert response.status_code == 200, response.text
    by_key = check_items(response.json()["items"])
    expected = {f"{e.method} {e.path}" for e in every_route(app)}
    assert set(by_key) == expected
    assert {f"{m} {p}" for m, p in openapi_operations(app)} <= set(by_key)
    assert by_key["GET /me"]["access"] == "authenticated"
    assert by_key["POST /auth/logout"]["access"] == "authenticated"
    assert by_key["POST /auth/login"]["access"] == "public"
    user = by_key["GET /users/{user_id}"]
    assert (user["access"], user["action"], user["resource"]) == (
        "permission",
        "read",
        "user:{user_id}",
    )
    listing = by_key["GET /users"]
    assert (listing["action"], listing["resource"]) == ("read", "tenant:{tenant_id}")
    acl = by_key["PUT /acls/{rid}"]
    assert (acl["access"], acl["action"]) == ("permission", "admin")


async def test_endpoints_listing_shows_overridden_actions(make_client: MakeClient) -> None:
    client = await make_client(
        authz_endpoint_overrides=json.dumps({"GET /users/{user_id}": {"action": "peek"}})
    )
    response = await client.get("/authz/endpoints")
    by_key = check_items(response.json()["items"])
    assert by_key["GET /users/{user_id}"]["action"] == "peek"
    assert by_key["PATCH /users/{user_id}"]["action"] == "write"


# -- the users API --------------------------------------------------------------------------


async def test_a_plain_user_reads_and_changes_only_themselves(client: httpx.AsyncClient) -> None:
    alice = await plain_user(client, "alice")
    bob = await plain_user(client, "bob")
    h = alice.headers

    response = await client.get(f"/users/{alice.id}", headers=h)
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "alice"
    response = await client.patch(
        f"/users/{alice.id}", json={"display_name": "Alice A."}, headers=h
    )
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "Alice A."
    # Their status is the administrators' to change.
    response = await client.patch(f"/users/{alice.id}", json={"status": "disabled"}, headers=h)
    assert_problem(response, 403, "forbidden")
    response = await client.patch(f"/users/{alice.id}", json={"status": "active"}, headers=h)
    assert_problem(response, 403, "forbidden")
    assert_problem(await client.delete(f"/users/{alice.id}", headers=h), 403, "forbidden")

    for method, body in (("GET", None), ("PATCH", {"display_name": "B"}), ("DELETE", None)):
        response = await client.request(method, f"/users/{bob.id}", json=body, headers=h)
        body_text = response.text
        assert_problem(response, 403, "forbidden")
        assert "bob@example.com" not in body_text
    assert_problem(await client.get("/users", headers=h), 403, "forbidden")
    response = await client.post(
        "/users", json={"username": "carol", "email": "carol@example.com"}, headers=h
    )
    assert_problem(response, 403, "forbidden")

    got = (await client.get(f"/users/{bob.id}")).json()
    assert got["display_name"] == "bob"
    assert got["status"] == "active"
    assert (await client.get(f"/users/{alice.id}")).json()["status"] == "active"


async def test_users_of_another_tenant_are_404_never_403(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice = await plain_user(client, "alice")
    other = await other_tenant(app)
    foreign = str(other.user_id)
    for headers in (alice.headers, None):
        for user_id in (foreign, str(uuid.uuid4())):
            for method, body in (
                ("GET", None),
                ("PATCH", {"display_name": "x"}),
                ("DELETE", None),
            ):
                response = await client.request(
                    method, f"/users/{user_id}", json=body, headers=headers
                )
                text = response.text
                problem = assert_problem(response, 404, "user_not_found")
                assert "gadmin" not in text
                assert "globex" not in text
                assert set(problem) <= {
                    "type",
                    "title",
                    "status",
                    "detail",
                    "instance",
                    "code",
                    "request_id",
                }
    # Nothing happened to them.
    async with app.state.container.uow(readonly=True) as uow:
        user = await uow.users.get(other.tenant.id, other.user_id)
    assert user is not None
    assert user.display_name == "gadmin"


async def test_granted_rights_open_another_user(client: httpx.AsyncClient) -> None:
    alice = await plain_user(client, "alice")
    bob = await plain_user(client, "bob")
    h = alice.headers
    assert_problem(await client.get(f"/users/{bob.id}", headers=h), 403, "forbidden")
    await put_acl(client, bob.principal, [entry(alice.principal, "read")])
    assert (await client.get(f"/users/{bob.id}", headers=h)).status_code == 200
    response = await client.patch(f"/users/{bob.id}", json={"display_name": "B"}, headers=h)
    assert_problem(response, 403, "forbidden")
    # Bob keeps his own rights: a user's own ACL inherits the built-in default.
    response = await client.get(f"/users/{bob.id}", headers=bob.headers)
    assert response.status_code == 200, response.text


# -- APP_AUTHZ_MODE -------------------------------------------------------------------------


async def test_enforce_mode_counts_denials(client: httpx.AsyncClient) -> None:
    alice = await plain_user(client, "alice")
    assert await denials(client, "GET /users", "enforce") == 0
    assert_problem(await client.get("/users", headers=alice.headers), 403, "forbidden")
    assert_problem(await client.get("/users", headers=alice.headers), 403, "forbidden")
    assert await denials(client, "GET /users", "enforce") == 2


async def test_audit_mode_lets_denied_requests_through_and_counts_them(
    make_client: MakeClient,
) -> None:
    client = await make_client(authz_mode="audit")
    alice = await plain_user(client, "alice")
    bob = await plain_user(client, "bob")
    h = alice.headers
    assert await denials(client, "GET /users", "audit") == 0

    response = await client.get("/users", headers=h)
    assert response.status_code == 200, response.text
    assert {u["username"] for u in response.json()["items"]} >= {"alice", "bob"}
    assert await denials(client, "GET /users", "audit") == 1

    response = await client.get(f"/users/{bob.id}", headers=h)
    assert response.status_code == 200, response.text
    response = await client.patch(f"/users/{bob.id}", json={"display_name": "B"}, headers=h)
    assert response.status_code == 200, response.text
    assert await denials(client, "GET /users/{user_id}", "audit") == 1
    assert await denials(client, "PATCH /users/{user_id}", "audit") == 1
    # Allowed requests are not counted.
    assert (await client.get(f"/users/{alice.id}", headers=h)).status_code == 200
    assert await denials(client, "GET /users/{user_id}", "audit") == 1

    await put_resource(client, "doc:x")
    response = await client.get("/acls/doc:x", headers=h)
    assert response.status_code == 200, response.text
    assert await denials(client, "GET /acls/{rid}", "audit") == 1
    assert await denials(client, "GET /users", "enforce") == 0


async def test_audit_mode_never_turns_401_into_success(start_app: StartApp) -> None:
    app = await start_app(authz_mode="audit")
    async with client_for(app) as anon:
        for path in ("/users", f"/users/{uuid.uuid4()}", "/acls/doc:x", "/authz/endpoints"):
            assert_problem(await anon.get(path), 401, "unauthenticated")
            response = await anon.get(path, headers={"Authorization": "Bearer not-a-token"})
            assert_problem(response, 401, "invalid_token")
        response = await anon.post("/authz/check", json={"action": "read", "resource": "doc:x"})
        assert_problem(response, 401, "unauthenticated")


async def test_audit_mode_does_not_change_check_answers(
    make_client: MakeClient, client: httpx.AsyncClient
) -> None:
    """Two instances on one database, one enforcing and one auditing, answer alike."""
    audit = await make_client(authz_mode="audit")
    alice = await plain_user(client, "alice")
    await put_acl(client, "doc:x", [entry(alice.principal, "read")])

    async def answers(c: httpx.AsyncClient) -> list[Any]:
        results = []
        for action, resource in (("read", "doc:x"), ("write", "doc:x"), ("read", "doc:y")):
            for principal in (None, alice.principal):
                payload: dict[str, Any] = {"action": action, "resource": resource}
                if principal is not None:
                    payload["principal"] = principal
                response = await c.post("/authz/check", json=payload)
                assert response.status_code == 200, response.text
                mine = await c.post("/authz/check", json=payload, headers=alice.headers)
                assert mine.status_code == 200, mine.text
                results.append((response.json(), mine.json()))
        return results

    enforced = await answers(client)
    audited = await answers(audit)
    assert audited == enforced
    # The administrator's own answers, then Alice's.
    assert [a["allowed"] for a, _ in audited] == [True, True, True, False, True, False]
    assert [m["allowed"] for _, m in audited] == [True, True, False, False, False, False]
    # Checking for someone else is still refused without 'check' on the root.
    bob = await plain_user(client, "bob")
    response = await audit.post(
        "/authz/check",
        json={"principal": bob.principal, "action": "read", "resource": "doc:x"},
        headers=alice.headers,
    )
    assert_problem(response, 403, "forbidden")


async def test_off_mode_checks_nothing_but_authentication(make_client: MakeClient) -> None:
    client = await make_client(authz_mode="off")
    alice = await plain_user(client, "alice")
    assert (await client.get("/users", headers=alice.headers)).status_code == 200
    assert await denials(client, "GET /users", "off") == 0
    assert_problem(
        await client.get("/users", headers={"Authorization": "Bearer x"}), 401, "invalid_token"
    )


# -- APP_AUTHZ_ENDPOINT_OVERRIDES -----------------------------------------------------------


async def test_mode_override_affects_only_that_endpoint(make_client: MakeClient) -> None:
    client = await make_client(
        authz_endpoint_overrides=json.dumps({"GET /users/{user_id}": {"mode": "audit"}})
    )
    alice = await plain_user(client, "alice")
    bob = await plain_user(client, "bob")
    h = alice.headers
    response = await client.get(f"/users/{bob.id}", headers=h)
    assert response.status_code == 200, response.text
    assert await denials(client, "GET /users/{user_id}", "audit") == 1

    response = await client.patch(f"/users/{bob.id}", json={"display_name": "B"}, headers=h)
    assert_problem(response, 403, "forbidden")
    assert_problem(await client.delete(f"/users/{bob.id}", headers=h), 403, "forbidden")
    assert_problem(await client.get("/users", headers=h), 403, "forbidden")
    assert_problem(await client.get(f"/users/{bob.id}/groups", headers=h), 403, "forbidden")
    assert await denials(client, "PATCH /users/{user_id}", "enforce") == 1
    assert await denials(client, "GET /users", "enforce") == 1


async def test_off_override_for_one_endpoint(make_client: MakeClient) -> None:
    client = await make_client(authz_endpoint_overrides=json.dumps({"GET /users": {"mode": "off"}}))
    alice = await plain_user(client, "alice")
    bob = await plain_user(client, "bob")
    assert (await client.get("/users", headers=alice.headers)).status_code == 200
    assert_problem(await client.get(f"/users/{bob.id}", headers=alice.headers), 403, "forbidden")


async def test_action_override_changes_the_checked_action(make_client: MakeClient) -> None:
    client = await make_client(
        authz_endpoint_overrides=json.dumps({"GET /users/{user_id}": {"action": "peek"}})
    )
    alice = await plain_user(client, "alice")
    bob = await plain_user(client, "bob")
    h = alice.headers
    # The built-in default lets a user read and write their own record, not 'peek' at it.
    assert_problem(await client.get(f"/users/{alice.id}", headers=h), 403, "forbidden")
    response = await client.patch(f"/users/{alice.id}", json={"display_name": "Alice"}, headers=h)
    assert response.status_code == 200, response.text
    await put_acl(client, bob.principal, [entry(alice.principal, "peek")])
    assert (await client.get(f"/users/{bob.id}", headers=h)).status_code == 200
    # 'read' alone no longer opens it.
    await put_acl(client, bob.principal, [entry(alice.principal, "read")])
    assert_problem(await client.get(f"/users/{bob.id}", headers=h), 403, "forbidden")
    # Administrators hold '*' on the root, which names 'peek' too.
    admin_id = (await me(client))["id"]
    assert (await client.get(f"/users/{admin_id}")).status_code == 200


async def test_invalid_overrides_are_refused_at_start(start_app: StartApp) -> None:
    for raw in (
        "not json",
        "[]",
        json.dumps({"/users": {"mode": "audit"}}),
        json.dumps({"GET /users": {"mode": "sometimes"}}),
        json.dumps({"GET /users": {"colour": "red"}}),
        json.dumps({"GET /users": {"action": 5}}),
    ):
        with pytest.raises(ValueError, match="APP_AUTHZ_ENDPOINT_OVERRIDES"):
            await start_app(authz_endpoint_overrides=raw)


async def test_action_override_applies_to_administration_routes(
    make_client: MakeClient,
) -> None:
    client = await make_client(
        authz_endpoint_overrides=json.dumps({"GET /acls/{rid}": {"action": "read"}})
    )
    alice = await plain_user(client, "alice")
    await put_acl(client, "doc:x", [entry(alice.principal, "read")])
    response = await client.get("/acls/doc:x", headers=alice.headers)
    assert response.status_code == 200, response.text


async def test_users_of_another_tenant_stay_404_in_audit_mode(start_app: StartApp) -> None:
    app = await start_app(authz_mode="audit")
    async with client_for(app) as client:
        await authenticate(client)
        alice = await plain_user(client, "alice")
        other = await other_tenant(app)
        for method, body in (("GET", None), ("PATCH", {"display_name": "x"}), ("DELETE", None)):
            response = await client.request(
                method, f"/users/{other.user_id}", json=body, headers=alice.headers
            )
            assert_problem(response, 404, "user_not_found")
