"""A user's groups as they see them: ``GET /users/{id}/groups``, ``/me``, the ``groups`` claim
of access tokens and introspection, and what a membership allows, at once (CONTRACT §4, §5)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.authz_support import container_of
from tests.api.conftest import (
    MakeClient,
    StartApp,
    assert_problem,
    assert_validation_problem,
    client_for,
    create_user,
    error_locs,
)
from tests.api.group_support import (
    PlainUser,
    add_member,
    create_group,
    jwt_claims,
    me_id,
    nest,
    other_tenant,
    plain_user,
    walk_pages,
)
from tests.conftest import authenticate, log_in
from truapi.domain.groups import Membership, MemberType

GROUP_FIELDS = {
    "id",
    "tenant_id",
    "name",
    "description",
    "external_id",
    "created_at",
    "updated_at",
}


async def user_groups(
    client: httpx.AsyncClient,
    user_id: str,
    *,
    transitive: bool = False,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every group of the user (one page of up to 200, asserted to be the last)."""
    response = await client.get(
        f"/users/{user_id}/groups",
        params={"transitive": str(transitive).lower(), "limit": 200},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    for item in items:
        assert set(item) == GROUP_FIELDS | {"depth"}
    return items


def name_depths(items: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(g["name"], g["depth"]) for g in items]


async def nested_world(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Company ⊃ Engineering ⊃ backend ∋ alice; alice is also directly in Company and in
    guild; zeta holds nobody."""
    made: dict[str, dict[str, Any]] = {}
    for name in ("Company", "Engineering", "backend", "guild", "zeta"):
        made[name] = await create_group(client, name)
    made["alice"] = await create_user(client, "alice", password="violet kestrel under the pier")
    await nest(client, made["Company"], made["Engineering"])
    await nest(client, made["Engineering"], made["backend"])
    for group in ("backend", "Company", "guild"):
        await add_member(client, made[group]["id"], "user", made["alice"]["id"])
    return made


# -- GET /users/{id}/groups ---------------------------------------------------------------


async def test_direct_groups_by_name_with_depth_one(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    items = await user_groups(client, w["alice"]["id"])
    assert name_depths(items) == [("backend", 1), ("Company", 1), ("guild", 1)]
    backend = items[0]
    assert {k: v for k, v in backend.items() if k != "depth"} == w["backend"]
    plain = await client.get(f"/users/{w['alice']['id']}/groups")
    assert plain.json()["items"] == items


async def test_transitive_groups_at_their_smallest_depth(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    items = await user_groups(client, w["alice"]["id"], transitive=True)
    # Company: direct (1), also through Engineering (3); Engineering: through backend (2).
    assert name_depths(items) == [
        ("backend", 1),
        ("Company", 1),
        ("Engineering", 2),
        ("guild", 1),
    ]


async def test_a_user_without_groups_has_none(client: httpx.AsyncClient) -> None:
    bob = await create_user(client, "bob")
    assert await user_groups(client, bob["id"]) == []
    assert await user_groups(client, bob["id"], transitive=True) == []


async def test_user_group_pages_follow_the_cursor_and_link(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    everything = await user_groups(client, w["alice"]["id"], transitive=True)
    pages = await walk_pages(
        client, f"/users/{w['alice']['id']}/groups", {"transitive": "true", "limit": 1}
    )
    assert [len(p) for p in pages] == [1, 1, 1, 1]
    assert [g for page in pages for g in page] == everything


async def test_user_group_cursor_errors_are_400(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    path = f"/users/{w['alice']['id']}/groups"
    assert_problem(await client.get(path, params={"cursor": "garbage"}), 400, "invalid_cursor")
    cursor = (await client.get(path, params={"limit": 1})).json()["next_cursor"]
    assert cursor
    response = await client.get(path, params={"limit": 1, "transitive": "true", "cursor": cursor})
    assert_problem(response, 400, "invalid_cursor")
    admin_path = f"/users/{await me_id(client)}/groups"
    assert_problem(await client.get(admin_path, params={"cursor": cursor}), 400, "invalid_cursor")


async def test_groups_of_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/users/{uuid.uuid4()}/groups")
    assert_problem(response, 404, "user_not_found")


async def test_groups_of_a_deleted_user_is_404(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    assert (await client.delete(f"/users/{w['alice']['id']}")).status_code == 204
    response = await client.get(f"/users/{w['alice']['id']}/groups")
    assert_problem(response, 404, "user_not_found")


async def test_user_group_listing_is_validated(client: httpx.AsyncClient) -> None:
    errors = assert_validation_problem(await client.get("/users/alice/groups"))
    assert ["path", "user_id"] in error_locs(errors)
    admin = await me_id(client)
    errors = assert_validation_problem(
        await client.get(f"/users/{admin}/groups", params={"transitive": "maybe"})
    )
    assert ["query", "transitive"] in error_locs(errors)
    errors = assert_validation_problem(
        await client.get(f"/users/{admin}/groups", params={"limit": 201})
    )
    assert ["query", "limit"] in error_locs(errors)


async def test_user_groups_need_a_token(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    response = await anon_client.get(f"/users/{await me_id(client)}/groups")
    assert_problem(response, 401, "unauthenticated")


async def test_a_user_reads_their_own_groups_but_no_one_elses(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    bob = await plain_user(client, "bob")
    carol = await create_user(client, "carol")
    await add_member(client, group["id"], "user", bob.id)
    await add_member(client, group["id"], "user", carol["id"])
    own = await user_groups(client, bob.id, headers=bob.headers)
    assert name_depths(own) == [("finance", 1)]
    response = await client.get(f"/users/{carol['id']}/groups", headers=bob.headers)
    assert_problem(response, 403, "forbidden")


async def test_users_of_another_tenant_are_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    other = await other_tenant(app)
    response = await client.get(f"/users/{other.user_id}/groups", params={"transitive": "true"})
    assert_problem(response, 404, "user_not_found")
    assert "finance" not in response.text
    assert "admins" not in response.text


# -- deleting a user ends their memberships ------------------------------------------------


async def test_deleting_a_user_removes_their_memberships(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    assert (await client.delete(f"/users/{w['alice']['id']}")).status_code == 204
    for name in ("Company", "backend", "guild"):
        response = await client.get(
            f"/groups/{w[name]['id']}/members", params={"transitive": "true"}
        )
        assert w["alice"]["id"] not in response.text
    # A new user with the same name starts with no group.
    again = await create_user(client, "alice")
    assert await user_groups(client, again["id"], transitive=True) == []


# -- /me ----------------------------------------------------------------------------------


async def test_me_lists_the_callers_groups_nested_included(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    tokens = await log_in(client, "alice", "violet kestrel under the pier")
    response = await client.get(
        "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == w["alice"]["id"]
    assert body["groups"] == [
        {"id": w["backend"]["id"], "name": "backend", "depth": 1},
        {"id": w["Company"]["id"], "name": "Company", "depth": 1},
        {"id": w["Engineering"]["id"], "name": "Engineering", "depth": 2},
        {"id": w["guild"]["id"], "name": "guild", "depth": 1},
    ]


async def test_me_of_the_administrator_shows_the_admins_group(client: httpx.AsyncClient) -> None:
    body = (await client.get("/me")).json()
    assert [(g["name"], g["depth"]) for g in body["groups"]] == [("admins", 1)]
    admins = await client.get(f"/groups/{body['groups'][0]['id']}")
    assert admins.json()["name"] == "admins"


async def test_me_follows_membership_changes_at_once(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    outer = await create_group(client, "company")
    bob = await plain_user(client, "bob")
    assert (await client.get("/me", headers=bob.headers)).json()["groups"] == []
    await add_member(client, group["id"], "user", bob.id)
    await nest(client, outer, group)
    groups = (await client.get("/me", headers=bob.headers)).json()["groups"]
    assert [(g["name"], g["depth"]) for g in groups] == [("company", 2), ("finance", 1)]
    assert (await client.delete(f"/groups/{group['id']}/members/user/{bob.id}")).status_code == 204
    assert (await client.get("/me", headers=bob.headers)).json()["groups"] == []


# -- tokens and introspection --------------------------------------------------------------


async def test_a_fresh_access_token_carries_the_group_ids(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    tokens = await log_in(client, "alice", "violet kestrel under the pier")
    claims = jwt_claims(tokens["access_token"])
    expected = sorted(w[n]["id"] for n in ("Company", "Engineering", "backend", "guild"))
    assert sorted(claims["groups"]) == expected
    assert w["zeta"]["id"] not in claims["groups"]


async def test_a_user_without_groups_gets_an_empty_claim(client: httpx.AsyncClient) -> None:
    bob = await plain_user(client, "bob")
    assert jwt_claims(bob.tokens["access_token"])["groups"] == []


async def test_new_tokens_follow_membership_changes(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    bob = await plain_user(client, "bob")
    await add_member(client, group["id"], "user", bob.id)
    # A token issued before the change is not rewritten ...
    assert jwt_claims(bob.tokens["access_token"])["groups"] == []
    # ... but the next one, from a refresh or a login, carries it.
    refreshed = await client.post(
        "/auth/refresh", json={"refresh_token": bob.tokens["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert jwt_claims(refreshed.json()["access_token"])["groups"] == [group["id"]]
    fresh = await log_in(client, "bob", "violet kestrel under the pier")
    assert jwt_claims(fresh["access_token"])["groups"] == [group["id"]]


async def test_too_many_groups_leave_the_claim_out(make_client: MakeClient) -> None:
    client = await make_client(token_groups_max=1)
    first = await create_group(client, "first")
    second = await create_group(client, "second")
    bob = await plain_user(client, "bob")
    await add_member(client, first["id"], "user", bob.id)
    one = await log_in(client, "bob", "violet kestrel under the pier")
    assert jwt_claims(one["access_token"])["groups"] == [first["id"]]
    await add_member(client, second["id"], "user", bob.id)
    two = await log_in(client, "bob", "violet kestrel under the pier")
    # A partial list would read as "not a member" of the rest: no claim at all instead.
    assert "groups" not in jwt_claims(two["access_token"])
    answer = await client.post("/auth/introspect", data={"token": two["access_token"]})
    assert sorted(answer.json()["groups"]) == sorted([first["id"], second["id"]])


async def test_introspection_lists_the_current_groups(client: httpx.AsyncClient) -> None:
    w = await nested_world(client)
    tokens = await log_in(client, "alice", "violet kestrel under the pier")
    response = await client.post("/auth/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["active"] is True
    assert answer["sub"] == w["alice"]["id"]
    expected = sorted(w[n]["id"] for n in ("Company", "Engineering", "backend", "guild"))
    assert sorted(answer["groups"]) == expected

    await client.delete(f"/groups/{w['guild']['id']}/members/user/{w['alice']['id']}")
    later = await client.post("/auth/introspect", data={"token": tokens["access_token"]})
    assert sorted(later.json()["groups"]) == sorted(
        w[n]["id"] for n in ("Company", "Engineering", "backend")
    )


# -- what a membership allows --------------------------------------------------------------


async def check(client: httpx.AsyncClient, user: PlainUser, action: str, resource: str) -> bool:
    response = await client.post(
        "/authz/check", json={"action": action, "resource": resource}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    allowed = response.json()["allowed"]
    assert isinstance(allowed, bool)
    return allowed


async def allow_group(
    client: httpx.AsyncClient, resource: str, group: dict[str, Any], *actions: str
) -> None:
    response = await client.put(
        f"/acls/{resource}",
        json={
            "entries": [
                {"effect": "allow", "principal": f"group:{group['id']}", "actions": list(actions)}
            ]
        },
    )
    assert response.status_code == 200, response.text


async def test_joining_and_leaving_a_group_takes_effect_on_the_next_request(
    client: httpx.AsyncClient,
) -> None:
    readers = await create_group(client, "readers")
    await allow_group(client, "doc:x", readers, "read")
    bob = await plain_user(client, "bob")
    assert not await check(client, bob, "read", "doc:x")

    await add_member(client, readers["id"], "user", bob.id)
    # The token bob already holds predates the membership: the decision does not depend
    # on it.
    assert await check(client, bob, "read", "doc:x")
    assert not await check(client, bob, "write", "doc:x")
    assert not await check(client, bob, "read", "doc:y")

    response = await client.delete(f"/groups/{readers['id']}/members/user/{bob.id}")
    assert response.status_code == 204
    assert not await check(client, bob, "read", "doc:x")

    await client.put(
        f"/groups/{readers['id']}/members", json={"members": [{"type": "user", "id": bob.id}]}
    )
    assert await check(client, bob, "read", "doc:x")
    await client.put(f"/groups/{readers['id']}/members", json={"members": []})
    assert not await check(client, bob, "read", "doc:x")


async def test_a_dry_run_grants_nothing(client: httpx.AsyncClient) -> None:
    readers = await create_group(client, "readers")
    await allow_group(client, "doc:x", readers, "read")
    bob = await plain_user(client, "bob")
    response = await client.put(
        f"/groups/{readers['id']}/members",
        params={"dry_run": "true"},
        json={"members": [{"type": "user", "id": bob.id}]},
    )
    assert response.status_code == 200
    assert not await check(client, bob, "read", "doc:x")


async def test_nested_membership_grants_and_unnesting_revokes(client: httpx.AsyncClient) -> None:
    readers = await create_group(client, "readers")
    team = await create_group(client, "team")
    await allow_group(client, "doc:x", readers, "read")
    bob = await plain_user(client, "bob")
    await add_member(client, team["id"], "user", bob.id)
    assert not await check(client, bob, "read", "doc:x")
    await nest(client, readers, team)
    assert await check(client, bob, "read", "doc:x")
    response = await client.delete(f"/groups/{readers['id']}/members/group/{team['id']}")
    assert response.status_code == 204
    assert not await check(client, bob, "read", "doc:x")


async def test_deleting_a_group_revokes_what_it_granted(client: httpx.AsyncClient) -> None:
    readers = await create_group(client, "readers")
    await allow_group(client, "doc:x", readers, "read")
    bob = await plain_user(client, "bob")
    await add_member(client, readers["id"], "user", bob.id)
    assert await check(client, bob, "read", "doc:x")
    assert (await client.delete(f"/groups/{readers['id']}")).status_code == 204
    assert not await check(client, bob, "read", "doc:x")
    # A new group with the same name is another group: the old entry does not match it.
    again = await create_group(client, "readers")
    await add_member(client, again["id"], "user", bob.id)
    assert not await check(client, bob, "read", "doc:x")


async def test_admin_on_one_group_manages_that_groups_members_only(
    client: httpx.AsyncClient,
) -> None:
    team = await create_group(client, "team")
    other = await create_group(client, "other")
    leads = await create_group(client, "leads")
    await allow_group(client, f"group:{team['id']}", leads, "admin", "read")
    bob = await plain_user(client, "bob")
    carol = await create_user(client, "carol")
    path = f"/groups/{team['id']}/members/user/{carol['id']}"
    assert_problem(await client.put(path, headers=bob.headers), 403, "forbidden")

    await add_member(client, leads["id"], "user", bob.id)
    response = await client.put(path, headers=bob.headers)
    assert response.status_code == 204, response.text
    listing = await client.get(f"/groups/{team['id']}/members", headers=bob.headers)
    assert listing.status_code == 200
    assert listing.json()["items"] == [{"type": "user", "id": carol["id"], "depth": 1}]
    response = await client.put(
        f"/groups/{other['id']}/members/user/{carol['id']}", headers=bob.headers
    )
    assert_problem(response, 403, "forbidden")
    # Managing members is not renaming or deleting the group.
    response = await client.patch(
        f"/groups/{team['id']}", json={"name": "mine"}, headers=bob.headers
    )
    assert_problem(response, 403, "forbidden")
    assert (await client.delete(path, headers=bob.headers)).status_code == 204

    await client.delete(f"/groups/{leads['id']}/members/user/{bob.id}")
    assert_problem(await client.put(path, headers=bob.headers), 403, "forbidden")


async def test_joining_the_admins_gives_and_leaving_takes_the_tenants_rights(
    client: httpx.AsyncClient,
) -> None:
    me = (await client.get("/me")).json()
    admins = me["groups"][0]
    bob = await plain_user(client, "bob")
    assert_problem(
        await client.post("/groups", json={"name": "bobs"}, headers=bob.headers), 403, "forbidden"
    )
    await add_member(client, admins["id"], "user", bob.id)
    response = await client.post("/groups", json={"name": "bobs"}, headers=bob.headers)
    assert response.status_code == 201, response.text
    await client.delete(f"/groups/{admins['id']}/members/user/{bob.id}")
    assert_problem(
        await client.post("/groups", json={"name": "bobs-2"}, headers=bob.headers),
        403,
        "forbidden",
    )


async def test_a_group_in_the_admins_passes_on_the_tenants_rights(
    client: httpx.AsyncClient,
) -> None:
    admins = (await client.get("/me")).json()["groups"][0]
    ops = await create_group(client, "ops")
    bob = await plain_user(client, "bob")
    await add_member(client, ops["id"], "user", bob.id)
    assert not await check(client, bob, "write", "doc:anything")
    await add_member(client, admins["id"], "group", ops["id"])
    assert await check(client, bob, "write", "doc:anything")
    response = await client.post("/groups", json={"name": "made-by-bob"}, headers=bob.headers)
    assert response.status_code == 201, response.text
    me = (await client.get("/me", headers=bob.headers)).json()
    assert [(g["name"], g["depth"]) for g in me["groups"]] == [("admins", 2), ("ops", 1)]
    await client.delete(f"/groups/{admins['id']}/members/group/{ops['id']}")
    assert not await check(client, bob, "write", "doc:anything")


async def test_joining_a_denied_group_takes_away_at_once(client: httpx.AsyncClient) -> None:
    blocked = await create_group(client, "blocked")
    response = await client.put(
        "/acls/doc:x",
        json={
            "entries": [
                {"effect": "deny", "principal": f"group:{blocked['id']}", "actions": ["read"]},
                {"effect": "allow", "principal": "authenticated", "actions": ["read"]},
            ]
        },
    )
    assert response.status_code == 200, response.text
    bob = await plain_user(client, "bob")
    assert await check(client, bob, "read", "doc:x")
    await add_member(client, blocked["id"], "user", bob.id)
    assert not await check(client, bob, "read", "doc:x")
    await client.put(f"/groups/{blocked['id']}/members", json={"members": []})
    assert await check(client, bob, "read", "doc:x")


@pytest.mark.parametrize("action", ["read", "write"])
async def test_a_user_keeps_rights_on_their_own_record_without_groups(
    client: httpx.AsyncClient, action: str
) -> None:
    bob = await plain_user(client, "bob")
    assert await check(client, bob, action, f"user:{bob.id}")


# -- memberships stored outside the API's checks -------------------------------------------


async def store_membership(app: FastAPI, parent: dict[str, Any], child: dict[str, Any]) -> None:
    """Write ``child`` into ``parent`` straight to storage, as a bad import or a bug might,
    and let this instance know the policy changed."""
    container = container_of(app)
    tenant_id = container.default_tenant_id
    async with container.uow() as uow:
        await uow.policy_versions.bump(tenant_id)
        await uow.groups.add_member(
            Membership(
                tenant_id=tenant_id,
                group_id=uuid.UUID(parent["id"]),
                member_type=MemberType.GROUP,
                member_id=uuid.UUID(child["id"]),
                created_at=container.clock.now(),
            )
        )
        await uow.commit()
    await container.policy_watcher.poll()


async def test_a_stored_loop_denies_and_never_errors(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    a = await create_group(client, "a")
    b = await create_group(client, "b")
    await allow_group(client, "doc:x", a, "read")
    bob = await plain_user(client, "bob")
    await add_member(client, b["id"], "user", bob.id)
    await nest(client, a, b)
    assert await check(client, bob, "read", "doc:x")

    await store_membership(app, b, a)  # a ⊃ b ⊃ a
    assert not await check(client, bob, "read", "doc:x")
    listing = await client.get(f"/groups/{a['id']}/members", params={"transitive": "true"})
    assert listing.status_code == 200, listing.text
    keys = [(m["type"], m["id"]) for m in listing.json()["items"]]
    assert len(keys) == len(set(keys))
    mine = await client.get(f"/users/{bob.id}/groups", params={"transitive": "true"})
    assert mine.status_code == 200, mine.text
    assert (await client.get("/me", headers=bob.headers)).status_code == 200
    tokens = await log_in(client, "bob", "violet kestrel under the pier")
    assert tokens["access_token"]
    answer = await client.post("/auth/introspect", data={"token": tokens["access_token"]})
    assert answer.status_code == 200
    assert answer.json()["active"] is True


async def test_a_stored_chain_deeper_than_the_limit_denies(start_app: StartApp) -> None:
    app = await start_app(authz_max_depth=2)
    async with client_for(app) as client:
        await authenticate(client)
        await deep_chain_denies(app, client)


async def deep_chain_denies(app: FastAPI, client: httpx.AsyncClient) -> None:
    a, b, c = [await create_group(client, n) for n in "abc"]
    await allow_group(client, "doc:x", a, "read")
    bob = await plain_user(client, "bob")
    await add_member(client, c["id"], "user", bob.id)
    await nest(client, a, b)
    await store_membership(app, b, c)  # bob ∈ c ⊂ b ⊂ a: three levels, the limit is two
    assert not await check(client, bob, "read", "doc:x")
    assert (await client.get("/me", headers=bob.headers)).status_code == 200
    listing = await client.get(f"/groups/{a['id']}/members", params={"transitive": "true"})
    assert listing.status_code == 200, listing.text
