"""The authorization engine by example: each decision of CONTRACT §5, owners, inheritance
cut by ``inherit: false``, loops and depth limits, and the validation of entries, principals,
resource names and ``applies_to``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from truapi.domain.errors import InvalidValue
from truapi.domain.policy.acl import (
    MAX_ACTIONS,
    MAX_ENTRIES,
    AclEntry,
    CompiledEntries,
    Effect,
    check_entry_count,
    parse_applies_to,
)
from truapi.domain.policy.engine import (
    Decision,
    Fault,
    Node,
    Subject,
    Verdict,
    evaluate,
    inheritance_chain,
    own_acl_allows,
)
from truapi.domain.policy.membership import group_depths, subject_of
from truapi.domain.policy.principals import parse_principal
from truapi.domain.policy.resources import ResourceName


def _id(n: int) -> str:
    return str(uuid.UUID(int=n))


ROOT = f"tenant:{_id(0x7E7E)}"
ALICE = f"user:{_id(0xA11CE)}"
BOB = f"user:{_id(0xB0B)}"
ADMINS = f"group:{_id(0xAD)}"
STAFF = f"group:{_id(0x5)}"
EVERYONE = f"group:{_id(0xE)}"  # STAFF is a member of EVERYONE
NESTING = {STAFF: [EVERYONE]}


def e(effect: str, principal: str, *actions: str) -> AclEntry:
    return AclEntry.create(effect, principal, actions, "entries")


def allow(principal: str, *actions: str) -> AclEntry:
    return e("allow", principal, *actions)


def deny(principal: str, *actions: str) -> AclEntry:
    return e("deny", principal, *actions)


def node(
    rid: str,
    *acl: AclEntry,
    parent: str | None = None,
    owner: str | None = None,
    inherit: bool = True,
    dacls: Mapping[str, Sequence[AclEntry]] | None = None,
) -> Node:
    return Node(
        id=rid,
        type=rid.partition(":")[0],
        parent=parent,
        owner=owner,
        inherit=inherit,
        acl=CompiledEntries.of(acl),
        dacls={k: CompiledEntries.of(v) for k, v in (dacls or {}).items()},
    )


def check(
    nodes: Iterable[Node],
    rid: str,
    action: str = "read",
    *,
    user: str = ALICE,
    groups: Iterable[str] = (),
    nesting: Mapping[str, list[str]] | None = None,
    fallback_allow: bool = False,
    max_depth: int = 32,
) -> Verdict:
    """``user`` (direct groups ``groups``) asks for ``action`` on ``rid`` in a tenant made of
    ``nodes`` (plus an empty root when none is given)."""
    known = {n.id: n for n in nodes}
    known.setdefault(ROOT, node(ROOT))

    def lookup(name: str) -> Node:
        return known.get(name) or node(name)

    subject = subject_of(user, groups, NESTING if nesting is None else nesting, max_depth)
    chain, fault = inheritance_chain(rid, ROOT, lookup, max_depth)
    return evaluate(subject, action, chain, fallback_allow=fallback_allow, fault=fault)


def decided(
    verdict: Verdict, decision: str, resource: str | None = None, index: int = 0
) -> dict[str, Any]:
    """The answer's decision and where the deciding entry sits, for compact assertions."""
    data = verdict.to_dict()
    matched = data["matched"]
    assert data["decision"] == decision
    assert data["allowed"] is decision.endswith("allow")
    if resource is None:
        assert matched is None
    else:
        assert matched["resource"] == resource
        assert matched["index"] == index
    return data


# --- step 1: the resource's own ACL ----------------------------------------------------------


def test_explicit_deny_comes_before_an_earlier_allow_in_the_same_list() -> None:
    doc = node("doc:a", allow(ALICE, "read"), allow(BOB, "read"), deny(ALICE, "read", "write"))
    data = decided(check([doc], "doc:a"), "explicit_deny", "doc:a", index=2)
    assert data == {
        "allowed": False,
        "decision": "explicit_deny",
        "matched": {
            "resource": "doc:a",
            "source": "acl",
            "index": 2,
            "entry": {"effect": "deny", "principal": ALICE, "actions": ["read", "write"]},
        },
    }
    assert list(data["matched"]) == ["resource", "source", "index", "entry"]


