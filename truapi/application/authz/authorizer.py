"""Answers *may they do this?*: loads what the engine needs, caches it per policy version,
and asks the pure engine."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from truapi.application.authz.versions import PolicyVersions
from truapi.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from truapi.domain.groups import MemberType
from truapi.domain.policy.acl import Acl, CompiledEntries, Dacl
from truapi.domain.policy.engine import (
    Node,
    Subject,
    Verdict,
    evaluate,
    inheritance_chain,
    own_acl_allows,
)
from truapi.domain.policy.membership import group_depths, subject_of
from truapi.domain.policy.principals import AUTHENTICATED
from truapi.domain.policy.resources import Resource, tenant_root

ADMIN_ACTION = "admin"
#: Resources and subjects kept per tenant, whatever the decision cache's size: a decision
#: that misses its cache should still find its data in memory.
DATA_CACHE_SIZE = 100_000


class _Missing(Exception):
    def __init__(self, resource: str) -> None:
        self.resource = resource


@dataclass(slots=True)
class _TenantCache:
    """Everything cached for one tenant at one policy version."""

    version: int
    decisions: dict[tuple[str, str, str], Verdict] = field(default_factory=dict)
    subjects: dict[str, Subject] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)


def _node(resource_id: str, row: Resource | None, acl: Acl | None, dacls: Sequence[Dacl]) -> Node:
    kind = resource_id.partition(":")[0]
    return Node(
        id=resource_id,
        type=kind,
        parent=row.parent if row is not None else None,
        owner=row.owner if row is not None else None,
        inherit=acl.inherit if acl is not None else True,
        acl=CompiledEntries.of(acl.entries) if acl is not None else CompiledEntries.of(()),
        dacls={d.applies_to: CompiledEntries.of(d.entries) for d in dacls},
    )


def _principal_parts(principal: str) -> tuple[MemberType, uuid.UUID] | None:
    kind, _, ident = principal.partition(":")
    try:
        return MemberType(kind), uuid.UUID(ident)
    except ValueError:
        return None


class Authorizer:
    """Decisions for (principal, action, resource) in a tenant, cached until the tenant's
    policy version moves (see ``PolicyVersions``)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        versions: PolicyVersions,
        *,
        max_depth: int,
        fallback_allow: bool,
        cache_size: int,
    ) -> None:
        self._uow = uow
        self._versions = versions
        self._max_depth = max_depth
        self._fallback_allow = fallback_allow
        self._cache_size = cache_size
        self._caches: dict[uuid.UUID, _TenantCache] = {}

    def _cache(self, tenant_id: uuid.UUID) -> _TenantCache:
        version = self._versions.get(tenant_id)
        cache = self._caches.get(tenant_id)
        if cache is None or cache.version != version:
            cache = self._caches[tenant_id] = _TenantCache(version)
        return cache

    def cached(
        self, tenant_id: uuid.UUID, principal: str, action: str, resource: str
    ) -> Verdict | None:
        """The cached decision, if there is a current one (no I/O)."""
        cache = self._caches.get(tenant_id)
        if cache is None or cache.version != self._versions.get(tenant_id):
            return None
        return cache.decisions.get((principal, action, resource))

    async def check(
        self, tenant_id: uuid.UUID, principal: str, action: str, resource: str
    ) -> Verdict:
        """The decision with its reason."""
        cache = self._cache(tenant_id)
        key = (principal, action, resource)
        verdict = cache.decisions.get(key)
        if verdict is not None:
            return verdict
        verdict = self.decide_from_memory(cache, tenant_id, principal, action, resource)
        if verdict is None:
            async with self._uow(readonly=True) as uow:
                verdict = await self._decide(uow, cache, tenant_id, principal, action, resource)
        self._remember(cache, key, verdict)
        return verdict

    def decide_from_memory(
        self,
        cache: _TenantCache,
        tenant_id: uuid.UUID,
        principal: str,
        action: str,
        resource: str,
    ) -> Verdict | None:
        """The decision from cached subject and nodes alone; None when any is missing."""
        subject = cache.subjects.get(principal)
        if subject is None:
            return None
        nodes = cache.nodes

        def lookup(resource_id: str) -> Node:
            node = nodes.get(resource_id)
            if node is None:
                raise _Missing(resource_id)
            return node

        try:
            chain, fault = inheritance_chain(
                resource, tenant_root(tenant_id), lookup, self._max_depth
            )
        except _Missing:
            return None
        return evaluate(subject, action, chain, fallback_allow=self._fallback_allow, fault=fault)

    async def check_many(
        self, tenant_id: uuid.UUID, checks: Sequence[tuple[str, str, str]]
    ) -> list[Verdict]:
        """Decisions for ``(principal, action, resource)`` triples, in order, with one unit
        of work for whatever the cache does not hold."""
        cache = self._cache(tenant_id)
        results: list[Verdict | None] = [cache.decisions.get(c) for c in checks]
        if any(r is None for r in results):
            async with self._uow(readonly=True) as uow:
                for i, (principal, action, resource) in enumerate(checks):
                    if results[i] is None:
                        key = (principal, action, resource)
                        verdict = cache.decisions.get(key) or await self._decide(
                            uow, cache, tenant_id, principal, action, resource
                        )
                        self._remember(cache, key, verdict)
                        results[i] = verdict
        return [r for r in results if r is not None]

    async def may_administer(
        self, tenant_id: uuid.UUID, principal: str, resource: str, action: str = ADMIN_ACTION
    ) -> bool:
        """``action`` (``admin``) on ``resource``, or on the tenant root by the root's own
        ACL alone (so no ``inherit: false`` below can lock the tenant's administrators out)."""
        verdict = await self.check(tenant_id, principal, action, resource)
        if verdict.allowed:
            return True
        cache = self._cache(tenant_id)
        async with self._uow(readonly=True) as uow:
            subject = await self._subject(uow, cache, tenant_id, principal)
            root = tenant_root(tenant_id)
            node = await self._node(uow, cache, tenant_id, root)
        return own_acl_allows(node, subject, action)

    async def groups(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID
    ) -> Mapping[uuid.UUID, int]:
        """The groups of a member at their smallest depth (1 = direct); only the direct ones
        when the stored nesting loops or is too deep."""
        async with self._uow(readonly=True) as uow:
            ancestry = await uow.groups.ancestry(tenant_id, member_type, member_id, self._max_depth)
        depths, fault = group_depths(ancestry.direct, ancestry.parents, self._max_depth)
        return dict.fromkeys(ancestry.direct, 1) if fault is not None else depths

    def _remember(self, cache: _TenantCache, key: tuple[str, str, str], verdict: Verdict) -> None:
        if len(cache.decisions) >= self._cache_size:
            cache.decisions.clear()
        cache.decisions[key] = verdict

    async def _decide(
        self,
        uow: UnitOfWork,
        cache: _TenantCache,
        tenant_id: uuid.UUID,
        principal: str,
        action: str,
        resource: str,
    ) -> Verdict:
        subject = await self._subject(uow, cache, tenant_id, principal)
        root = tenant_root(tenant_id)
        nodes = cache.nodes
        # What this decision loaded itself: it stays at hand even if the shared cache is
        # emptied meanwhile (it is bounded).
        loaded: dict[str, Node] = {}

        def lookup(resource_id: str) -> Node:
            node = loaded.get(resource_id) or nodes.get(resource_id)
            if node is None:
                raise _Missing(resource_id)
            return node

        # Each pass loads the missing node with all its stored ancestors; a parent that is
        # not registered needs one more pass, so this ends within the depth limit.
        for _ in range(self._max_depth + 2):
            try:
                chain, fault = inheritance_chain(resource, root, lookup, self._max_depth)
            except _Missing as missing:
                loaded.update(await self._load(uow, cache, tenant_id, missing.resource))
                continue
            return evaluate(
                subject, action, chain, fallback_allow=self._fallback_allow, fault=fault
            )
        chain, fault = [], None
        return evaluate(subject, action, chain, fallback_allow=False, fault=fault)

    async def _node(
        self, uow: UnitOfWork, cache: _TenantCache, tenant_id: uuid.UUID, resource: str
    ) -> Node:
        node = cache.nodes.get(resource)
        if node is None:
            node = (await self._load(uow, cache, tenant_id, resource))[resource]
        return node

    async def _load(
        self, uow: UnitOfWork, cache: _TenantCache, tenant_id: uuid.UUID, resource: str
    ) -> dict[str, Node]:
        """Load ``resource`` with its stored ancestors and the root into the cache; returns
        the nodes loaded."""
        rows = await uow.resources.ancestors(tenant_id, resource, self._max_depth + 2)
        by_id = {row.id: row for row in rows}
        wanted = list(dict.fromkeys([resource, *by_id, tenant_root(tenant_id)]))
        acls = await uow.acls.get_many(tenant_id, wanted)
        dacls = await uow.dacls.get_many(tenant_id, wanted)
        found = {
            resource_id: _node(
                resource_id,
                by_id.get(resource_id),
                acls.get(resource_id),
                dacls.get(resource_id, ()),
            )
            for resource_id in wanted
        }
        if len(cache.nodes) + len(found) > DATA_CACHE_SIZE:
            cache.nodes.clear()
        cache.nodes.update(found)
        return found

    async def _subject(
        self, uow: UnitOfWork, cache: _TenantCache, tenant_id: uuid.UUID, principal: str
    ) -> Subject:
        subject = cache.subjects.get(principal)
        if subject is not None:
            return subject
        parts = _principal_parts(principal)
        if parts is None:
            # Not a user or a group (an API key): itself, and any principal of the tenant.
            subject = Subject(principal, frozenset({principal, AUTHENTICATED}))
        else:
            ancestry = await uow.groups.ancestry(tenant_id, parts[0], parts[1], self._max_depth)
            parents = {
                f"group:{g}": [f"group:{p}" for p in ps] for g, ps in ancestry.parents.items()
            }
            direct = [f"group:{g}" for g in ancestry.direct]
            subject = subject_of(principal, direct, parents, self._max_depth)
            if parts[0] is MemberType.GROUP:
                # A group checked as a subject also counts as a member of itself.
                subject = Subject(principal, subject.principals, subject.fault)
        if len(cache.subjects) >= DATA_CACHE_SIZE:
            cache.subjects.clear()
        cache.subjects[principal] = subject
        return subject
