"""The decision engine: pure, deterministic, and it says why.

The order (CONTRACT §5): the resource's own ACL (deny before allow), then the rest of the
inheritance chain nearest first, then default ACLs along the chain (the resource's type
before ``*``, nearest first), then the fallback. Loading and caching happen elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from truapi.domain.policy.acl import ANY_TYPE, EMPTY, AclEntry, CompiledEntries, Effect
from truapi.domain.policy.principals import OWNER
from truapi.domain.policy.resources import RESERVED_TYPES, USER


class Decision(StrEnum):
    EXPLICIT_DENY = "explicit_deny"
    EXPLICIT_ALLOW = "explicit_allow"
    INHERITED_DENY = "inherited_deny"
    INHERITED_ALLOW = "inherited_allow"
    DACL_DENY = "dacl_deny"
    DACL_ALLOW = "dacl_allow"
    FALLBACK = "fallback"


class Fault(StrEnum):
    """Why stored data could not be evaluated; any fault denies."""

    RESOURCE_CYCLE = "resource_cycle"
    RESOURCE_TOO_DEEP = "resource_too_deep"
    GROUP_CYCLE = "group_cycle"
    GROUP_TOO_DEEP = "group_too_deep"


@dataclass(frozen=True, slots=True)
class Match:
    """The entry that decided: where it sits and its position in its list."""

    resource: str
    source: str  # "acl" | "dacl"
    index: int
    entry: AclEntry
    applies_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"resource": self.resource, "source": self.source}
        if self.applies_to is not None:
            data["applies_to"] = self.applies_to
        data["index"] = self.index
        data["entry"] = self.entry.to_dict()
        return data


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    decision: Decision
    matched: Match | None = None
    fault: Fault | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "allowed": self.allowed,
            "decision": self.decision.value,
            "matched": self.matched.to_dict() if self.matched else None,
        }
        if self.fault is not None:
            data["fault"] = self.fault.value
        return data


@dataclass(frozen=True, slots=True)
class Node:
    """One resource as the engine sees it: parent (None = under the root), owner, its own
    ACL (compiled) and its default ACLs by ``applies_to``."""

    id: str
    type: str
    parent: str | None = None
    owner: str | None = None
    inherit: bool = True
    acl: CompiledEntries = EMPTY
    dacls: Mapping[str, CompiledEntries] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asking, as the set of principal names entries may use: itself, its
    groups (transitively) and ``authenticated``. ``fault`` set means its groups could not
    be resolved safely, and every check denies."""

    principal: str
    principals: frozenset[str]
    fault: Fault | None = None


NodeLookup = Callable[[str], Node]


def inheritance_chain(
    resource: str, root: str, lookup: NodeLookup, max_depth: int
) -> tuple[list[Node], Fault | None]:
    """R, then its ancestors nearest first, ending at the first ``inherit: false`` (R
    included) or at the tenant root. More than ``max_depth`` steps, or a loop, is a fault."""
    chain: list[Node] = []
    seen: set[str] = set()
    current = resource
    while True:
        if current in seen:
            return chain, Fault.RESOURCE_CYCLE
        if len(chain) > max_depth:
            return chain, Fault.RESOURCE_TOO_DEEP
        seen.add(current)
        node = lookup(current)
        chain.append(node)
        if not node.inherit or current == root:
            return chain, None
        current = (
            node.parent if node.parent is not None and node.type not in RESERVED_TYPES else root
        )


def owner_of(node: Node) -> str | None:
    """A user owns its own ``user:`` resource; other resources name their owner."""
    if node.type == USER:
        return node.id
    return node.owner


def _scan(
    entries: CompiledEntries, action: str, principals: frozenset[str]
) -> tuple[int, AclEntry] | None:
    """The first matching deny, else the first matching allow, else None."""
    allow: tuple[int, AclEntry] | None = None
    for pair in entries.for_action(action):
        entry = pair[1]
        if entry.principal in principals:
            if entry.effect is Effect.DENY:
                return pair
            if allow is None:
                allow = pair
    return allow


_EXPLICIT = (Decision.EXPLICIT_DENY, Decision.EXPLICIT_ALLOW)
_INHERITED = (Decision.INHERITED_DENY, Decision.INHERITED_ALLOW)
_DACL = (Decision.DACL_DENY, Decision.DACL_ALLOW)


def _verdict(
    pair: tuple[int, AclEntry], decisions: tuple[Decision, Decision], match: Match
) -> Verdict:
    denied = pair[1].effect is Effect.DENY
    return Verdict(not denied, decisions[0] if denied else decisions[1], match)


def evaluate(
    subject: Subject,
    action: str,
    chain: list[Node],
    *,
    fallback_allow: bool = False,
    fault: Fault | None = None,
) -> Verdict:
    """Decide ``action`` by ``subject`` on ``chain[0]`` along its inheritance chain."""
    fault = fault or subject.fault
    if fault is not None or not chain:
        return Verdict(False, Decision.FALLBACK, None, fault)
    target = chain[0]
    principals = subject.principals
    owner = owner_of(target)
    if owner is not None and owner in principals:
        principals = principals | {OWNER}

    pair = _scan(target.acl, action, principals)
    if pair is not None:
        return _verdict(pair, _EXPLICIT, Match(target.id, "acl", pair[0], pair[1]))
    for node in chain[1:]:
        pair = _scan(node.acl, action, principals)
        if pair is not None:
            return _verdict(pair, _INHERITED, Match(node.id, "acl", pair[0], pair[1]))
    for node in chain:
        if not node.dacls:
            continue
        for applies_to in (target.type, ANY_TYPE):
            dacl = node.dacls.get(applies_to)
            if dacl is None:
                continue
            pair = _scan(dacl, action, principals)
            if pair is not None:
                match = Match(node.id, "dacl", pair[0], pair[1], applies_to)
                return _verdict(pair, _DACL, match)
    return Verdict(fallback_allow, Decision.FALLBACK)


def own_acl_allows(node: Node, subject: Subject, action: str) -> bool:
    """Whether ``node``'s own ACL alone allows ``action`` (the tenant-root administration
    rule: nothing below can lock a tenant's administrators out)."""
    if subject.fault is not None:
        return False
    principals = subject.principals
    owner = owner_of(node)
    if owner is not None and owner in principals:
        principals = principals | {OWNER}
    pair = _scan(node.acl, action, principals)
    return pair is not None and pair[1].effect is Effect.ALLOW
