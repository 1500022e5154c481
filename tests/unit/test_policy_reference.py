"""The decision engine against a reference evaluator written straight from CONTRACT §5.

The reference works on plain dicts and lists and follows the contract's sentences one at a
time; it shares nothing with ``truapi.domain.policy`` but the words of its answers. Hypothesis
builds random tenant trees (built-in types, owners that are users or groups, ``inherit: false``
anywhere, default ACLs for a type and for ``*``), random group nestings and random checks, and
the engine has to give exactly the reference's answer, ``matched`` included.

Readings taken where the contract leaves room:

- ``owner`` on ``user:<id>`` is that user (whatever owner may be stored on the record); on any
  other resource it is the stored owner, and a group owner makes the group's transitive
  members the owner, as ``group:<id>`` entries do.
- An entry matches an action when it names that action or ``*``; a check *for* ``*`` is
  matched only by entries naming ``*``.
- A group's depth is its smallest depth (1 = a direct group, as in the member listings);
  "deeper than the maximum" means some group the principal reaches has a depth above it.
  A resource chain is too deep when it needs more than the maximum parent steps. Only the
  part of the data a check walks through can fault it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truapi.domain.policy.acl import AclEntry, CompiledEntries
from truapi.domain.policy.engine import (
    Fault,
    Node,
    evaluate,
    inheritance_chain,
    own_acl_allows,
)
from truapi.domain.policy.membership import group_depths, subject_of


class EntryDict(TypedDict):
    effect: str
    principal: str
    actions: list[str]


class AclDict(TypedDict):
    inherit: bool
    entries: list[EntryDict]


class ResourceDict(TypedDict):
    parent: str | None
    owner: str | None
    acl: AclDict
    dacls: dict[str, list[EntryDict]]


Tree = dict[str, ResourceDict]  # rid -> its record; the tenant root is always present
Nesting = dict[str, list[str]]  # group -> the groups it is a direct member of


def _id(n: int) -> str:
    return str(uuid.UUID(int=n))


ROOT = f"tenant:{_id(0x7E7E)}"
ALICE = f"user:{_id(0xA11CE)}"
BOB = f"user:{_id(0xB0B)}"
CAROL = f"user:{_id(0xCA201)}"
USERS = (ALICE, BOB, CAROL)
GROUPS = tuple(f"group:{_id(0x6000 + i)}" for i in range(6))
API_KEY = f"api_key:{_id(0xAC)}"

PLAIN = ("doc:a", "doc:b", "folder:x", "folder:y", "folder:z", "img:1")
BUILT_IN = (*USERS, GROUPS[0], GROUPS[1], API_KEY)
CANDIDATES = PLAIN + BUILT_IN
NEVER_REGISTERED = ("doc:ghost", "folder:ghost", f"user:{_id(0xD0D0)}", f"group:{_id(0x6FFF)}")
CHECKED = (ROOT, *CANDIDATES, *NEVER_REGISTERED)

ENTRY_ACTIONS = ("read", "write", "admin", "*")
CHECK_ACTIONS = ("read", "write", "admin", "delete", "*")
ENTRY_PRINCIPALS = (*USERS, *GROUPS, API_KEY, "owner", "authenticated")
OWNERS = (None, *USERS, *GROUPS, API_KEY)
DACL_TYPES = ("doc", "folder", "img", "user", "group", "tenant", "*")

# CONTRACT §5: "The built-in types tenant, user, group and api_key ... hang under the tenant root".
BUILT_IN_TYPES = frozenset({"tenant", "user", "group", "api_key"})
MAX_DEPTH = 32

# Together these run over 100,000 checks in a few seconds. The too_slow health check is off:
# on a busy machine generation can look slow without being so.
_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
SWEEP = settings(max_examples=300, **_COMMON)
ROOT_ONLY = settings(max_examples=400, **_COMMON)
FAULTY = settings(max_examples=250, **_COMMON)


# --- the reference, from the contract's text ------------------------------------------------


def type_of(rid: str) -> str:
    return rid.partition(":")[0]


def empty_record() -> ResourceDict:
    return {"parent": None, "owner": None, "acl": {"inherit": True, "entries": []}, "dacls": {}}


def record(tree: Tree, rid: str) -> ResourceDict:
    """Contract: "A check on an unregistered resource treats it as a childless resource under
    the tenant root with an empty ACL"."""
    return tree.get(rid) or empty_record()


