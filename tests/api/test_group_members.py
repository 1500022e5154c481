"""Group members: adding and removing one, listing (nested too), reconciling to a list, the
refusals each documents, and the audit trail (CONTRACT §5, Groups)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.authz_support import audit_events
from tests.api.conftest import (
    MakeClient,
    assert_problem,
    assert_validation_problem,
    create_user,
    error_locs,
)
from tests.api.group_support import (
    add_member,
    create_group,
    me_id,
    nest,
    plain_user,
    walk_pages,
)

JSON = {"content-type": "application/json"}


def ref(kind: str, item: dict[str, Any]) -> dict[str, str]:
    return {"type": kind, "id": item["id"]}


async def members(
    client: httpx.AsyncClient, group: dict[str, Any], *, transitive: bool = False
) -> list[dict[str, Any]]:
    """Every member of ``group`` (one page of up to 200, asserted to be the last)."""
    response = await client.get(
        f"/groups/{group['id']}/members",
        params={"transitive": str(transitive).lower(), "limit": 200},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"items", "next_cursor"}
    assert body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    for item in items:
        assert set(item) == {"type", "id", "depth"}
    return items


def as_set(items: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    return {(m["type"], m["id"], m["depth"]) for m in items}


async def reconcile(
    client: httpx.AsyncClient,
    group: dict[str, Any],
    wanted: list[dict[str, str]],
    *,
    source: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {"members": wanted}
    if source is not None:
        body["source"] = source
    params = {"dry_run": "true"} if dry_run else {}
    response = await client.put(f"/groups/{group['id']}/members", json=body, params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert set(answer) == {"added", "removed", "unchanged"}
    return answer


def by_id(refs: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(refs, key=lambda r: (r["type"], r["id"]))


# -- PUT /groups/{id}/members/{type}/{member_id} -------------------------------------------


async def test_adding_a_user_and_a_group(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    sub = await create_group(client, "payroll")
    alice = await create_user(client, "alice")
    await add_member(client, group["id"], "user", alice["id"])
    await add_member(client, group["id"], "group", sub["id"])
    assert as_set(await members(client, group)) == {
        ("user", alice["id"], 1),
        ("group", sub["id"], 1),
    }


async def test_adding_twice_is_idempotent(app: FastAPI, client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    for _ in range(3):
        await add_member(client, group["id"], "user", alice["id"])
    assert await members(client, group) == [{"type": "user", "id": alice["id"], "depth": 1}]
    # Nothing changed after the first time, so nothing more is recorded.
    assert len(await audit_events(app, "group.member_added")) == 1


async def test_adding_to_an_unknown_group_is_404(client: httpx.AsyncClient) -> None:
    alice = await create_user(client, "alice")
    response = await client.put(f"/groups/{uuid.uuid4()}/members/user/{alice['id']}")
    assert_problem(response, 404, "group_not_found")


async def test_adding_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await client.put(f"/groups/{group['id']}/members/user/{uuid.uuid4()}")
    assert_problem(response, 404, "user_not_found")
    assert await members(client, group) == []


async def test_adding_an_unknown_group_is_404(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await client.put(f"/groups/{group['id']}/members/group/{uuid.uuid4()}")
    assert_problem(response, 404, "group_not_found")
    assert await members(client, group) == []


async def test_a_user_id_as_a_group_member_is_404(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    response = await client.put(f"/groups/{group['id']}/members/group/{alice['id']}")
    assert_problem(response, 404, "group_not_found")
    response = await client.put(f"/groups/{group['id']}/members/user/{group['id']}")
    assert_problem(response, 404, "user_not_found")


async def test_a_group_cannot_contain_itself(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await client.put(f"/groups/{group['id']}/members/group/{group['id']}")
    assert_problem(response, 409, "group_cycle")
    assert await members(client, group) == []


async def test_two_groups_cannot_contain_each_other(client: httpx.AsyncClient) -> None:
    a = await create_group(client, "a")
    b = await create_group(client, "b")
    await nest(client, a, b)  # B is in A
    response = await client.put(f"/groups/{b['id']}/members/group/{a['id']}")
    assert_problem(response, 409, "group_cycle")
    assert await members(client, b) == []
    assert await members(client, a) == [{"type": "group", "id": b["id"], "depth": 1}]


async def test_a_longer_loop_is_refused(client: httpx.AsyncClient) -> None:
    a, b, c, d = [await create_group(client, n) for n in "abcd"]
    await nest(client, a, b)
    await nest(client, b, c)
    await nest(client, c, d)
    for inner in (b, c, d):
        response = await client.put(f"/groups/{inner['id']}/members/group/{a['id']}")
        assert_problem(response, 409, "group_cycle")
    assert as_set(await members(client, a, transitive=True)) == {
        ("group", b["id"], 1),
        ("group", c["id"], 2),
        ("group", d["id"], 3),
    }
    # Sharing members is not a loop: D may also sit directly in A.
    await nest(client, a, d)


async def test_nesting_deeper_than_the_limit_is_409(make_client: MakeClient) -> None:
    client = await make_client(authz_max_depth=2)
    a, b, c = [await create_group(client, n) for n in "abc"]
    await nest(client, a, b)
    response = await client.put(f"/groups/{b['id']}/members/group/{c['id']}")
    assert_problem(response, 409, "hierarchy_too_deep")
    response = await client.put(f"/groups/{c['id']}/members/group/{a['id']}")
    assert_problem(response, 409, "hierarchy_too_deep")
    response = await client.put(f"/groups/{b['id']}/members", json={"members": [ref("group", c)]})
    assert_problem(response, 409, "hierarchy_too_deep")
    assert await members(client, b) == []
    assert await members(client, c) == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("kind", ["robot", "users", "USER", "Group", "api_key", "%20"])
async def test_an_unknown_member_type_is_422(
    client: httpx.AsyncClient, method: str, kind: str
) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    response = await client.request(method, f"/groups/{group['id']}/members/{kind}/{alice['id']}")
    errors = assert_validation_problem(response)
    assert ["path", "member_type"] in error_locs(errors)
    assert await members(client, group) == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("member_id", ["alice", "123", "not-a-uuid"])
async def test_a_non_uuid_member_id_is_422(
    client: httpx.AsyncClient, method: str, member_id: str
) -> None:
    group = await create_group(client, "finance")
    response = await client.request(method, f"/groups/{group['id']}/members/user/{member_id}")
    errors = assert_validation_problem(response)
    assert ["path", "member_id"] in error_locs(errors)


async def test_membership_changes_need_a_token(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    path = f"/groups/{group['id']}/members/user/{alice['id']}"
    assert_problem(await anon_client.put(path), 401, "unauthenticated")
    await add_member(client, group["id"], "user", alice["id"])
    assert_problem(await anon_client.delete(path), 401, "unauthenticated")
    response = await anon_client.put(f"/groups/{group['id']}/members", json={"members": []})
    assert_problem(response, 401, "unauthenticated")
    assert_problem(await anon_client.get(f"/groups/{group['id']}/members"), 401, "unauthenticated")
    assert len(await members(client, group)) == 1


async def test_a_plain_user_cannot_change_memberships(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    await add_member(client, group["id"], "user", alice["id"])
    bob = await plain_user(client, "bob")
    base = f"/groups/{group['id']}/members"
    for response in [
        await client.put(f"{base}/user/{bob.id}", headers=bob.headers),
        await client.delete(f"{base}/user/{alice['id']}", headers=bob.headers),
        await client.put(
            base, json={"members": [{"type": "user", "id": bob.id}]}, headers=bob.headers
        ),
        await client.get(base, headers=bob.headers),
    ]:
        assert_problem(response, 403, "forbidden")
    assert await members(client, group) == [{"type": "user", "id": alice["id"], "depth": 1}]


async def test_a_plain_user_cannot_join_the_admins(client: httpx.AsyncClient) -> None:
    listing = await client.get("/groups", params={"q": "admins"})
    admins = next(g for g in listing.json()["items"] if g["name"] == "admins")
    admin_id = await me_id(client)
    bob = await plain_user(client, "bob")
    base = f"/groups/{admins['id']}/members"
    response = await client.put(f"{base}/user/{bob.id}", headers=bob.headers)
    assert_problem(response, 403, "forbidden")
    response = await client.put(
        base,
        json={"members": [{"type": "user", "id": bob.id}, {"type": "user", "id": admin_id}]},
        headers=bob.headers,
    )
    assert_problem(response, 403, "forbidden")
    response = await client.delete(f"{base}/user/{admin_id}", headers=bob.headers)
    assert_problem(response, 403, "forbidden")
    assert await members(client, admins) == [{"type": "user", "id": admin_id, "depth": 1}]
    me = await client.get("/me", headers=bob.headers)
    assert me.json()["groups"] == []
    assert_problem(
        await client.post("/groups", json={"name": "x"}, headers=bob.headers), 403, "forbidden"
    )


# -- DELETE /groups/{id}/members/{type}/{member_id} ----------------------------------------


async def test_removing_a_member(app: FastAPI, client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    sub = await create_group(client, "payroll")
    alice = await create_user(client, "alice")
    await add_member(client, group["id"], "user", alice["id"])
    await nest(client, group, sub)
    response = await client.delete(f"/groups/{group['id']}/members/user/{alice['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert await members(client, group) == [{"type": "group", "id": sub["id"], "depth": 1}]
    response = await client.delete(f"/groups/{group['id']}/members/group/{sub['id']}")
    assert response.status_code == 204
    assert await members(client, group) == []
    # Both still exist; only the memberships ended.
    assert (await client.get(f"/users/{alice['id']}")).status_code == 200
    assert (await client.get(f"/groups/{sub['id']}")).status_code == 200


async def test_removing_a_non_member_is_404(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    path = f"/groups/{group['id']}/members/user/{alice['id']}"
    assert_problem(await client.delete(path), 404, "member_not_found")
    await add_member(client, group["id"], "user", alice["id"])
    assert (await client.delete(path)).status_code == 204
    assert_problem(await client.delete(path), 404, "member_not_found")
    response = await client.delete(f"/groups/{group['id']}/members/user/{uuid.uuid4()}")
    assert_problem(response, 404, "member_not_found")


async def test_removing_with_the_wrong_type_is_404(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    await add_member(client, group["id"], "user", alice["id"])
    response = await client.delete(f"/groups/{group['id']}/members/group/{alice['id']}")
    assert_problem(response, 404, "member_not_found")
    assert len(await members(client, group)) == 1


async def test_a_nested_member_cannot_be_removed_from_the_outer_group(
    client: httpx.AsyncClient,
) -> None:
    outer = await create_group(client, "outer")
    inner = await create_group(client, "inner")
    alice = await create_user(client, "alice")
    await nest(client, outer, inner)
    await add_member(client, inner["id"], "user", alice["id"])
    response = await client.delete(f"/groups/{outer['id']}/members/user/{alice['id']}")
    assert_problem(response, 404, "member_not_found")
    assert ("user", alice["id"], 2) in as_set(await members(client, outer, transitive=True))


async def test_removing_from_an_unknown_group_is_404(client: httpx.AsyncClient) -> None:
    alice = await create_user(client, "alice")
    response = await client.delete(f"/groups/{uuid.uuid4()}/members/user/{alice['id']}")
    assert_problem(response, 404, "group_not_found")


# -- GET /groups/{id}/members -------------------------------------------------------------


async def diamond(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """top ⊃ left, right; left ⊃ bottom; right ⊃ bottom, carol; bottom ⊃ alice, carol;
    top ⊃ bob directly."""
    made: dict[str, dict[str, Any]] = {}
    for name in ("top", "left", "right", "bottom"):
        made[name] = await create_group(client, name)
    for name in ("alice", "bob", "carol"):
        made[name] = await create_user(client, name)
    await nest(client, made["top"], made["left"])
    await nest(client, made["top"], made["right"])
    await nest(client, made["left"], made["bottom"])
    await nest(client, made["right"], made["bottom"])
    await add_member(client, made["bottom"]["id"], "user", made["alice"]["id"])
    await add_member(client, made["bottom"]["id"], "user", made["carol"]["id"])
    await add_member(client, made["right"]["id"], "user", made["carol"]["id"])
    await add_member(client, made["top"]["id"], "user", made["bob"]["id"])
    return made


async def test_direct_members_only_by_default(client: httpx.AsyncClient) -> None:
    d = await diamond(client)
    expected = {
        ("group", d["left"]["id"], 1),
        ("group", d["right"]["id"], 1),
        ("user", d["bob"]["id"], 1),
    }
    assert as_set(await members(client, d["top"])) == expected
    response = await client.get(f"/groups/{d['top']['id']}/members")
    assert as_set(response.json()["items"]) == expected


async def test_transitive_members_appear_once_at_their_smallest_depth(
    client: httpx.AsyncClient,
) -> None:
    d = await diamond(client)
    items = await members(client, d["top"], transitive=True)
    keys = [(m["type"], m["id"]) for m in items]
    assert len(keys) == len(set(keys)), items
    assert as_set(items) == {
        ("group", d["left"]["id"], 1),
        ("group", d["right"]["id"], 1),
        ("user", d["bob"]["id"], 1),
        ("group", d["bottom"]["id"], 2),  # through left and through right
        ("user", d["carol"]["id"], 2),  # in right (2) and in bottom (3)
        ("user", d["alice"]["id"], 3),
    }
    # Ordered by type, then id.
    assert keys == sorted(keys)


async def test_transitive_listing_of_a_group_without_nesting(client: httpx.AsyncClient) -> None:
    d = await diamond(client)
    assert await members(client, d["bottom"], transitive=True) == await members(client, d["bottom"])


async def test_member_pages_follow_the_cursor_and_link(client: httpx.AsyncClient) -> None:
    d = await diamond(client)
    everything = await members(client, d["top"], transitive=True)
    pages = await walk_pages(
        client, f"/groups/{d['top']['id']}/members", {"transitive": "true", "limit": 2}
    )
    assert [len(p) for p in pages] == [2, 2, 2]
    assert [m for page in pages for m in page] == everything
    direct = await walk_pages(client, f"/groups/{d['top']['id']}/members", {"limit": 1})
    assert [m for page in direct for m in page] == await members(client, d["top"])


async def test_member_cursor_errors_are_400(client: httpx.AsyncClient) -> None:
    d = await diamond(client)
    path = f"/groups/{d['top']['id']}/members"
    assert_problem(await client.get(path, params={"cursor": "garbage"}), 400, "invalid_cursor")
    direct = (await client.get(path, params={"limit": 1})).json()["next_cursor"]
    assert direct
    response = await client.get(path, params={"limit": 1, "transitive": "true", "cursor": direct})
    assert_problem(response, 400, "invalid_cursor")
    # A cursor belongs to its group.
    other = f"/groups/{d['right']['id']}/members"
    assert_problem(await client.get(other, params={"cursor": direct}), 400, "invalid_cursor")
    groups_cursor = (await client.get("/groups", params={"limit": 1})).json()["next_cursor"]
    assert_problem(await client.get(path, params={"cursor": groups_cursor}), 400, "invalid_cursor")


async def test_member_listing_is_validated(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    path = f"/groups/{group['id']}/members"
    errors = assert_validation_problem(await client.get(path, params={"transitive": "maybe"}))
    assert ["query", "transitive"] in error_locs(errors)
    errors = assert_validation_problem(await client.get(path, params={"limit": 0}))
    assert ["query", "limit"] in error_locs(errors)
    errors = assert_validation_problem(await client.get("/groups/nope/members"))
    assert ["path", "group_id"] in error_locs(errors)


async def test_members_of_an_unknown_group_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/groups/{uuid.uuid4()}/members")
    assert_problem(response, 404, "group_not_found")
    response = await client.get(f"/groups/{uuid.uuid4()}/members", params={"transitive": "true"})
    assert_problem(response, 404, "group_not_found")


# -- PUT /groups/{id}/members (reconcile) --------------------------------------------------


async def test_reconcile_makes_the_direct_members_exactly_the_list(
    client: httpx.AsyncClient,
) -> None:
    group = await create_group(client, "finance")
    sub = await create_group(client, "payroll")
    alice, bob, carol = [await create_user(client, n) for n in ("alice", "bob", "carol")]
    await add_member(client, group["id"], "user", alice["id"])
    await add_member(client, group["id"], "user", bob["id"])

    answer = await reconcile(
        client, group, [ref("user", bob), ref("user", carol), ref("group", sub)]
    )
    assert by_id(answer["added"]) == by_id([ref("user", carol), ref("group", sub)])
    assert answer["removed"] == [ref("user", alice)]
    assert answer["unchanged"] == 1
    assert as_set(await members(client, group)) == {
        ("user", bob["id"], 1),
        ("user", carol["id"], 1),
        ("group", sub["id"], 1),
    }

    again = await reconcile(
        client, group, [ref("group", sub), ref("user", carol), ref("user", bob)]
    )
    assert again == {"added": [], "removed": [], "unchanged": 3}

    emptied = await reconcile(client, group, [])
    assert by_id(emptied["removed"]) == by_id(
        [ref("user", bob), ref("user", carol), ref("group", sub)]
    )
    assert emptied["added"] == []
    assert emptied["unchanged"] == 0
    assert await members(client, group) == []


async def test_reconcile_counts_a_repeated_member_once(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    answer = await reconcile(client, group, [ref("user", alice), ref("user", alice)])
    assert answer == {"added": [ref("user", alice)], "removed": [], "unchanged": 0}
    assert await members(client, group) == [{"type": "user", "id": alice["id"], "depth": 1}]


async def test_reconcile_with_a_source_leaves_other_memberships_alone(
    client: httpx.AsyncClient,
) -> None:
    group = await create_group(client, "finance")
    hand, a, b, c, ldap = [
        await create_user(client, n) for n in ("hand", "okta-a", "okta-b", "okta-c", "ldap-d")
    ]
    await add_member(client, group["id"], "user", hand["id"])
    first = await reconcile(client, group, [ref("user", a), ref("user", b)], source="okta")
    assert by_id(first["added"]) == by_id([ref("user", a), ref("user", b)])
    assert first["removed"] == []
    assert first["unchanged"] == 0
    await reconcile(client, group, [ref("user", ldap)], source="ldap:corp")

    # The directory drops A and adds C; the hand-added member and LDAP's stay.
    second = await reconcile(client, group, [ref("user", b), ref("user", c)], source="okta")
    assert second == {"added": [ref("user", c)], "removed": [ref("user", a)], "unchanged": 1}
    assert {m["id"] for m in await members(client, group)} == {
        hand["id"],
        b["id"],
        c["id"],
        ldap["id"],
    }

    # Listing a hand-added member does not make it the directory's: it stays after the
    # directory stops listing it.
    third = await reconcile(client, group, [ref("user", hand), ref("user", c)], source="okta")
    assert third == {"added": [], "removed": [ref("user", b)], "unchanged": 2}
    fourth = await reconcile(client, group, [], source="okta")
    assert fourth == {"added": [], "removed": [ref("user", c)], "unchanged": 0}
    assert {m["id"] for m in await members(client, group)} == {hand["id"], ldap["id"]}

    # Without a source, the list is the whole truth.
    last = await reconcile(client, group, [])
    assert by_id(last["removed"]) == by_id([ref("user", hand), ref("user", ldap)])
    assert await members(client, group) == []


async def test_dry_run_answers_the_same_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    group = await create_group(client, "finance")
    sub = await create_group(client, "payroll")
    alice, bob = [await create_user(client, n) for n in ("alice", "bob")]
    await add_member(client, group["id"], "user", alice["id"])
    before = await members(client, group)
    wanted = [ref("user", bob), ref("group", sub)]

    preview = await reconcile(client, group, wanted, dry_run=True)
    assert by_id(preview["added"]) == by_id(wanted)
    assert preview["removed"] == [ref("user", alice)]
    assert preview["unchanged"] == 0
    assert await members(client, group) == before
    assert await reconcile(client, group, wanted, dry_run=True) == preview
    assert await audit_events(app, "group.members_reconciled") == []

    done = await reconcile(client, group, wanted)
    assert done == preview
    assert as_set(await members(client, group)) == {("user", bob["id"], 1), ("group", sub["id"], 1)}


async def test_dry_run_with_a_source(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    hand, a = [await create_user(client, n) for n in ("hand", "alice")]
    await add_member(client, group["id"], "user", hand["id"])
    preview = await reconcile(client, group, [ref("user", a)], source="okta", dry_run=True)
    assert preview == {"added": [ref("user", a)], "removed": [], "unchanged": 0}
    assert await members(client, group) == [{"type": "user", "id": hand["id"], "depth": 1}]


async def test_dry_run_still_reports_errors(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await client.put(
        f"/groups/{group['id']}/members",
        params={"dry_run": "true"},
        json={"members": [{"type": "user", "id": str(uuid.uuid4())}]},
    )
    assert_problem(response, 404, "user_not_found")
    response = await client.put(
        f"/groups/{group['id']}/members",
        params={"dry_run": "true"},
        json={"members": [ref("group", group)]},
    )
    assert_problem(response, 409, "group_cycle")


async def test_reconcile_with_an_unknown_user_is_404_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    group = await create_group(client, "finance")
    alice, bob = [await create_user(client, n) for n in ("alice", "bob")]
    await add_member(client, group["id"], "user", alice["id"])
    response = await client.put(
        f"/groups/{group['id']}/members",
        json={"members": [ref("user", bob), {"type": "user", "id": str(uuid.uuid4())}]},
    )
    assert_problem(response, 404, "user_not_found")
    assert await members(client, group) == [{"type": "user", "id": alice["id"], "depth": 1}]


async def test_reconcile_with_an_unknown_group_member_is_404(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    response = await client.put(
        f"/groups/{group['id']}/members",
        json={"members": [{"type": "group", "id": str(uuid.uuid4())}]},
    )
    assert_problem(response, 404, "group_not_found")


async def test_reconcile_of_an_unknown_group_is_404(client: httpx.AsyncClient) -> None:
    response = await client.put(f"/groups/{uuid.uuid4()}/members", json={"members": []})
    assert_problem(response, 404, "group_not_found")


async def test_reconcile_refuses_loops(client: httpx.AsyncClient) -> None:
    a = await create_group(client, "a")
    b = await create_group(client, "b")
    alice = await create_user(client, "alice")
    await nest(client, a, b)
    for wanted in ([ref("group", b)], [ref("user", alice), ref("group", a)]):
        response = await client.put(f"/groups/{b['id']}/members", json={"members": wanted})
        assert_problem(response, 409, "group_cycle")
    assert await members(client, b) == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"members": None},
        {"members": "alice"},
        {"members": [{"type": "robot", "id": str(uuid.uuid4())}]},
        {"members": [{"type": "user"}]},
        {"members": [{"id": str(uuid.uuid4())}]},
        {"members": [{"type": "user", "id": "alice"}]},
        {"members": [{"type": "user", "id": str(uuid.uuid4()), "source": "okta"}]},
        {"members": [], "owner": "me"},
        {"members": [], "source": ""},
        {"members": [], "source": "okta corp"},
        {"members": [], "source": "-okta"},
        {"members": [], "source": "s" * 101},
    ],
)
async def test_reconcile_refuses_bad_bodies(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    await add_member(client, group["id"], "user", alice["id"])
    response = await client.put(f"/groups/{group['id']}/members", json=body)
    assert_validation_problem(response)
    assert len(await members(client, group)) == 1


async def test_reconcile_needs_json(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    path = f"/groups/{group['id']}/members"
    response = await client.put(path, content=b"members=", headers={"content-type": "text/plain"})
    assert_problem(response, 415, "unsupported_media_type")
    response = await client.put(path, content=b'{"members": [', headers=JSON)
    assert_problem(response, 400, "malformed_request")
    errors = assert_validation_problem(
        await client.put(path, json={"members": []}, params={"dry_run": "perhaps"})
    )
    assert ["query", "dry_run"] in error_locs(errors)


# -- audit --------------------------------------------------------------------------------


async def test_membership_changes_are_audited(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = f"user:{await me_id(client)}"
    group = await create_group(client, "finance")
    sub = await create_group(client, "payroll")
    alice, bob = [await create_user(client, n) for n in ("alice", "bob")]

    added = await client.put(f"/groups/{group['id']}/members/user/{alice['id']}")
    await nest(client, group, sub)
    events = await audit_events(app, "group.member_added")
    assert [e.details for e in events] == [
        {"member": ref("user", alice), "source": None},
        {"member": ref("group", sub), "source": None},
    ]
    assert all(e.target == f"group:{group['id']}" and e.actor == admin for e in events)
    assert events[0].request_id == added.headers["x-request-id"]

    removed = await client.delete(f"/groups/{group['id']}/members/group/{sub['id']}")
    (event,) = await audit_events(app, "group.member_removed")
    assert event.details == {"member": ref("group", sub)}
    assert event.target == f"group:{group['id']}"
    assert event.actor == admin
    assert event.request_id == removed.headers["x-request-id"]

    response = await client.put(
        f"/groups/{group['id']}/members",
        json={"members": [ref("user", bob)], "source": "okta"},
    )
    assert response.status_code == 200
    (rec,) = await audit_events(app, "group.members_reconciled")
    assert rec.target == f"group:{group['id']}"
    assert rec.actor == admin
    assert rec.request_id == response.headers["x-request-id"]
    assert rec.details == {
        "source": "okta",
        "added": [ref("user", bob)],
        "removed": [],
        "unchanged": 0,
    }

    await reconcile(client, group, [])
    second = (await audit_events(app, "group.members_reconciled"))[-1]
    assert second.details["source"] is None
    assert by_id(second.details["removed"]) == by_id([ref("user", alice), ref("user", bob)])
    assert second.details["added"] == []


async def test_refused_membership_changes_leave_no_event(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    group = await create_group(client, "finance")
    await client.put(f"/groups/{group['id']}/members/user/{uuid.uuid4()}")
    await client.put(f"/groups/{group['id']}/members/group/{group['id']}")
    await client.delete(f"/groups/{group['id']}/members/user/{uuid.uuid4()}")
    await client.put(
        f"/groups/{group['id']}/members",
        json={"members": [{"type": "user", "id": str(uuid.uuid4())}]},
    )
    for action in ("group.member_added", "group.member_removed", "group.members_reconciled"):
        assert await audit_events(app, action) == [], action


# -- concurrent writers --------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_opposite_nestings_never_make_a_loop(
    client: httpx.AsyncClient, round_: int
) -> None:
    a = await create_group(client, f"a{round_}")
    b = await create_group(client, f"b{round_}")
    first, second = await asyncio.gather(
        client.put(f"/groups/{a['id']}/members/group/{b['id']}"),
        client.put(f"/groups/{b['id']}/members/group/{a['id']}"),
    )
    assert sorted([first.status_code, second.status_code]) == [204, 409], (
        first.text,
        second.text,
    )
    loser = first if first.status_code == 409 else second
    assert_problem(loser, 409, "group_cycle")
    held = await members(client, a) + await members(client, b)
    assert len(held) == 1


async def test_concurrent_reconciles_of_a_loop_never_make_one(client: httpx.AsyncClient) -> None:
    a, b, c = [await create_group(client, n) for n in "abc"]
    responses = await asyncio.gather(
        client.put(f"/groups/{a['id']}/members", json={"members": [ref("group", b)]}),
        client.put(f"/groups/{b['id']}/members", json={"members": [ref("group", c)]}),
        client.put(f"/groups/{c['id']}/members", json={"members": [ref("group", a)]}),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 409], [r.text for r in responses]
    total = sum([len(await members(client, g)) for g in (a, b, c)])
    assert total == 2


async def test_concurrent_adds_of_one_member_keep_one_membership(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    group = await create_group(client, "finance")
    alice = await create_user(client, "alice")
    responses = await asyncio.gather(
        *(client.put(f"/groups/{group['id']}/members/user/{alice['id']}") for _ in range(5))
    )
    assert [r.status_code for r in responses] == [204] * 5
    assert await members(client, group) == [{"type": "user", "id": alice["id"], "depth": 1}]
    assert len(await audit_events(app, "group.member_added")) == 1


async def test_a_reconcile_of_over_ten_thousand_members_is_422(client: httpx.AsyncClient) -> None:
    group = await create_group(client, "finance")
    wanted = [{"type": "user", "id": str(uuid.uuid4())} for _ in range(10_001)]
    response = await client.put(f"/groups/{group['id']}/members", json={"members": wanted})
    errors = assert_validation_problem(response)
    assert ["body", "members"] in error_locs(errors)
