"""POST /authz/check and /authz/check-batch: every decision kind with its ``matched``
shape, inheritance, default ACLs, owners, groups, checks on behalf of others, the
administration rule, and changes taking effect on the very next check (CONTRACT §5)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.api.authz_support import (
    JsonDict,
    PlainUser,
    add_member,
    admins_group_id,
    allowed,
    check,
    create_group,
    deny,
    entry,
    grant_on_root,
    me,
    other_tenant,
    plain_user,
    put_acl,
    put_dacl,
    put_resource,
    root_of,
)
from tests.api.conftest import MakeClient, assert_problem, assert_validation_problem

FALLBACK: JsonDict = {"allowed": False, "decision": "fallback", "matched": None}


def acl_match(resource: str, index: int, matched: JsonDict) -> JsonDict:
    return {"resource": resource, "source": "acl", "index": index, "entry": matched}


def dacl_match(resource: str, applies_to: str, index: int, matched: JsonDict) -> JsonDict:
    return {
        "resource": resource,
        "source": "dacl",
        "applies_to": applies_to,
        "index": index,
        "entry": matched,
    }


def answer(decision: str, matched: JsonDict) -> JsonDict:
    return {"allowed": decision.endswith("allow"), "decision": decision, "matched": matched}


@dataclass(frozen=True)
class People:
    alice: PlainUser
    bob: PlainUser

    @property
    def a(self) -> str:
        return self.alice.principal

    @property
    def b(self) -> str:
        return self.bob.principal


async def people(client: httpx.AsyncClient) -> People:
    return People(await plain_user(client, "alice"), await plain_user(client, "bob"))


# -- fallback -------------------------------------------------------------------------------


async def test_fallback_has_matched_null(client: httpx.AsyncClient) -> None:
    p = await people(client)
    assert await check(client, "read", "doc:unregistered", p.a) == FALLBACK
    await put_resource(client, "doc:registered")
    assert await check(client, "read", "doc:registered", p.a) == FALLBACK
    await put_acl(client, "doc:registered", [entry(p.b, "read")])
    assert await check(client, "read", "doc:registered", p.a) == FALLBACK
    assert await check(client, "write", "doc:registered", p.b) == FALLBACK


async def test_fallback_allow_setting(make_client: MakeClient) -> None:
    client = await make_client(authz_fallback="allow")
    p = await people(client)
    assert await check(client, "read", "doc:x", p.a) == {
        "allowed": True,
        "decision": "fallback",
        "matched": None,
    }
    await put_acl(client, "doc:x", [deny(p.a, "read")])
    assert (await check(client, "read", "doc:x", p.a))["decision"] == "explicit_deny"


# -- the resource's own ACL -----------------------------------------------------------------


async def test_explicit_allow(client: httpx.AsyncClient) -> None:
    p = await people(client)
    grant = entry(p.a, "read", "write")
    await put_acl(client, "doc:a", [entry(p.b, "read"), grant])
    assert await check(client, "read", "doc:a", p.a) == answer(
        "explicit_allow", acl_match("doc:a", 1, grant)
    )
    assert await check(client, "write", "doc:a", p.a) == answer(
        "explicit_allow", acl_match("doc:a", 1, grant)
    )
    assert await check(client, "delete", "doc:a", p.a) == FALLBACK
    # A wildcard names every action.
    star = entry(p.b, "*")
    await put_acl(client, "doc:b", [star])
    assert await check(client, "frobnicate", "doc:b", p.b) == answer(
        "explicit_allow", acl_match("doc:b", 0, star)
    )


async def test_explicit_deny_beats_allow_wherever_it_sits(client: httpx.AsyncClient) -> None:
    p = await people(client)
    group = await create_group(client, "staff")
    await add_member(client, group, "user", p.alice.id)
    no = deny(p.a, "read")
    await put_acl(client, "doc:a", [entry(p.a, "read"), no])
    assert await check(client, "read", "doc:a", p.a) == answer(
        "explicit_deny", acl_match("doc:a", 1, no)
    )
    # Through a group, against an allow naming the user.
    by_group = deny(f"group:{group}", "*")
    await put_acl(client, "doc:b", [entry(p.a, "read"), entry(p.b, "read"), by_group])
    assert await check(client, "read", "doc:b", p.a) == answer(
        "explicit_deny", acl_match("doc:b", 2, by_group)
    )
    assert (await check(client, "read", "doc:b", p.b))["decision"] == "explicit_allow"
    # Through ``authenticated``.
    everyone = deny("authenticated", "write")
    await put_acl(client, "doc:c", [entry(p.a, "*"), everyone])
    assert await check(client, "write", "doc:c", p.a) == answer(
        "explicit_deny", acl_match("doc:c", 1, everyone)
    )
    # The first of several matching denies is named.
    first = deny(p.a, "read")
    await put_acl(client, "doc:d", [entry(p.a, "read"), first, deny("authenticated", "read")])
    assert (await check(client, "read", "doc:d", p.a))["matched"]["index"] == 1


# -- inheritance ----------------------------------------------------------------------------


async def test_inherited_allow_and_deny(client: httpx.AsyncClient) -> None:
    p = await people(client)
    grant = entry(p.a, "read")
    no = deny(p.a, "write")
    await put_acl(client, "folder:f", [entry(p.b, "write"), grant, entry(p.a, "write"), no])
    await put_resource(client, "doc:a", parent="folder:f")
    await put_acl(client, "doc:a", [entry(p.b, "read")])
    assert await check(client, "read", "doc:a", p.a) == answer(
        "inherited_allow", acl_match("folder:f", 1, grant)
    )
    assert await check(client, "write", "doc:a", p.a) == answer(
        "inherited_deny", acl_match("folder:f", 3, no)
    )
    # The resource's own entry comes first.
    own = entry(p.a, "write")
    await put_acl(client, "doc:a", [own])
    assert await check(client, "write", "doc:a", p.a) == answer(
        "explicit_allow", acl_match("doc:a", 0, own)
    )


async def test_nearest_ancestor_with_a_matching_entry_decides(client: httpx.AsyncClient) -> None:
    p = await people(client)
    top_no = deny(p.a, "read")
    await put_acl(client, "folder:top", [top_no])
    await put_resource(client, "folder:mid", parent="folder:top")
    await put_resource(client, "doc:a", parent="folder:mid")
    assert await check(client, "read", "doc:a", p.a) == answer(
        "inherited_deny", acl_match("folder:top", 0, top_no)
    )
    mid_yes = entry(p.a, "read")
    await put_acl(client, "folder:mid", [entry(p.b, "read"), mid_yes])
    assert await check(client, "read", "doc:a", p.a) == answer(
        "inherited_allow", acl_match("folder:mid", 1, mid_yes)
    )


async def test_the_tenant_root_ends_every_chain(client: httpx.AsyncClient) -> None:
    root = await root_of(client)
    admins = entry(f"group:{await admins_group_id(client)}", "*")
    await put_resource(client, "folder:f")
    await put_resource(client, "doc:a", parent="folder:f")
    expected = answer("inherited_allow", acl_match(root, 0, admins))
    assert await check(client, "read", "doc:a") == expected
    assert await check(client, "anything", "doc:unregistered") == expected
    assert await check(client, "read", root) == answer("explicit_allow", acl_match(root, 0, admins))


async def test_inherit_false_blocks_what_is_above(client: httpx.AsyncClient) -> None:
    p = await people(client)
    await put_acl(client, "folder:f", [entry(p.a, "read")])
    await put_dacl(client, "folder:f", "doc", [entry(p.a, "write")])
    await put_resource(client, "doc:a", parent="folder:f")
    assert (await check(client, "read", "doc:a", p.a))["decision"] == "inherited_allow"
    assert (await check(client, "write", "doc:a", p.a))["decision"] == "dacl_allow"

    await put_acl(client, "doc:a", [], inherit=False)
    assert await check(client, "read", "doc:a", p.a) == FALLBACK
    assert await check(client, "write", "doc:a", p.a) == FALLBACK
    # Not even the tenant's administrators reach it through the root.
    assert await check(client, "read", "doc:a") == FALLBACK
    # Its own default ACL still applies to it.
    own = entry(p.a, "share")
    await put_dacl(client, "doc:a", "doc", [own])
    assert await check(client, "share", "doc:a", p.a) == answer(
        "dacl_allow", dacl_match("doc:a", "doc", 0, own)
    )

    # In the middle of a chain: what is above the blocking resource is cut off, what it
    # holds itself still counts.
    await put_acl(client, "folder:top", [entry(p.b, "read")])
    block = entry(p.a, "list")
    await put_resource(client, "folder:mid", parent="folder:top")
    await put_acl(client, "folder:mid", [block], inherit=False)
    await put_resource(client, "doc:b", parent="folder:mid")
    assert await check(client, "read", "doc:b", p.b) == FALLBACK
    assert await check(client, "list", "doc:b", p.a) == answer(
        "inherited_allow", acl_match("folder:mid", 0, block)
    )


# -- default ACLs ---------------------------------------------------------------------------


async def test_dacl_allow_and_deny(client: httpx.AsyncClient) -> None:
    p = await people(client)
    await put_resource(client, "folder:f")
    await put_resource(client, "doc:a", parent="folder:f")
    await put_resource(client, "img:c", parent="folder:f")
    yes = entry(p.a, "read")
    await put_dacl(client, "folder:f", "doc", [entry(p.b, "write"), yes])
    assert await check(client, "read", "doc:a", p.a) == answer(
        "dacl_allow", dacl_match("folder:f", "doc", 1, yes)
    )
    # A DACL for another type does not apply.
    assert await check(client, "read", "img:c", p.a) == FALLBACK

    no = deny(p.a, "read")
    await put_dacl(client, "folder:f", "*", [entry(p.b, "read"), no, entry(p.a, "read")])
    assert await check(client, "read", "img:c", p.a) == answer(
        "dacl_deny", dacl_match("folder:f", "*", 1, no)
    )
    # At one resource, the DACL for the resource's own type comes before '*'.
    assert await check(client, "read", "doc:a", p.a) == answer(
        "dacl_allow", dacl_match("folder:f", "doc", 1, yes)
    )
    # A DACL applies to the resource holding it too.
    assert await check(client, "read", "folder:f", p.a) == answer(
        "dacl_deny", dacl_match("folder:f", "*", 1, no)
    )


async def test_nearest_dacl_decides_and_acls_come_first(client: httpx.AsyncClient) -> None:
    p = await people(client)
    root = await root_of(client)
    at_root = entry(p.a, "read", "write", "list")
    await put_dacl(client, root, "doc", [at_root])
    await put_resource(client, "folder:f")
    await put_resource(client, "doc:a", parent="folder:f")
    assert await check(client, "list", "doc:a", p.a) == answer(
        "dacl_allow", dacl_match(root, "doc", 0, at_root)
    )
    near = deny(p.a, "read")
    await put_dacl(client, "folder:f", "*", [near])
    assert await check(client, "read", "doc:a", p.a) == answer(
        "dacl_deny", dacl_match("folder:f", "*", 0, near)
    )
    nearest = deny(p.a, "list")
    await put_dacl(client, "doc:a", "*", [nearest])
    assert await check(client, "list", "doc:a", p.a) == answer(
        "dacl_deny", dacl_match("doc:a", "*", 0, nearest)
    )
    # An ACL entry anywhere on the chain comes before every DACL.
    acl_yes = entry(p.a, "read", "list")
    await put_acl(client, "folder:f", [acl_yes])
    assert await check(client, "read", "doc:a", p.a) == answer(
        "inherited_allow", acl_match("folder:f", 0, acl_yes)
    )
    assert await check(client, "list", "doc:a", p.a) == answer(
        "inherited_allow", acl_match("folder:f", 0, acl_yes)
    )
    # The root's built-in user DACL is still there, next to the new one.
    response = await client.get(f"/dacls/{root}")
    assert {d["applies_to"] for d in response.json()["dacls"]} == {"user", "doc"}


# -- the worked example ---------------------------------------------------------------------


async def test_worked_example_folder_finance_to_doc_q3_report(client: httpx.AsyncClient) -> None:
    p = await people(client)
    finance = await create_group(client, "finance")
    analysts = await create_group(client, "analysts")
    await add_member(client, finance, "group", analysts)
    await add_member(client, analysts, "user", p.alice.id)

    grant = entry(f"group:{finance}", "read")
    await put_resource(client, "folder:finance")
    await put_acl(client, "folder:finance", [grant])
    await put_resource(client, "doc:q3-report", parent="folder:finance")

    expected = answer("inherited_allow", acl_match("folder:finance", 0, grant))
    # Alice asks for herself, a member of finance through analysts.
    assert await check(client, "read", "doc:q3-report", headers=p.alice.headers) == expected
    assert await check(client, "read", "doc:q3-report", p.a) == expected
    assert await check(client, "write", "doc:q3-report", p.a) == FALLBACK
    assert await check(client, "read", "doc:q3-report", p.b) == FALLBACK
    # A group may be the subject of a check too, as a member of itself.
    assert await check(client, "read", "doc:q3-report", f"group:{finance}") == expected
    assert await check(client, "read", "doc:q3-report", f"group:{analysts}") == expected


# -- owners ---------------------------------------------------------------------------------


async def test_owner_entries_name_the_owner_of_the_checked_resource(
    client: httpx.AsyncClient,
) -> None:
    p = await people(client)
    rule = entry("owner", "write")
    await put_resource(client, "folder:f", owner=p.b)
    await put_acl(client, "folder:f", [rule])
    await put_resource(client, "doc:a", parent="folder:f", owner=p.a)
    assert await check(client, "write", "doc:a", p.a) == answer(
        "inherited_allow", acl_match("folder:f", 0, rule)
    )
    # Bob owns the folder, not the document.
    assert await check(client, "write", "doc:a", p.b) == FALLBACK
    assert await check(client, "write", "folder:f", p.b) == answer(
        "explicit_allow", acl_match("folder:f", 0, rule)
    )
    assert await check(client, "write", "folder:f", p.a) == FALLBACK
    # A group as owner: its members are owners.
    group = await create_group(client, "writers")
    await add_member(client, group, "user", p.bob.id)
    await put_resource(client, "doc:b", parent="folder:f", owner=f"group:{group}")
    assert (await check(client, "write", "doc:b", p.b))["allowed"] is True
    assert (await check(client, "write", "doc:b", p.a))["allowed"] is False
    # Owner entries in default ACLs too.
    dacl_rule = entry("owner", "read")
    await put_dacl(client, "folder:f", "doc", [dacl_rule])
    assert await check(client, "read", "doc:a", p.a) == answer(
        "dacl_allow", dacl_match("folder:f", "doc", 0, dacl_rule)
    )
    assert await check(client, "read", "doc:a", p.b) == FALLBACK


async def test_users_own_their_user_resource(client: httpx.AsyncClient) -> None:
    p = await people(client)
    root = await root_of(client)
    builtin = entry("owner", "read", "write")
    own = p.alice.headers
    assert await check(client, "read", p.a, headers=own) == answer(
        "dacl_allow", dacl_match(root, "user", 0, builtin)
    )
    assert await check(client, "write", p.a, headers=own) == answer(
        "dacl_allow", dacl_match(root, "user", 0, builtin)
    )
    assert await check(client, "delete", p.a, headers=own) == FALLBACK
    assert await check(client, "read", p.b, headers=own) == FALLBACK
    assert await check(client, "write", p.b, headers=own) == FALLBACK
    # An owner entry on the user's own ACL names the user.
    rule = entry("owner", "delete")
    await put_acl(client, p.a, [rule])
    assert await check(client, "delete", p.a, headers=own) == answer(
        "explicit_allow", acl_match(p.a, 0, rule)
    )
    assert await check(client, "delete", p.a, p.b) == FALLBACK


# -- checking for someone else --------------------------------------------------------------


async def test_checking_another_principal_needs_check_on_the_root(
    client: httpx.AsyncClient,
) -> None:
    p = await people(client)
    await put_acl(client, "doc:a", [entry(p.b, "read")])
    h = p.alice.headers
    for principal in (p.b, f"user:{uuid.uuid4()}", f"group:{await admins_group_id(client)}"):
        response = await client.post(
            "/authz/check",
            json={"principal": principal, "action": "read", "resource": "doc:a"},
            headers=h,
        )
        assert_problem(response, 403, "forbidden")
    response = await client.post(
        "/authz/check-batch",
        json={
            "checks": [
                {"action": "read", "resource": "doc:a"},
                {"principal": p.b, "action": "read", "resource": "doc:a"},
            ]
        },
        headers=h,
    )
    assert_problem(response, 403, "forbidden")
    # Naming herself is not someone else.
    assert await check(client, "read", "doc:a", p.a, headers=h) == FALLBACK
    assert await check(client, "read", "doc:a", p.a.upper().replace("USER", "user"), h) == (
        FALLBACK
    )

    await grant_on_root(client, entry(p.a, "check"))
    assert (await check(client, "read", "doc:a", p.b, headers=h))["allowed"] is True
    response = await client.post(
        "/authz/check-batch",
        json={"checks": [{"principal": p.b, "action": "read", "resource": "doc:a"}]},
        headers=h,
    )
    assert response.status_code == 200, response.text
    # ``check`` is not ``admin``: the ACL itself stays out of reach.
    assert_problem(await client.get("/acls/doc:a", headers=h), 403, "forbidden")


async def test_unknown_principals_are_404(client: httpx.AsyncClient, app: FastAPI) -> None:
    other = await other_tenant(app)
    for principal, code in [
        (f"user:{uuid.uuid4()}", "user_not_found"),
        (f"user:{other.user_id}", "user_not_found"),
        (f"group:{uuid.uuid4()}", "group_not_found"),
        (f"group:{other.admins.id}", "group_not_found"),
    ]:
        response = await client.post(
            "/authz/check", json={"principal": principal, "action": "read", "resource": "doc:a"}
        )
        assert_problem(response, 404, code)
        response = await client.post(
            "/authz/check-batch",
            json={
                "checks": [
                    {"action": "read", "resource": "doc:a"},
                    {"principal": principal, "action": "read", "resource": "doc:a"},
                ]
            },
        )
        assert_problem(response, 404, code)


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"resource": "doc:a"},
        {"action": "read"},
        {"action": "Read", "resource": "doc:a"},
        {"action": "", "resource": "doc:a"},
        {"action": "read write", "resource": "doc:a"},
        {"action": "a" * 65, "resource": "doc:a"},
        {"action": "read", "resource": "nocolon"},
        {"action": "read", "resource": "doc:"},
        {"action": "read", "resource": "user:not-a-uuid"},
        {"action": "read", "resource": "doc:" + "x" * 201},
        {"action": "read", "resource": "doc:a", "principal": "bob"},
        {"action": "read", "resource": "doc:a", "principal": "owner"},
        {"action": "read", "resource": "doc:a", "principal": "authenticated"},
        {"action": "read", "resource": "doc:a", "principal": "user:nope"},
        {"action": "read", "resource": "doc:a", "principal": None, "context": {}},
        {"action": ["read"], "resource": "doc:a"},
        {"action": "read", "resource": 5},
    ],
)
async def test_bad_check_bodies_are_422(client: httpx.AsyncClient, body: JsonDict) -> None:
    assert_validation_problem(await client.post("/authz/check", json=body))
    batch = await client.post(
        "/authz/check-batch", json={"checks": [{"action": "read", "resource": "doc:a"}, body]}
    )
    assert_validation_problem(batch)


async def test_check_needs_authentication_and_json(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    body = {"action": "read", "resource": "doc:a"}
    for path, payload in (("/authz/check", body), ("/authz/check-batch", {"checks": [body]})):
        response = await anon_client.post(path, json=payload)
        assert_problem(response, 401, "unauthenticated")
        response = await client.post(
            path, content=b"{", headers={"content-type": "application/json"}
        )
        assert_problem(response, 400, "malformed_request")
        response = await client.post(path, content=b"read", headers={"content-type": "text/plain"})
        assert_problem(response, 415, "unsupported_media_type")


# -- check-batch ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 101])
async def test_batch_size_outside_1_to_100_is_422(client: httpx.AsyncClient, size: int) -> None:
    checks = [{"action": "read", "resource": f"doc:{i}"} for i in range(size)]
    assert_validation_problem(await client.post("/authz/check-batch", json={"checks": checks}))


@pytest.mark.parametrize("body", [{}, {"checks": None}, {"checks": {}}, {"checks": [], "x": 1}])
async def test_bad_batch_bodies_are_422(client: httpx.AsyncClient, body: Any) -> None:
    assert_validation_problem(await client.post("/authz/check-batch", json=body))


async def test_batch_answers_in_order(client: httpx.AsyncClient) -> None:
    p = await people(client)
    await put_acl(client, "doc:a", [entry(p.a, "read"), deny(p.b, "read")])
    triples = [
        (p.a, "read", "doc:a"),
        (p.a, "write", "doc:a"),
        (p.b, "read", "doc:a"),
        (p.a, "read", p.a),
        (None, "read", "doc:a"),
        (p.a, "read", "doc:a"),
        (p.b, "read", "doc:unregistered"),
    ]
    checks: list[JsonDict] = []
    for principal, action, resource in triples:
        item: JsonDict = {"action": action, "resource": resource}
        if principal is not None:
            item["principal"] = principal
        checks.append(item)
    response = await client.post("/authz/check-batch", json={"checks": checks})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert set(response.json()) == {"results"}
    singles = [await check(client, a, r, p_) for p_, a, r in triples]
    assert results == singles
    assert [r["decision"] for r in results] == [
        "explicit_allow",
        "fallback",
        "explicit_deny",
        "dacl_allow",
        "inherited_allow",
        "explicit_allow",
        "fallback",
    ]


async def test_batch_of_one_and_of_a_hundred(client: httpx.AsyncClient) -> None:
    p = await people(client)
    await put_acl(client, "doc:7", [entry(p.a, "read")])
    one = await client.post(
        "/authz/check-batch",
        json={"checks": [{"principal": p.a, "action": "read", "resource": "doc:7"}]},
    )
    assert one.status_code == 200, one.text
    assert [r["allowed"] for r in one.json()["results"]] == [True]
    checks = [{"principal": p.a, "action": "read", "resource": f"doc:{i}"} for i in range(100)]
    hundred = await client.post("/authz/check-batch", json={"checks": checks})
    assert hundred.status_code == 200, hundred.text
    results = hundred.json()["results"]
    assert len(results) == 100
    assert [i for i, r in enumerate(results) if r["allowed"]] == [7]


# -- the administration rule ----------------------------------------------------------------


async def test_admins_keep_managing_a_resource_that_denies_them(
    client: httpx.AsyncClient,
) -> None:
    admin_id = (await me(client))["id"]
    admins = f"group:{await admins_group_id(client)}"
    lock = [deny(admins, "*"), deny(f"user:{admin_id}", "*"), deny("authenticated", "*")]
    await put_resource(client, "doc:locked")
    await put_acl(client, "doc:locked", lock, inherit=False)
    await put_resource(client, "doc:inside", parent="doc:locked")

    assert (await check(client, "read", "doc:locked"))["decision"] == "explicit_deny"
    assert (await check(client, "admin", "doc:locked"))["allowed"] is False
    assert (await check(client, "admin", "doc:inside"))["decision"] == "inherited_deny"

    for path in ("/resources/doc:locked", "/acls/doc:locked", "/dacls/doc:locked"):
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
    response = await client.get("/resources", params={"parent": "doc:locked"})
    assert response.status_code == 200, response.text
    assert [r["id"] for r in response.json()["items"]] == ["doc:inside"]
    response = await client.put("/resources/doc:locked", json={"owner": f"user:{admin_id}"})
    assert response.status_code == 200, response.text
    response = await client.put("/resources/doc:inside", json={"owner": f"user:{admin_id}"})
    assert response.status_code == 200, response.text
    await put_dacl(client, "doc:locked", "*", [deny(admins, "*")])
    assert (await client.delete("/dacls/doc:locked?applies_to=*")).status_code == 204
    assert (await client.get("/acls/doc:inside")).status_code == 200

    # They can take the lock off again.
    await put_acl(client, "doc:locked", [], inherit=True)
    assert (await check(client, "read", "doc:locked"))["decision"] == "inherited_allow"
    await put_acl(client, "doc:locked", lock, inherit=False)
    assert (await client.delete("/acls/doc:locked")).status_code == 204
    assert (await client.delete("/resources/doc:locked?cascade=true")).status_code == 204


async def test_admin_granted_through_a_folder_reaches_its_children(
    client: httpx.AsyncClient,
) -> None:
    p = await people(client)
    h = p.alice.headers
    await put_resource(client, "folder:f")
    await put_resource(client, "doc:a", parent="folder:f")
    await put_resource(client, "doc:b")
    for path in ("/resources/doc:a", "/acls/doc:a", "/dacls/doc:a"):
        assert_problem(await client.get(path, headers=h), 403, "forbidden")

    await put_acl(client, "folder:f", [entry(p.a, "admin")])
    for path in ("/resources/doc:a", "/acls/doc:a", "/dacls/doc:a", "/resources/folder:f"):
        response = await client.get(path, headers=h)
        assert response.status_code == 200, (path, response.text)
    for path in ("/resources/doc:b", "/acls/doc:b", "/dacls/doc:b"):
        assert_problem(await client.get(path, headers=h), 403, "forbidden")

    # A deny on the child cuts the inherited right; only the root's own ACL is exempt.
    await put_acl(client, "doc:a", [deny(p.a, "admin")])
    assert_problem(await client.get("/acls/doc:a", headers=h), 403, "forbidden")


# -- changes take effect on the very next check ---------------------------------------------


async def test_acl_and_dacl_changes_apply_to_the_next_check(client: httpx.AsyncClient) -> None:
    p = await people(client)
    await put_resource(client, "doc:a")
    assert not await allowed(client, "read", "doc:a", p.a)
    await put_acl(client, "doc:a", [entry(p.a, "read")])
    assert await allowed(client, "read", "doc:a", p.a)
    await put_acl(client, "doc:a", [entry(p.a, "read"), deny(p.a, "read")])
    assert not await allowed(client, "read", "doc:a", p.a)
    await put_acl(client, "doc:a", [entry(p.a, "read")])
    assert await allowed(client, "read", "doc:a", p.a)
    assert (await client.delete("/acls/doc:a")).status_code == 204
    assert not await allowed(client, "read", "doc:a", p.a)

    await put_dacl(client, "doc:a", "doc", [entry(p.a, "read")])
    assert await allowed(client, "read", "doc:a", p.a)
    await put_dacl(client, "doc:a", "doc", [entry(p.b, "read")])
    assert not await allowed(client, "read", "doc:a", p.a)
    await put_dacl(client, "doc:a", "*", [entry(p.a, "read")])
    assert await allowed(client, "read", "doc:a", p.a)
    assert (await client.delete("/dacls/doc:a?applies_to=*")).status_code == 204
    assert not await allowed(client, "read", "doc:a", p.a)

    # The check the administrator makes on the tenant root changes at once too.
    await grant_on_root(client, entry(p.a, "check"))
    assert await allowed(client, "check", await root_of(client), p.a)


async def test_parent_owner_and_inherit_changes_apply_to_the_next_check(
    client: httpx.AsyncClient,
) -> None:
    p = await people(client)
    await put_acl(client, "folder:f", [entry(p.a, "read"), entry("owner", "write")])
    await put_resource(client, "doc:a")
    assert not await allowed(client, "read", "doc:a", p.a)
    await put_resource(client, "doc:a", parent="folder:f")
    assert await allowed(client, "read", "doc:a", p.a)
    await put_resource(client, "doc:a", parent=None)
    assert not await allowed(client, "read", "doc:a", p.a)
    await put_resource(client, "doc:a", parent="folder:f")
    assert await allowed(client, "read", "doc:a", p.a)

    assert not await allowed(client, "write", "doc:a", p.b)
    await put_resource(client, "doc:a", owner=p.b)
    assert await allowed(client, "write", "doc:a", p.b)
    assert not await allowed(client, "write", "doc:a", p.a)
    await put_resource(client, "doc:a", owner=p.a)
    assert not await allowed(client, "write", "doc:a", p.b)
    assert await allowed(client, "write", "doc:a", p.a)
    await put_resource(client, "doc:a", owner=None)
    assert not await allowed(client, "write", "doc:a", p.a)

    await put_acl(client, "doc:a", [], inherit=False)
    assert not await allowed(client, "read", "doc:a", p.a)
    await put_acl(client, "doc:a", [], inherit=True)
    assert await allowed(client, "read", "doc:a", p.a)

    # A grandparent's grant arrives when the parent is moved under it.
    await put_acl(client, "folder:g", [entry(p.b, "read")])
    assert not await allowed(client, "read", "doc:a", p.b)
    await put_resource(client, "folder:f", parent="folder:g")
    assert await allowed(client, "read", "doc:a", p.b)

    # Deleting the subtree takes its grants with it.
    assert (await client.delete("/resources/folder:f?cascade=true")).status_code == 204
    assert not await allowed(client, "read", "doc:a", p.a)
    assert not await allowed(client, "read", "doc:a", p.b)


async def test_membership_changes_apply_to_the_next_check(client: httpx.AsyncClient) -> None:
    p = await people(client)
    group = await create_group(client, "readers")
    await put_acl(client, "doc:a", [entry(f"group:{group}", "read")])
    h = p.alice.headers
    assert (await check(client, "read", "doc:a", headers=h))["allowed"] is False
    await add_member(client, group, "user", p.alice.id)
    assert (await check(client, "read", "doc:a", headers=h))["allowed"] is True
    response = await client.delete(f"/groups/{group}/members/user/{p.alice.id}")
    assert response.status_code == 204, response.text
    assert (await check(client, "read", "doc:a", headers=h))["allowed"] is False


async def test_guards_see_changes_on_the_next_request(client: httpx.AsyncClient) -> None:
    p = await people(client)
    h = p.alice.headers
    await put_resource(client, "doc:a")
    assert_problem(await client.get("/acls/doc:a", headers=h), 403, "forbidden")
    await put_acl(client, "doc:a", [entry(p.a, "admin")])
    assert (await client.get("/acls/doc:a", headers=h)).status_code == 200
    await put_acl(client, "doc:a", [])
    assert_problem(await client.get("/acls/doc:a", headers=h), 403, "forbidden")


async def test_decisions_are_counted_in_metrics(client: httpx.AsyncClient) -> None:
    p = await people(client)
    await check(client, "read", "doc:a", p.a)
    text = (await client.get("/metrics")).text
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("truapi_authz_decisions_total") and 'outcome="fallback"' in line
    ]
    assert lines
    assert float(lines[0].rsplit(" ", 1)[1]) >= 1