def test_explicit_allow_names_the_first_matching_allow_by_position() -> None:
    doc = node(
        "doc:a",
        allow(BOB, "read"),
        deny(ALICE, "write"),
        allow(ALICE, "write", "read"),
        allow("authenticated", "read"),
    )
    decided(check([doc], "doc:a"), "explicit_allow", "doc:a", index=2)
    decided(check([doc], "doc:a", user=BOB), "explicit_allow", "doc:a", index=0)
    decided(check([doc], "doc:a", "write"), "explicit_deny", "doc:a", index=1)


def test_the_own_acl_wins_over_everything_above() -> None:
    root = node(ROOT, deny("authenticated", "*"), dacls={"doc": [deny(ALICE, "read")]})
    doc = node("doc:a", allow(ALICE, "read"))
    decided(check([root, doc], "doc:a"), "explicit_allow", "doc:a")


def test_an_entry_for_another_action_or_principal_does_not_match() -> None:
    doc = node("doc:a", deny(ALICE, "write"), deny(BOB, "read"), allow(ALICE, "read"))
    decided(check([doc], "doc:a"), "explicit_allow", "doc:a", index=2)


def test_star_in_an_entry_matches_every_action() -> None:
    doc = node("doc:a", deny(BOB, "*"), allow(ALICE, "*"))
    for action in ("read", "write", "frobnicate", "*"):
        decided(check([doc], "doc:a", action), "explicit_allow", "doc:a", index=1)
    decided(check([doc], "doc:a", "read", user=BOB), "explicit_deny", "doc:a")


def test_a_check_for_star_is_matched_only_by_entries_naming_star() -> None:
    """The reading taken: ``*`` asked for is just another action name."""
    doc = node("doc:a", deny(ALICE, "read"), allow(ALICE, "read", "write"))
    decided(check([doc], "doc:a", "*"), "fallback")
    doc = node("doc:a", deny(ALICE, "read"), allow(ALICE, "*"))
    decided(check([doc], "doc:a", "*"), "explicit_allow", "doc:a", index=1)


# --- step 2: the rest of the chain -----------------------------------------------------------


def test_inherited_comes_from_the_nearest_ancestor_with_a_matching_entry() -> None:
    root = node(ROOT, deny(ALICE, "read"))
    top = node("folder:top", allow(ALICE, "read"), deny(ALICE, "write"))
    mid = node("folder:mid", allow(BOB, "read"), parent="folder:top")
    doc = node("doc:a", parent="folder:mid")
    tree = [root, top, mid, doc]
    decided(check(tree, "doc:a"), "inherited_allow", "folder:top", index=0)
    decided(check(tree, "doc:a", "write"), "inherited_deny", "folder:top", index=1)
    decided(check(tree, "doc:a", user=BOB), "inherited_allow", "folder:mid")
    decided(check(tree, "doc:a", "admin"), "fallback")


def test_inherited_deny_before_allow_within_the_ancestor() -> None:
    folder = node("folder:x", allow("authenticated", "read"), deny(STAFF, "read"))
    doc = node("doc:a", parent="folder:x")
    decided(check([folder, doc], "doc:a", groups=[STAFF]), "inherited_deny", "folder:x", 1)
    decided(check([folder, doc], "doc:a"), "inherited_allow", "folder:x", 0)


def test_the_tenant_root_ends_every_chain() -> None:
    root = node(ROOT, allow(ALICE, "read"))
    doc = node("doc:a", parent="folder:x")
    folder = node("folder:x")
    data = decided(check([root, folder, doc], "doc:a"), "inherited_allow", ROOT)
    assert data["matched"]["source"] == "acl"


def test_an_unregistered_resource_hangs_under_the_root_with_an_empty_acl() -> None:
    root = node(ROOT, allow(ALICE, "read"), dacls={"doc": [deny(ALICE, "write")]})
    decided(check([root], "doc:never-registered"), "inherited_allow", ROOT)
    decided(check([root], "doc:never-registered", "write"), "dacl_deny", ROOT)
    decided(check([root], "img:never-registered", "write"), "fallback")


def test_built_in_resources_hang_under_the_root_whatever_parent_is_stored() -> None:
    folder = node("folder:x", deny(ALICE, "read"))
    root = node(ROOT, allow(ALICE, "read"))
    for rid in (BOB, ADMINS, f"api_key:{_id(1)}", f"tenant:{_id(2)}"):
        stray = node(rid, parent="folder:x")
        decided(check([root, folder, stray], rid), "inherited_allow", ROOT)