def parent_of(tree: Tree, root: str, rid: str) -> str:
    """Contract: "One without a parent ... hangs under the tenant root"; built-in types always
    do."""
    parent = record(tree, rid)["parent"]
    if type_of(rid) in BUILT_IN_TYPES or parent is None:
        return root
    return parent


def walk(tree: Tree, root: str, rid: str) -> tuple[list[str], int | None]:
    """R, then its ancestors nearest first, "ending at the first resource in it (R included)
    whose ACL has inherit: false, or else at the tenant root". When the walk comes back to a
    resource it already passed, the second value is the step that closes the loop."""
    path = [rid]
    while True:
        last = path[-1]
        if last == root or not record(tree, last)["acl"]["inherit"]:
            return path, None
        parent = parent_of(tree, root, last)
        if parent in path:
            return path, len(path)
        path.append(parent)


def reachable(start: list[str], nesting: Nesting) -> set[str]:
    found: set[str] = set()
    todo = list(start)
    while todo:
        group = todo.pop()
        if group not in found:
            found.add(group)
            todo.extend(nesting.get(group, []))
    return found


def smallest_depths(direct: list[str], nesting: Nesting) -> dict[str, int]:
    """Each reachable group's shortest distance, direct groups at 1 (relaxed until stable)."""
    depth = dict.fromkeys(direct, 1)
    changed = True
    while changed:
        changed = False
        for group, d in list(depth.items()):
            for parent in nesting.get(group, []):
                if depth.get(parent, d + 2) > d + 1:
                    depth[parent] = d + 1
                    changed = True
    return depth


def group_faults(direct: list[str], nesting: Nesting, max_depth: int) -> set[Fault]:
    """The faults a correct engine may report for this principal's membership: none, one,
    or (when the nesting both loops and runs too deep) either of the two."""
    depths = smallest_depths(direct, nesting)
    cyclic = any(group in reachable(nesting.get(group, []), nesting) for group in depths)
    too_deep = any(d > max_depth for d in depths.values())
    faults: set[Fault] = set()
    if cyclic:
        faults.add(Fault.GROUP_CYCLE)
    if too_deep:
        faults.add(Fault.GROUP_TOO_DEEP)
    return faults


def owner_of(tree: Tree, rid: str) -> str | None:
    """Contract: "a user owns user:<own id>"; other resources "may have an owner principal"."""
    if type_of(rid) == "user":
        return rid
    return record(tree, rid)["owner"]


def names(principal: str, user: str, groups: set[str], owner: str | None) -> bool:
    """Whether an entry's principal covers ``user`` (whose groups, transitively, are
    ``groups``), ``owner`` being the owner of the resource being checked."""
    if principal == "authenticated":
        return True
    if principal == "owner":
        return owner is not None and (owner == user or owner in groups)
    return principal == user or principal in groups


Matcher = Callable[[EntryDict], bool]


def deny_before_allow(entries: list[EntryDict], matches: Matcher) -> tuple[int, EntryDict] | None:
    for effect in ("deny", "allow"):
        for index, entry in enumerate(entries):
            if entry["effect"] == effect and matches(entry):
                return index, entry
    return None


def answer(
    step: str, hit: tuple[int, EntryDict], resource: str, source: str, applies_to: str | None
) -> dict[str, Any]:
    index, entry = hit
    matched: dict[str, Any] = {"resource": resource, "source": source}
    if applies_to is not None:
        matched["applies_to"] = applies_to
    matched["index"] = index
    matched["entry"] = {
        "effect": entry["effect"],
        "principal": entry["principal"],
        "actions": list(entry["actions"]),
    }
    allowed = entry["effect"] == "allow"
    return {"allowed": allowed, "decision": f"{step}_{entry['effect']}", "matched": matched}


