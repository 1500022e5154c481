"""Access control lists: ordered entries on a resource, and default ACLs for descendants."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from truapi.domain.errors import InvalidValue
from truapi.domain.policy.principals import parse_principal
from truapi.domain.policy.resources import TYPE_RE

ACTION_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
ANY_ACTION = "*"
ANY_TYPE = "*"
MAX_ENTRIES = 500
MAX_ACTIONS = 64


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class AclEntry:
    effect: Effect
    principal: str
    actions: tuple[str, ...]

    @classmethod
    def create(cls, effect: str, principal: str, actions: Iterable[str], field: str) -> AclEntry:
        """Validate one entry; actions keep their order, repeats dropped."""
        try:
            the_effect = Effect(effect)
        except ValueError:
            raise InvalidValue(field, "effect is 'allow' or 'deny'.", "invalid_effect") from None
        seen: dict[str, None] = {}
        for action in actions:
            if action != ANY_ACTION and not ACTION_RE.fullmatch(action):
                raise InvalidValue(
                    field,
                    "An action is '*' or 1-64 of [a-z0-9_.-] starting with a letter.",
                    "invalid_action",
                )
            seen[action] = None
        if not seen:
            raise InvalidValue(field, "An entry names at least one action.", "invalid_action")
        if len(seen) > MAX_ACTIONS:
            raise InvalidValue(field, f"At most {MAX_ACTIONS} actions per entry.", "too_long")
        return cls(the_effect, parse_principal(principal, field), tuple(seen))

    def to_dict(self) -> dict[str, Any]:
        return {
            "effect": self.effect.value,
            "principal": self.principal,
            "actions": list(self.actions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AclEntry:
        """Rebuild a stored entry (already valid)."""
        return cls(Effect(data["effect"]), data["principal"], tuple(data["actions"]))


def check_entry_count(entries: Sequence[AclEntry], field: str = "entries") -> None:
    if len(entries) > MAX_ENTRIES:
        raise InvalidValue(field, f"At most {MAX_ENTRIES} entries per list.", "too_long")


def parse_applies_to(value: str, field: str = "applies_to") -> str:
    if value != ANY_TYPE and not TYPE_RE.fullmatch(value):
        raise InvalidValue(field, "applies_to is '*' or a resource type.", "invalid_resource_type")
    return value


@dataclass(frozen=True, slots=True)
class Acl:
    """A resource's own ACL. ``version`` grows with every change (the ETag)."""

    resource: str
    inherit: bool = True
    entries: tuple[AclEntry, ...] = ()
    version: int = 0


@dataclass(frozen=True, slots=True)
class Dacl:
    """Default entries a resource holds for its descendants (and itself) of one type."""

    resource: str
    applies_to: str
    entries: tuple[AclEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class CompiledEntries:
    """Entries indexed by action for fast matching: ``for_action(a)`` are, in list order,
    the (index, entry) pairs naming ``a`` or ``*``."""

    by_action: Mapping[str, tuple[tuple[int, AclEntry], ...]]
    any_action: tuple[tuple[int, AclEntry], ...]
    size: int = field(default=0)

    @classmethod
    def of(cls, entries: Sequence[AclEntry]) -> CompiledEntries:
        star = tuple((i, e) for i, e in enumerate(entries) if ANY_ACTION in e.actions)
        named = {a for e in entries for a in e.actions if a != ANY_ACTION}
        by_action = {
            action: tuple(
                (i, e)
                for i, e in enumerate(entries)
                if action in e.actions or ANY_ACTION in e.actions
            )
            for action in named
        }
        return cls(by_action, star, len(entries))

    def for_action(self, action: str) -> tuple[tuple[int, AclEntry], ...]:
        return self.by_action.get(action, self.any_action)


EMPTY = CompiledEntries({}, (), 0)