def test_plain_resources_may_hang_under_built_in_ones() -> None:
    user_resource = node(BOB, allow(ALICE, "read"))
    doc = node("doc:a", parent=BOB)
    decided(check([user_resource, doc], "doc:a"), "inherited_allow", BOB)


# --- step 3: default ACLs --------------------------------------------------------------------


def test_every_acl_in_the_chain_comes_before_any_dacl() -> None:
    root = node(ROOT, allow(ALICE, "read"))
    doc = node("doc:a", dacls={"doc": [deny(ALICE, "read")]})
    decided(check([root, doc], "doc:a"), "inherited_allow", ROOT)


def test_dacl_for_the_type_comes_before_star_at_the_same_resource() -> None:
    folder = node(
        "folder:x",
        dacls={"*": [deny(ALICE, "read")], "doc": [allow(BOB, "read"), allow(ALICE, "read")]},
    )
    doc = node("doc:a", parent="folder:x")
    data = decided(check([folder, doc], "doc:a"), "dacl_allow", "folder:x", index=1)
    assert data["matched"] == {
        "resource": "folder:x",
        "source": "dacl",
        "applies_to": "doc",
        "index": 1,
        "entry": {"effect": "allow", "principal": ALICE, "actions": ["read"]},
    }
    assert list(data["matched"]) == ["resource", "source", "applies_to", "index", "entry"]
    # The type's DACL has no entry for Bob's write: the "*" one decides.
    folder = node("folder:x", dacls={"*": [deny(BOB, "write")], "doc": [allow(BOB, "read")]})
    data = decided(check([folder, doc], "doc:a", "write", user=BOB), "dacl_deny", "folder:x")
    assert data["matched"]["applies_to"] == "*"


def test_dacls_nearest_first_even_star_before_a_farther_type() -> None:
    root = node(ROOT, dacls={"doc": [deny(ALICE, "read")]})
    folder = node("folder:x", dacls={"*": [allow(ALICE, "read")]})
    doc = node("doc:a", parent="folder:x")
    data = decided(check([root, folder, doc], "doc:a"), "dacl_allow", "folder:x")
    assert data["matched"]["applies_to"] == "*"
    folder = node("folder:x", dacls={"*": [allow(BOB, "read")]})
    data = decided(check([root, folder, doc], "doc:a"), "dacl_deny", ROOT)
    assert data["matched"]["applies_to"] == "doc"


def test_a_dacl_applies_to_its_own_resource_and_only_to_its_type() -> None:
    folder = node("folder:x", dacls={"folder": [allow(ALICE, "read")]})
    doc = node("doc:a", parent="folder:x")
    decided(check([folder, doc], "folder:x"), "dacl_allow", "folder:x")
    decided(check([folder, doc], "doc:a"), "fallback")


def test_dacl_deny_before_allow_within_the_list() -> None:
    root = node(ROOT, dacls={"*": [allow(ALICE, "read"), deny(EVERYONE, "read", "write")]})
    decided(check([root], "doc:a", groups=[STAFF]), "dacl_deny", ROOT, index=1)


# --- step 4: the fallback --------------------------------------------------------------------


def test_fallback_denies_by_default_and_allows_when_configured() -> None:
    doc = node("doc:a", allow(BOB, "read"))
    assert check([doc], "doc:a").to_dict() == {
        "allowed": False,
        "decision": "fallback",
        "matched": None,
    }
    assert check([doc], "doc:a", fallback_allow=True).to_dict() == {
        "allowed": True,
        "decision": "fallback",
        "matched": None,
    }
    assert check([doc], "doc:a", fallback_allow=True) == Verdict(True, Decision.FALLBACK)


# --- inherit: false --------------------------------------------------------------------------


def test_inherit_false_on_the_resource_cuts_ancestors_acls_and_dacls() -> None:
    root = node(ROOT, allow(ALICE, "read"), dacls={"doc": [allow(ALICE, "write")]})
    folder = node("folder:x", allow(ALICE, "admin"), dacls={"*": [allow(ALICE, "delete")]})
    doc = node("doc:a", parent="folder:x", inherit=False, dacls={"doc": [allow(ALICE, "share")]})
    tree = [root, folder, doc]
    for action in ("read", "write", "admin", "delete"):
        decided(check(tree, "doc:a", action), "fallback")
    decided(check(tree, "doc:a", "share"), "dacl_allow", "doc:a")