def reference_check(
    tree: Tree,
    root: str,
    user: str,
    direct: list[str],
    nesting: Nesting,
    action: str,
    rid: str,
    *,
    fallback_allow: bool = False,
) -> dict[str, Any]:
    """The four steps of CONTRACT §5, on data without loops."""
    groups = reachable(direct, nesting)
    owner = owner_of(tree, rid)

    def matches(entry: EntryDict) -> bool:
        if action not in entry["actions"] and "*" not in entry["actions"]:
            return False
        return names(entry["principal"], user, groups, owner)

    chain, loop = walk(tree, root, rid)
    assert loop is None
    # 1. R's own ACL.
    hit = deny_before_allow(record(tree, rid)["acl"]["entries"], matches)
    if hit is not None:
        return answer("explicit", hit, rid, "acl", None)
    # 2. The rest of the chain, nearest first.
    for ancestor in chain[1:]:
        hit = deny_before_allow(record(tree, ancestor)["acl"]["entries"], matches)
        if hit is not None:
            return answer("inherited", hit, ancestor, "acl", None)
    # 3. DACLs along the whole chain, nearest first: R's type, then "*".
    for holder in chain:
        for applies_to in (type_of(rid), "*"):
            dacl = record(tree, holder)["dacls"].get(applies_to)
            if dacl is None:
                continue
            hit = deny_before_allow(dacl, matches)
            if hit is not None:
                return answer("dacl", hit, holder, "dacl", applies_to)
    # 4. The fallback.
    return {"allowed": fallback_allow, "decision": "fallback", "matched": None}


def reference_own_acl_allows(
    tree: Tree, root: str, user: str, direct: list[str], nesting: Nesting, action: str
) -> bool:
    """The tenant-root administration check: the root's own ACL only, deny before allow."""
    groups = reachable(direct, nesting)
    owner = owner_of(tree, root)

    def matches(entry: EntryDict) -> bool:
        if action not in entry["actions"] and "*" not in entry["actions"]:
            return False
        return names(entry["principal"], user, groups, owner)

    hit = deny_before_allow(record(tree, root)["acl"]["entries"], matches)
    return hit is not None and hit[1]["effect"] == "allow"


def denied(fault: Fault) -> dict[str, Any]:
    return {"allowed": False, "decision": "fallback", "matched": None, "fault": fault.value}


# --- the engine, fed the same data ----------------------------------------------------------


def compiled(entries: list[EntryDict]) -> CompiledEntries:
    return CompiledEntries.of(
        [AclEntry.create(e["effect"], e["principal"], e["actions"], "entries") for e in entries]
    )


def lookup_for(tree: Tree) -> Callable[[str], Node]:
    nodes = {
        rid: Node(
            id=rid,
            type=type_of(rid),
            parent=rec["parent"],
            owner=rec["owner"],
            inherit=rec["acl"]["inherit"],
            acl=compiled(rec["acl"]["entries"]),
            dacls={applies_to: compiled(e) for applies_to, e in rec["dacls"].items()},
        )
        for rid, rec in tree.items()
    }

    def lookup(rid: str) -> Node:
        return nodes.get(rid) or Node(id=rid, type=type_of(rid))

    return lookup


def engine_check(
    lookup: Callable[[str], Node],
    user: str,
    direct: list[str],
    nesting: Nesting,
    action: str,
    rid: str,
    *,
    fallback_allow: bool = False,
    group_depth: int = MAX_DEPTH,
    resource_depth: int = MAX_DEPTH,
) -> dict[str, Any]:
    subject = subject_of(user, direct, nesting, group_depth)
    chain, fault = inheritance_chain(rid, ROOT, lookup, resource_depth)
    verdict = evaluate(subject, action, chain, fallback_allow=fallback_allow, fault=fault)
    return verdict.to_dict()


# --- strategies -----------------------------------------------------------------------------
# Entries and records are drawn as small integers and decoded here: far fewer draws than
# nested strategies, so many more cases in the same time, and they still shrink towards
# "allow, Alice, read" and records without parents, owners or entries.

