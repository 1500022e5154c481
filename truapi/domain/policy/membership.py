"""Effective membership: the groups a principal belongs to, directly or through groups."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

from truapi.domain.policy.engine import Fault, Subject
from truapi.domain.policy.principals import AUTHENTICATED

G = TypeVar("G", bound=Hashable)


def group_depths(
    direct: Iterable[G], parents: Mapping[G, Iterable[G]], max_depth: int
) -> tuple[dict[G, int], Fault | None]:
    """Breadth-first from the ``direct`` groups (depth 1) up through ``parents`` (group ->
    the groups it is a direct member of). Returns each group's smallest depth, and a fault
    when the nesting loops or goes deeper than ``max_depth``."""
    depths: dict[G, int] = {}
    frontier = list(dict.fromkeys(direct))
    depth = 1
    while frontier:
        if depth > max_depth:
            return depths, Fault.GROUP_TOO_DEEP
        following: list[G] = []
        for group in frontier:
            if group in depths:
                continue
            depths[group] = depth
            following.extend(parents.get(group, ()))
        frontier = [g for g in following if g not in depths]
        depth += 1
    if _has_cycle(depths.keys(), parents):
        return depths, Fault.GROUP_CYCLE
    return depths, None


def _has_cycle(groups: Iterable[G], parents: Mapping[G, Iterable[G]]) -> bool:
    # Three-colour depth-first search over the reached part of the graph.
    state: dict[G, int] = {}
    for start in groups:
        if state.get(start):
            continue
        stack: list[tuple[G, list[G]]] = [(start, list(parents.get(start, ())))]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                state[node] = 2
                stack.pop()
                continue
            nxt = pending.pop()
            mark = state.get(nxt, 0)
            if mark == 1:
                return True
            if mark == 0:
                state[nxt] = 1
                stack.append((nxt, list(parents.get(nxt, ()))))
    return False


def subject_of(
    principal: str, direct: Iterable[str], parents: Mapping[str, Iterable[str]], max_depth: int
) -> Subject:
    """The ``Subject`` for ``principal`` whose direct groups are ``direct`` (``group:<id>``
    names, as are the keys and values of ``parents``)."""
    depths, fault = group_depths(direct, parents, max_depth)
    return Subject(principal, frozenset({principal, AUTHENTICATED, *depths}), fault)