def test_inherit_false_in_the_middle_ends_the_chain_there() -> None:
    root = node(ROOT, deny(ALICE, "read"), dacls={"doc": [deny(ALICE, "write")]})
    top = node("folder:top", deny(ALICE, "*"))
    mid = node(
        "folder:mid", allow(BOB, "read"), parent="folder:top", inherit=False,
        dacls={"doc": [allow(ALICE, "write")]},
    )  # fmt: skip
    doc = node("doc:a", parent="folder:mid")
    tree = [root, top, mid, doc]
    decided(check(tree, "doc:a", user=BOB), "inherited_allow", "folder:mid")
    decided(check(tree, "doc:a"), "fallback")
    decided(check(tree, "doc:a", "write"), "dacl_allow", "folder:mid")


def test_inherit_false_on_the_root_changes_nothing() -> None:
    root = node(ROOT, allow(ALICE, "read"), inherit=False)
    decided(check([root], "doc:a"), "inherited_allow", ROOT)


# --- principals: groups, owner, authenticated ------------------------------------------------


def test_group_entries_match_transitive_members() -> None:
    doc = node("doc:a", allow(EVERYONE, "read"))
    decided(check([doc], "doc:a", groups=[STAFF]), "explicit_allow", "doc:a")
    decided(check([doc], "doc:a", groups=[]), "fallback")
    decided(check([doc], "doc:a", groups=[ADMINS]), "fallback")


def test_authenticated_matches_anyone() -> None:
    doc = node("doc:a", allow("authenticated", "read"))
    for user in (ALICE, BOB, f"api_key:{_id(3)}"):
        decided(check([doc], "doc:a", user=user), "explicit_allow", "doc:a")


def test_owner_is_the_owner_of_the_checked_resource_wherever_the_entry_sits() -> None:
    root = node(ROOT, dacls={"*": [allow("owner", "write")]})
    folder = node("folder:x", allow("owner", "read"), owner=BOB)
    doc = node("doc:a", parent="folder:x", owner=ALICE)
    tree = [root, folder, doc]
    decided(check(tree, "doc:a"), "inherited_allow", "folder:x")
    decided(check(tree, "doc:a", user=BOB), "fallback")
    decided(check(tree, "folder:x", user=BOB), "explicit_allow", "folder:x")
    decided(check(tree, "folder:x"), "fallback")
    decided(check(tree, "doc:a", "write"), "dacl_allow", ROOT)
    decided(check(tree, "doc:a", "write", user=BOB), "fallback")


def test_a_resource_without_owner_matches_no_owner_entry() -> None:
    doc = node("doc:a", allow("owner", "*"))
    decided(check([doc], "doc:a"), "fallback")


def test_a_user_owns_its_own_user_resource() -> None:
    # The built-in default ACL of CONTRACT §5.
    root = node(ROOT, dacls={"user": [allow("owner", "read", "write")]})
    decided(check([root], ALICE), "dacl_allow", ROOT)
    decided(check([root], ALICE, "write"), "dacl_allow", ROOT)
    decided(check([root], ALICE, "delete"), "fallback")
    decided(check([root], BOB), "fallback")
    # Registered or not, and whatever owner the record names.
    decided(check([root, node(ALICE, owner=BOB)], ALICE), "dacl_allow", ROOT)
    decided(check([root, node(ALICE, owner=BOB)], ALICE, user=BOB), "fallback")


def test_a_group_owner_makes_its_transitive_members_owners() -> None:
    doc = node("doc:a", deny(BOB, "write"), allow("owner", "read", "write"), owner=EVERYONE)
    decided(check([doc], "doc:a", groups=[STAFF]), "explicit_allow", "doc:a", index=1)
    decided(check([doc], "doc:a"), "fallback")
    decided(check([doc], "doc:a", "write", user=BOB, groups=[STAFF]), "explicit_deny", "doc:a")


def test_owner_deny_applies_to_the_owner() -> None:
    doc = node("doc:a", allow("authenticated", "*"), deny("owner", "delete"), owner=ALICE)
    decided(check([doc], "doc:a", "delete"), "explicit_deny", "doc:a", index=1)
    decided(check([doc], "doc:a", "delete", user=BOB), "explicit_allow", "doc:a", index=0)


# --- loops and depth -------------------------------------------------------------------------