ACTION_SETS = tuple(
    list(combo) for size in (1, 2, 3) for combo in itertools.combinations(ENTRY_ACTIONS, size)
)
ENTRY_CODES = 2 * len(ENTRY_PRINCIPALS) * len(ACTION_SETS)


def entry(effect: str, principal: str, actions: list[str]) -> EntryDict:
    return {"effect": effect, "principal": principal, "actions": actions}


def decode_entry(code: int) -> EntryDict:
    code, actions = divmod(code, len(ACTION_SETS))
    effect, principal = divmod(code, len(ENTRY_PRINCIPALS))
    return entry(("allow", "deny")[effect], ENTRY_PRINCIPALS[principal], ACTION_SETS[actions])


entry_codes_st = st.lists(st.integers(0, ENTRY_CODES - 1), max_size=4)
record_st = st.tuples(
    st.integers(0, len(OWNERS) - 1),  # owner
    st.integers(0, 3),  # inherit: false one time in four
    entry_codes_st,  # the ACL's entries
    st.lists(st.tuples(st.integers(0, len(DACL_TYPES) - 1), entry_codes_st), max_size=2),
)


def decode_record(parent: str | None, code: tuple[int, int, list[int], Any]) -> ResourceDict:
    owner, inherit, entries, dacls = code
    return {
        "parent": parent,
        "owner": OWNERS[owner],
        "acl": {"inherit": inherit != 3, "entries": [decode_entry(e) for e in entries]},
        "dacls": {DACL_TYPES[t]: [decode_entry(e) for e in es] for t, es in dacls},
    }


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    """A tenant tree: the root, then resources each hung under one placed before it (or under
    nothing). Built-in resources mostly have no stored parent; some do, which must not count."""
    tree: Tree = {ROOT: decode_record(None, draw(record_st))}
    order = draw(st.permutations(CANDIDATES))
    placed: list[str] = [ROOT]
    for rid in order[: draw(st.integers(0, len(order)))]:
        built_in = type_of(rid) in BUILT_IN_TYPES
        choice = draw(st.integers(-2 if built_in else 0, len(placed)))
        parent = placed[choice - 1] if choice > 0 else None
        tree[rid] = decode_record(parent, draw(record_st))
        placed.append(rid)
    return tree


@st.composite
def acyclic_nestings(draw: st.DrawFn) -> Nesting:
    """Each group nested only in groups after it in a random order."""
    order = draw(st.permutations(GROUPS))
    nesting: Nesting = {}
    for i, group in enumerate(order):
        later = order[i + 1 :]
        picks = draw(st.lists(st.integers(0, len(later) - 1), max_size=2)) if later else []
        nesting[group] = list(dict.fromkeys(later[p] for p in picks))
    return nesting


@st.composite
def any_nestings(draw: st.DrawFn) -> Nesting:
    """Any graph at all: loops, self-membership, long lines."""
    line = draw(st.permutations(GROUPS))
    shape = draw(st.sampled_from(("random", "line", "line-with-back-edge")))
    if shape == "random":
        picks = st.lists(st.integers(0, len(GROUPS) - 1), max_size=3)
        return {g: list(dict.fromkeys(GROUPS[p] for p in draw(picks))) for g in GROUPS}
    nesting: Nesting = {a: [b] for a, b in itertools.pairwise(line)}
    if shape == "line-with-back-edge":
        i = draw(st.integers(0, len(line) - 1))
        j = draw(st.integers(0, i))
        nesting.setdefault(line[i], []).append(line[j])
    return nesting


direct_groups_st = st.lists(st.sampled_from(GROUPS), unique=True, max_size=3)
memberships_st = st.fixed_dictionaries(dict.fromkeys(USERS, direct_groups_st))


@dataclass(frozen=True)
class Scenario:
    tree: Tree
    nesting: Nesting
    direct: dict[str, list[str]]  # user -> its direct groups


scenarios = st.builds(Scenario, trees(), acyclic_nestings(), memberships_st)

