"""The cached path answers exactly as the uncached one, after any sequence of changes made
through the use cases (so a stale decision on the instance that made a change is
impossible)."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.clock import FakeClock
from tests.contract.support import create_tenant, make_user
from truapi.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from truapi.application.authz.authorizer import Authorizer
from truapi.application.authz.changes import Actor
from truapi.application.authz.resources import UNSET, PutResource, ResourceService
from truapi.application.authz.versions import PolicyVersions, PolicyWatcher
from truapi.application.groups.service import GroupService, MemberRef
from truapi.application.pagination import CursorCodec
from truapi.domain.errors import DomainError
from truapi.domain.groups import MemberType
from truapi.domain.policy.acl import AclEntry
from truapi.domain.policy.resources import ResourceName

RESOURCES = ["folder:a", "folder:b", "doc:1", "doc:2"]
ACTIONS = ["read", "write"]
N_USERS = 3
N_GROUPS = 3


@dataclass(frozen=True)
class Op:
    kind: str
    a: int
    b: int
    c: int
    effect: str


ops = st.lists(
    st.builds(
        Op,
        kind=st.sampled_from(["acl", "dacl", "parent", "owner", "join", "leave", "nest"]),
        a=st.integers(0, 9),
        b=st.integers(0, 9),
        c=st.integers(0, 9),
        effect=st.sampled_from(["allow", "deny"]),
    ),
    min_size=1,
    max_size=12,
)


class World:
    """A tenant with users, groups and resources, changed only through the use cases."""

    async def setup(self) -> None:
        self.uow = MemoryUnitOfWorkFactory()
        self.tenant = await create_tenant(self.uow)
        clock = FakeClock()
        self.versions = PolicyVersions()
        watcher = PolicyWatcher(self.uow, self.versions, interval_s=60)
        cursors = CursorCodec(b"k")
        self.resources = ResourceService(self.uow, clock, watcher, cursors, max_depth=8)
        self.groups = GroupService(self.uow, clock, watcher, cursors, max_depth=8)
        self.actor = Actor(self.tenant.id, "user:" + str(uuid.uuid4()))
        self.users = []
        async with self.uow() as uow:
            for i in range(N_USERS):
                user = make_user(self.tenant.id, f"user{i}")
                await uow.users.add(user)
                self.users.append(user.id)
            await uow.commit()
        self.group_ids = [
            (await self.groups.create(self.actor, f"g{i}")).view["id"] for i in range(N_GROUPS)
        ]
        self.cached = self.authorizer()

    def authorizer(self) -> Authorizer:
        return Authorizer(
            self.uow, self.versions, max_depth=8, fallback_allow=False, cache_size=10_000
        )

    def principal(self, i: int) -> str:
        n = i % (N_USERS + N_GROUPS + 2)
        if n < N_USERS:
            return f"user:{self.users[n]}"
        if n < N_USERS + N_GROUPS:
            return f"group:{self.group_ids[n - N_USERS]}"
        return "owner" if n == N_USERS + N_GROUPS else "authenticated"

    async def apply(self, op: Op) -> None:
        resource = ResourceName.parse(RESOURCES[op.a % len(RESOURCES)])
        entry = AclEntry.create(op.effect, self.principal(op.b), [ACTIONS[op.c % 2]], "e")
        group = uuid.UUID(str(self.group_ids[op.a % N_GROUPS]))
        try:
            if op.kind == "acl":
                await self.resources.put_acl(
                    self.actor, resource, inherit=op.c % 3 != 0, entries=[entry]
                )
            elif op.kind == "dacl":
                applies_to = ["doc", "folder", "*"][op.c % 3]
                await self.resources.put_dacl(self.actor, resource, applies_to, [entry])
            elif op.kind == "parent":
                parent = RESOURCES[op.b % len(RESOURCES)]
                await self.resources.put(
                    self.actor, PutResource(resource, parent=parent, owner=UNSET)
                )
            elif op.kind == "owner":
                owner = f"user:{self.users[op.b % N_USERS]}"
                await self.resources.put(self.actor, PutResource(resource, owner=owner))
            elif op.kind == "join":
                user = self.users[op.b % N_USERS]
                await self.groups.add_member(self.actor, group, MemberRef(MemberType.USER, user))
            elif op.kind == "leave":
                user = self.users[op.b % N_USERS]
                await self.groups.remove_member(self.actor, group, MemberRef(MemberType.USER, user))
            else:
                inner = uuid.UUID(str(self.group_ids[op.b % N_GROUPS]))
                await self.groups.add_member(self.actor, group, MemberRef(MemberType.GROUP, inner))
        except DomainError:
            pass  # refused changes (loops, unknown members) must leave no trace either

    async def agree(self) -> None:
        fresh = self.authorizer()
        for user, action, resource in itertools.product(self.users, ACTIONS, RESOURCES):
            principal = f"user:{user}"
            cached = await self.cached.check(self.tenant.id, principal, action, resource)
            again = await self.cached.check(self.tenant.id, principal, action, resource)
            uncached = await fresh.check(self.tenant.id, principal, action, resource)
            assert cached == again == uncached, (principal, action, resource)


async def scenario(changes: list[Op]) -> None:
    world = World()
    await world.setup()
    await world.agree()
    for op in changes:
        await world.apply(op)
        await world.agree()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_cached_decisions_equal_uncached_ones_after_every_change(changes: list[Op]) -> None:
    asyncio.run(scenario(changes))


async def test_a_tiny_decision_cache_still_answers_from_a_deep_tree() -> None:
    """Decisions that miss their cache every time still find (or reload) all their data."""
    world = World()
    await world.setup()
    user = f"user:{world.users[0]}"
    chain = [f"folder:l{i}" for i in range(6)]
    await world.resources.put(world.actor, PutResource(ResourceName.parse(chain[0])))
    for child, parent in zip(chain[1:], chain, strict=False):
        await world.resources.put(
            world.actor, PutResource(ResourceName.parse(child), parent=parent)
        )
    top = AclEntry.create("allow", user, ["read"], "e")
    await world.resources.put_acl(
        world.actor, ResourceName.parse(chain[0]), inherit=True, entries=[top]
    )
    leaves = [f"doc:{i}" for i in range(2)]
    for leaf in leaves:
        await world.resources.put(
            world.actor, PutResource(ResourceName.parse(leaf), parent=chain[-1])
        )
    tiny = Authorizer(world.uow, world.versions, max_depth=8, fallback_allow=False, cache_size=1)
    for _ in range(3):
        for leaf in [*leaves, *reversed(chain)]:
            verdict = await tiny.check(world.tenant.id, user, "read", leaf)
            assert verdict.allowed, (leaf, verdict)
            assert verdict.matched is not None
            assert verdict.matched.resource == chain[0]