@pytest.mark.parametrize("fallback_allow", [False, True])
def test_a_resource_loop_denies_with_a_fault(fallback_allow: bool) -> None:
    root = node(ROOT, allow("authenticated", "*"))
    looping = [node("folder:a", parent="folder:b"), node("folder:b", parent="folder:a")]
    self_parent = [node("folder:c", allow(ALICE, "read"), parent="folder:c")]
    for tree, rid in ((looping, "folder:a"), (self_parent, "folder:c")):
        verdict = check([root, *tree], rid, fallback_allow=fallback_allow)
        assert verdict.to_dict() == {
            "allowed": False,
            "decision": "fallback",
            "matched": None,
            "fault": "resource_cycle",
        }


def test_a_loop_above_inherit_false_is_never_reached() -> None:
    tree = [
        node("folder:a", parent="folder:b"),
        node("folder:b", parent="folder:a"),
        node("doc:d", allow(ALICE, "read"), parent="folder:a", inherit=False),
    ]
    decided(check(tree, "doc:d"), "explicit_allow", "doc:d")


def line_of_folders(count: int) -> list[Node]:
    """folder:0 under folder:1 under ... under folder:<count-1> under the root."""
    return [
        node(f"folder:{i}", parent=f"folder:{i + 1}" if i + 1 < count else None)
        for i in range(count)
    ]


def test_a_chain_of_exactly_max_depth_steps_is_fine_one_more_denies() -> None:
    root = node(ROOT, allow(ALICE, "read"))
    # folder:0 .. folder:2, then the root: three steps up from folder:0.
    tree = [root, *line_of_folders(3)]
    decided(check(tree, "folder:0", max_depth=3), "inherited_allow", ROOT)
    verdict = check(tree, "folder:0", max_depth=2, fallback_allow=True)
    assert verdict == Verdict(False, Decision.FALLBACK, None, Fault.RESOURCE_TOO_DEEP)


def test_inheritance_chain_lists_the_nodes_nearest_first() -> None:
    tree = {n.id: n for n in [node(ROOT), *line_of_folders(3)]}
    chain, fault = inheritance_chain("folder:0", ROOT, tree.__getitem__, 32)
    assert fault is None
    assert [n.id for n in chain] == ["folder:0", "folder:1", "folder:2", ROOT]
    chain, fault = inheritance_chain(ROOT, ROOT, tree.__getitem__, 0)
    assert ([n.id for n in chain], fault) == ([ROOT], None)


@pytest.mark.parametrize("fallback_allow", [False, True])
def test_a_group_loop_denies_even_an_explicit_allow(fallback_allow: bool) -> None:
    doc = node("doc:a", allow(ALICE, "read"))
    nesting = {STAFF: [EVERYONE], EVERYONE: [STAFF]}
    verdict = check([doc], "doc:a", groups=[STAFF], nesting=nesting, fallback_allow=fallback_allow)
    assert verdict == Verdict(False, Decision.FALLBACK, None, Fault.GROUP_CYCLE)
    assert verdict.to_dict()["fault"] == "group_cycle"
    # A loop the user's groups never reach is no fault.
    nesting = {ADMINS: [ADMINS]}
    decided(check([doc], "doc:a", groups=[STAFF], nesting=nesting), "explicit_allow", "doc:a")


def test_too_deep_a_group_nesting_denies() -> None:
    doc = node("doc:a", allow(ALICE, "read"))
    verdict = check([doc], "doc:a", groups=[STAFF], max_depth=1)
    assert verdict == Verdict(False, Decision.FALLBACK, None, Fault.GROUP_TOO_DEEP)
    decided(check([doc], "doc:a", groups=[STAFF], max_depth=2), "explicit_allow", "doc:a")


# --- the tenant-root administration check ----------------------------------------------------


def test_own_acl_allows_reads_the_roots_own_acl_only() -> None:
    root = node(
        ROOT, allow(ADMINS, "*"), deny(BOB, "admin"), allow("authenticated", "introspect"),
        inherit=False, dacls={"*": [allow(BOB, "admin")]},
    )  # fmt: skip
    admin = subject_of(ALICE, [ADMINS], {}, 32)
    bob = subject_of(BOB, [ADMINS], {}, 32)
    carol = subject_of(f"user:{_id(0xCA)}", [], {}, 32)
    assert own_acl_allows(root, admin, "admin") is True
    assert own_acl_allows(root, bob, "admin") is False  # deny before allow
    assert own_acl_allows(root, bob, "read") is True
    assert own_acl_allows(root, carol, "introspect") is True
    assert own_acl_allows(root, carol, "admin") is False  # DACLs do not count