resource_types_st = st.sampled_from(("doc", "folder", "note", "user", "group", "api_key"))
id_text_st = st.text(
    st.characters(codec="utf-8", exclude_categories=("C", "Z")), min_size=1, max_size=12
)


@st.composite
def any_resource(draw: st.DrawFn) -> str:
    """A named resource in the tree, or any other well-formed name (so most are unknown)."""
    if draw(st.booleans()):
        return draw(st.sampled_from(CHECKED))
    kind = draw(resource_types_st)
    ident = str(draw(st.uuids())) if kind in BUILT_IN_TYPES else draw(id_text_st)
    return f"{kind}:{ident}"


# --- the engine gives the reference's answer ------------------------------------------------


@SWEEP
@given(scenario=scenarios, extra=any_resource(), fallback_allow=st.booleans())
def test_every_check_in_a_random_tree_matches_the_reference(
    scenario: Scenario, extra: str, fallback_allow: bool
) -> None:
    """Every user x every action x every resource: registered, built-in, never registered,
    and one more drawn from all well-formed names."""
    lookup = lookup_for(scenario.tree)
    for user in USERS:
        direct = scenario.direct[user]
        for rid in (*CHECKED, extra):
            for action in CHECK_ACTIONS:
                got = engine_check(
                    lookup, user, direct, scenario.nesting, action, rid,
                    fallback_allow=fallback_allow,
                )  # fmt: skip
                want = reference_check(
                    scenario.tree, ROOT, user, direct, scenario.nesting, action, rid,
                    fallback_allow=fallback_allow,
                )  # fmt: skip
                assert got == want, (user, action, rid)


# --- loops and depth in the group nesting ----------------------------------------------------


@FAULTY
@given(
    tree=trees(),
    nesting=any_nestings(),
    direct=st.lists(st.sampled_from(GROUPS), max_size=3),
    max_depth=st.integers(1, 7),
    fallback_allow=st.booleans(),
)
def test_group_loops_and_depth_deny_with_a_fault(
    tree: Tree, nesting: Nesting, direct: list[str], max_depth: int, fallback_allow: bool
) -> None:
    """A loop or too deep a nesting among the groups Alice reaches denies every check, even
    with the fallback set to allow, and never raises; loops elsewhere change nothing."""
    expected = group_faults(direct, nesting, max_depth)
    depths, fault = group_depths(direct, nesting, max_depth)
    subject = subject_of(ALICE, direct, nesting, max_depth)
    assert subject.fault == fault
    lookup = lookup_for(tree)
    if not expected:
        assert fault is None
        assert depths == smallest_depths(direct, nesting)
        assert subject.principals == {ALICE, "authenticated", *depths}
    else:
        assert fault in expected
        assert own_acl_allows(lookup(ROOT), subject, "admin") is False
    for rid in CHECKED:
        for action in CHECK_ACTIONS:
            got = engine_check(
                lookup, ALICE, direct, nesting, action, rid,
                fallback_allow=fallback_allow, group_depth=max_depth,
            )  # fmt: skip
            if expected:
                assert "fault" in got
                assert Fault(got["fault"]) in expected
                assert got == denied(Fault(got["fault"]))
            else:
                want = reference_check(
                    tree, ROOT, ALICE, direct, nesting, action, rid, fallback_allow=fallback_allow
                )
                assert got == want


# --- loops and depth in the resource parents -------------------------------------------------

FOLDERS = tuple(f"folder:f{i}" for i in range(8))


@st.composite
def looping_trees(draw: st.DrawFn) -> Tree:
    """Folders whose stored parents may form loops (self-parent included) or long lines."""
    tree: Tree = {ROOT: decode_record(None, draw(record_st))}
    if draw(st.booleans()):
        parents = (None, ROOT, *FOLDERS)
        for folder in FOLDERS:
            parent = parents[draw(st.integers(0, len(parents) - 1))]
            tree[folder] = decode_record(parent, draw(record_st))
    else:
        line = draw(st.permutations(FOLDERS))
        last = draw(st.sampled_from((None, ROOT, *line)))
        for child, parent in zip(line, (*line[1:], last), strict=True):
            tree[child] = decode_record(parent, draw(record_st))
    return tree