def test_own_acl_allows_matches_owner_entries_against_the_roots_owner() -> None:
    root = node(ROOT, deny("owner", "delete"), allow("owner", "*"), owner=EVERYONE)
    alice = subject_of(ALICE, [STAFF], NESTING, 32)
    bob = subject_of(BOB, [], NESTING, 32)
    assert own_acl_allows(root, alice, "admin") is True
    assert own_acl_allows(root, alice, "delete") is False
    assert own_acl_allows(root, bob, "admin") is False


def test_own_acl_allows_denies_on_a_group_fault() -> None:
    root = node(ROOT, allow("authenticated", "*"))
    faulty = Subject(ALICE, frozenset({ALICE, "authenticated"}), Fault.GROUP_CYCLE)
    assert own_acl_allows(root, faulty, "admin") is False


# --- membership ------------------------------------------------------------------------------

A, B, C, D, E = (f"group:{_id(0x100 + i)}" for i in range(5))


def test_group_depths_are_smallest_depths() -> None:
    # A diamond: A in B and C, both in D; D in E.
    parents = {A: [B, C], B: [D], C: [D], D: [E]}
    assert group_depths([A], parents, 32) == ({A: 1, B: 2, C: 2, D: 3, E: 4}, None)
    # C is direct as well as reachable through A: its depth is 1.
    assert group_depths([A, C], parents, 32) == ({A: 1, C: 1, B: 2, D: 2, E: 3}, None)
    assert group_depths([A, A], {}, 32) == ({A: 1}, None)
    assert group_depths([], parents, 32) == ({}, None)


def test_group_depths_report_loops() -> None:
    assert group_depths([A], {A: [B], B: [C], C: [A]}, 32)[1] is Fault.GROUP_CYCLE
    assert group_depths([A], {A: [A]}, 32)[1] is Fault.GROUP_CYCLE
    assert group_depths([A], {A: [B], C: [C]}, 32) == ({A: 1, B: 2}, None)


def test_group_depths_report_too_deep_chains() -> None:
    line = {A: [B], B: [C], C: [D]}
    assert group_depths([A], line, 4) == ({A: 1, B: 2, C: 3, D: 4}, None)
    assert group_depths([A], line, 3)[1] is Fault.GROUP_TOO_DEEP
    # Only the smallest depth counts: D is also direct.
    assert group_depths([A, D], line, 3) == ({A: 1, D: 1, B: 2, C: 3}, None)


def test_subject_of_names_the_principal_its_groups_and_authenticated() -> None:
    subject = subject_of(ALICE, [STAFF], NESTING, 32)
    assert subject == Subject(ALICE, frozenset({ALICE, "authenticated", STAFF, EVERYONE}))


# --- validation ------------------------------------------------------------------------------


def assert_invalid(kind: str, call: Any, *args: Any, **kwargs: Any) -> InvalidValue:
    with pytest.raises(InvalidValue) as caught:
        call(*args, **kwargs)
    assert caught.value.kind == kind
    return caught.value


def test_acl_entry_create_keeps_actions_in_order_without_repeats() -> None:
    upper = _id(0xA11CE).upper()
    got = AclEntry.create("deny", f"user:{upper}", ["write", "read", "write", "*"], "entries")
    assert got == AclEntry(Effect.DENY, ALICE, ("write", "read", "*"))
    assert got.to_dict() == {
        "effect": "deny",
        "principal": ALICE,
        "actions": ["write", "read", "*"],
    }
    assert AclEntry.from_dict(got.to_dict()) == got
    long_action = "a" + "b" * 63
    assert AclEntry.create("allow", "owner", [long_action], "x").actions == (long_action,)
    assert AclEntry.create("allow", "authenticated", ["x.y-z_1"], "x").actions == ("x.y-z_1",)