@FAULTY
@given(
    tree=looping_trees(),
    nesting=acyclic_nestings(),
    direct=st.lists(st.sampled_from(GROUPS), max_size=3),
    max_depth=st.integers(1, 9),
    fallback_allow=st.booleans(),
)
def test_resource_loops_and_depth_deny_with_a_fault(
    tree: Tree, nesting: Nesting, direct: list[str], max_depth: int, fallback_allow: bool
) -> None:
    """A loop or too long a chain on the way up from the checked resource denies, even with
    the fallback set to allow, and never raises; one beyond an ``inherit: false`` is never
    reached."""
    lookup = lookup_for(tree)
    for rid in (ROOT, *FOLDERS, "doc:ghost"):
        path, loop = walk(tree, ROOT, rid)
        if loop is not None:
            expected = {Fault.RESOURCE_CYCLE}
            if loop > max_depth:
                expected.add(Fault.RESOURCE_TOO_DEEP)
        elif len(path) - 1 > max_depth:
            expected = {Fault.RESOURCE_TOO_DEEP}
        else:
            expected = set()
        chain, fault = inheritance_chain(rid, ROOT, lookup, max_depth)
        if expected:
            assert fault in expected, (rid, path, loop)
        else:
            assert fault is None
            assert [node.id for node in chain] == path
        for action in CHECK_ACTIONS:
            got = engine_check(
                lookup, ALICE, direct, nesting, action, rid,
                fallback_allow=fallback_allow, resource_depth=max_depth,
            )  # fmt: skip
            if fault is not None:
                assert got == denied(fault)
            else:
                want = reference_check(
                    tree, ROOT, ALICE, direct, nesting, action, rid, fallback_allow=fallback_allow
                )
                assert got == want


# --- the tenant-root administration check ----------------------------------------------------


@ROOT_ONLY
@given(
    root=record_st,
    nesting=acyclic_nestings(),
    direct=direct_groups_st,
    user=st.sampled_from(USERS),
)
def test_own_acl_allows_is_the_roots_own_acl_deny_before_allow(
    root: tuple[int, int, list[int], Any], nesting: Nesting, direct: list[str], user: str
) -> None:
    """The root's inherit flag and DACLs change nothing, and the answer is step 1 of a check
    on the root, ``owner`` entries matching the root's owner."""
    tree: Tree = {ROOT: decode_record(None, root)}
    node = lookup_for(tree)(ROOT)
    subject = subject_of(user, direct, nesting, MAX_DEPTH)
    for action in CHECK_ACTIONS:
        want = reference_own_acl_allows(tree, ROOT, user, direct, nesting, action)
        assert own_acl_allows(node, subject, action) is want
        step_one = reference_check(tree, ROOT, user, direct, nesting, action, ROOT)
        assert want is (step_one["decision"] == "explicit_allow")


@pytest.mark.parametrize(
    ("entries", "want"),
    [
        ([entry("allow", "owner", ["admin"])], True),
        ([entry("deny", "owner", ["admin"]), entry("allow", "authenticated", ["*"])], False),
    ],
    ids=["owner-allowed", "owner-denied"],
)
def test_own_acl_allows_on_an_owned_root(entries: list[EntryDict], want: bool) -> None:
    """``owner`` names the owner of the resource being checked, here the root itself."""
    tree: Tree = {ROOT: {**empty_record(), "owner": ALICE}}
    tree[ROOT]["acl"]["entries"] = entries
    assert reference_own_acl_allows(tree, ROOT, ALICE, [], {}, "admin") is want
    step_one = engine_check(lookup_for(tree), ALICE, [], {}, "admin", ROOT)
    assert step_one["allowed"] is want
    subject = subject_of(ALICE, [], {}, MAX_DEPTH)
    assert own_acl_allows(lookup_for(tree)(ROOT), subject, "admin") is want