@pytest.mark.parametrize(
    ("effect", "principal", "actions", "kind"),
    [
        ("permit", ALICE, ["read"], "invalid_effect"),
        ("Allow", ALICE, ["read"], "invalid_effect"),
        ("allow", ALICE, [], "invalid_action"),
        ("allow", ALICE, ["Read"], "invalid_action"),
        ("allow", ALICE, ["1read"], "invalid_action"),
        ("allow", ALICE, [""], "invalid_action"),
        ("allow", ALICE, ["re ad"], "invalid_action"),
        ("allow", ALICE, ["**"], "invalid_action"),
        ("allow", ALICE, ["a" * 65], "invalid_action"),
        ("allow", ALICE, [f"a{i}" for i in range(MAX_ACTIONS + 1)], "too_long"),
        ("allow", "everyone", ["read"], "invalid_principal"),
        ("allow", "user:alice", ["read"], "invalid_principal"),
        ("allow", f"role:{_id(1)}", ["read"], "invalid_principal"),
        ("allow", "", ["read"], "invalid_principal"),
    ],
)
def test_acl_entry_create_rejects(
    effect: str, principal: str, actions: list[str], kind: str
) -> None:
    error = assert_invalid(kind, AclEntry.create, effect, principal, actions, "entries.3")
    assert error.field == "entries.3"


def test_at_most_max_actions_and_max_entries() -> None:
    actions = [f"a{i}" for i in range(MAX_ACTIONS)]
    assert len(AclEntry.create("allow", ALICE, actions, "x").actions) == MAX_ACTIONS
    entries = [allow(ALICE, "read")] * MAX_ENTRIES
    check_entry_count(entries)
    assert_invalid("too_long", check_entry_count, [*entries, allow(BOB, "read")])


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("owner", "owner"),
        ("authenticated", "authenticated"),
        (f"user:{_id(0xAB).upper()}", f"user:{_id(0xAB)}"),
        (f"group:{uuid.UUID(int=0xAB).hex}", f"group:{_id(0xAB)}"),
        (f"api_key:{_id(7)}", f"api_key:{_id(7)}"),
    ],
)
def test_parse_principal_canonical_forms(raw: str, canonical: str) -> None:
    assert parse_principal(raw, "principal") == canonical


@pytest.mark.parametrize(
    "raw",
    ["Owner", "user:", "user:bob", f"User:{_id(1)}", f"tenant:{_id(1)}", _id(1), f"user {_id(1)}"],
)
def test_parse_principal_rejects(raw: str) -> None:
    assert_invalid("invalid_principal", parse_principal, raw, "principal")


def test_owners_and_subjects_are_concrete_principals() -> None:
    for special in ("owner", "authenticated"):
        assert_invalid("invalid_principal", parse_principal, special, "owner", special=False)
    assert parse_principal(ALICE, "owner", special=False) == ALICE


@pytest.mark.parametrize(
    ("raw", "type_", "ident"),
    [
        ("doc:readme", "doc", "readme"),
        ("a:b", "a", "b"),
        ("doc:a:b/c?d", "doc", "a:b/c?d"),
        ("doc:résumé", "doc", "résumé"),
        (f"x{'y' * 31}:1", f"x{'y' * 31}", "1"),
        ("my-type_2:" + "i" * 200, "my-type_2", "i" * 200),
        (f"user:{_id(0xAB).upper()}", "user", _id(0xAB)),
        (f"tenant:{uuid.UUID(int=9).hex}", "tenant", _id(9)),
    ],
)
def test_resource_name_parse(raw: str, type_: str, ident: str) -> None:
    name = ResourceName.parse(raw)
    assert (name.type, name.id, str(name)) == (type_, ident, f"{type_}:{ident}")
    assert name.reserved is (type_ in {"tenant", "user", "group", "api_key"})


@pytest.mark.parametrize(
    "raw",
    [
        "readme",
        ":readme",
        "Doc:readme",
        "1doc:readme",
        "do c:readme",
        "doc*:readme",
        f"x{'y' * 32}:1",
        "doc:",
        "doc:" + "i" * 201,
        "doc:a b",
        "doc:a\tb",
        "doc:a\nb",
        "doc:a\x00b",
        "doc:a\u00a0b",
        "user:alice",
        "group:1234",
        "api_key:",
        "tenant:default",
    ],
)
def test_resource_name_parse_rejects(raw: str) -> None:
    error = assert_invalid("invalid_resource", ResourceName.parse, raw, "parent")
    assert error.field == "parent"


@pytest.mark.parametrize("raw", ["*", "doc", "user", "a", "my-type_2", "x" * 32])
def test_parse_applies_to_accepts_types_and_star(raw: str) -> None:
    assert parse_applies_to(raw) == raw


@pytest.mark.parametrize("raw", ["", "**", "Doc", "1doc", "doc:a", "doc ", "x" * 33, "do*"])
def test_parse_applies_to_rejects(raw: str) -> None:
    error = assert_invalid("invalid_resource_type", parse_applies_to, raw)
    assert error.field == "applies_to"
