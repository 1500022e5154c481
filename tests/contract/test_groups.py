"""GroupRepository contract: reads, renames, deletion, listings, memberships and the
bounded walks through nested groups."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.support import T0
from truapi.application.ports.repositories import GroupAncestry, GroupKeyset, MemberKeyset
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import GroupNameTaken
from truapi.domain.groups import Group, MemberAt, Membership, MemberType, group_name_key
from truapi.domain.tenants import Tenant

USER = MemberType.USER
GROUP = MemberType.GROUP


def make_group(tenant: Tenant, name: str, description: str = "") -> Group:
    return Group.create(tenant_id=tenant.id, name=name, now=T0, description=description)


async def add_groups(uow_factory: UnitOfWorkFactory, *groups: Group) -> None:
    async with uow_factory() as uow:
        for group in groups:
            await uow.groups.add(group)
        await uow.commit()


def member_of(
    group: Group, member_type: MemberType, member_id: uuid.UUID, source: str | None = None
) -> Membership:
    return Membership(
        tenant_id=group.tenant_id,
        group_id=group.id,
        member_type=member_type,
        member_id=member_id,
        created_at=T0,
        source=source,
    )


async def nest(uow_factory: UnitOfWorkFactory, *edges: tuple[Group, Group | uuid.UUID]) -> None:
    """Store ``(container, member)`` memberships as they are: a group member is nested, a
    bare id is a user. No cycle check happens here; the use cases make that one."""
    async with uow_factory() as uow:
        for container, member in edges:
            if isinstance(member, Group):
                added = await uow.groups.add_member(member_of(container, GROUP, member.id))
            else:
                added = await uow.groups.add_member(member_of(container, USER, member))
            assert added
        await uow.commit()


def ordered(members: list[MemberAt]) -> list[MemberAt]:
    return sorted(members, key=lambda m: (m.member_type.value, m.member_id))


async def all_members(
    uow_factory: UnitOfWorkFactory,
    group: Group,
    *,
    transitive: bool,
    max_depth: int = 32,
    page_size: int = 2,
) -> list[MemberAt]:
    """Walk every page of the group's members with keyset continuation."""
    seen: list[MemberAt] = []
    after: MemberKeyset | None = None
    while True:
        async with uow_factory(readonly=True) as uow:
            page = await uow.groups.members_page(
                group.tenant_id,
                group.id,
                transitive=transitive,
                max_depth=max_depth,
                after=after,
                limit=page_size,
            )
        assert len(page) <= page_size
        seen.extend(page)
        if len(page) < page_size:
            return seen
        after = MemberKeyset(page[-1].member_type, page[-1].member_id)
        assert len(seen) <= 1000, "paging does not terminate"


async def all_groups(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, q: str | None = None, page_size: int = 2
) -> list[str]:
    seen: list[Group] = []
    after: GroupKeyset | None = None
    while True:
        async with uow_factory(readonly=True) as uow:
            page = await uow.groups.list_page(tenant.id, q, after, page_size)
        assert len(page) <= page_size
        seen.extend(page)
        if len(page) < page_size:
            return [g.name for g in seen]
        after = GroupKeyset(group_name_key(page[-1].name), page[-1].id)
        assert len(seen) <= 1000, "paging does not terminate"


# --- reads ---------------------------------------------------------------------------------


async def test_get_and_get_many_are_scoped_by_tenant(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    admins, editors = make_group(tenant, "admins"), make_group(tenant, "editors")
    foreign = make_group(other_tenant, "admins")
    await add_groups(uow_factory, admins, editors, foreign)

    async with uow_factory(readonly=True) as uow:
        assert await uow.groups.get(tenant.id, admins.id) == admins
        assert await uow.groups.get(tenant.id, foreign.id) is None
        assert await uow.groups.get(other_tenant.id, admins.id) is None
        assert await uow.groups.get(tenant.id, uuid.uuid4()) is None

        many = await uow.groups.get_many(
            tenant.id, [editors.id, foreign.id, uuid.uuid4(), admins.id, editors.id]
        )
        assert sorted(many, key=lambda g: g.name) == [admins, editors]
        assert await uow.groups.get_many(tenant.id, []) == []
        assert await uow.groups.get_many(other_tenant.id, [admins.id, foreign.id]) == [foreign]


# --- update and delete ---------------------------------------------------------------------


async def test_update_stores_the_changed_fields(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    group = Group.create(
        tenant_id=tenant.id, name="admins", now=T0, description="old", external_id="ext-1"
    )
    await add_groups(uow_factory, group)
    later = T0 + timedelta(hours=1)
    changed = group.changed(now=later, name="Operators", description="new", clear_external_id=True)

    async with uow_factory() as uow:
        await uow.groups.update(changed)
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        stored = await uow.groups.get(tenant.id, group.id)
        assert stored == changed
        assert stored is not None
        assert stored.created_at == T0
        assert stored.updated_at == later
        assert stored.external_id is None
        assert await uow.groups.get_by_name(tenant.id, "OPERATORS") == changed
        assert await uow.groups.get_by_name(tenant.id, "admins") is None
        # The new name and description are what the search finds.
        assert [g.id for g in await uow.groups.list_page(tenant.id, "NEW", None, 10)] == [group.id]
        assert await uow.groups.list_page(tenant.id, "old", None, 10) == []


async def test_update_refuses_a_name_taken_in_any_case(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    admins, editors = make_group(tenant, "admins"), make_group(tenant, "editors")
    await add_groups(uow_factory, admins, editors, make_group(other_tenant, "Staff"))

    async with uow_factory() as uow:
        with pytest.raises(GroupNameTaken):
            await uow.groups.update(editors.changed(now=T0, name="ADMINS"))
        # A clash leaves the unit of work usable; a group may change the case of its own
        # name, and take a name another tenant uses.
        await uow.groups.update(admins.changed(now=T0, name="Admins"))
        await uow.groups.update(editors.changed(now=T0, name="staff"))
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        renamed = await uow.groups.get(tenant.id, admins.id)
        assert renamed is not None
        assert renamed.name == "Admins"
        other = await uow.groups.get(tenant.id, editors.id)
        assert other is not None
        assert other.name == "staff"


async def test_delete_removes_the_group_and_every_membership_it_is_part_of(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    outer, doomed, inner = (make_group(tenant, n) for n in ("outer", "doomed", "inner"))
    foreign = make_group(other_tenant, "foreign")
    await add_groups(uow_factory, outer, doomed, inner, foreign)
    user = uuid.uuid4()
    await nest(uow_factory, (outer, doomed), (doomed, inner), (doomed, user), (outer, user))
    async with uow_factory() as uow:
        # The same id as a member in another tenant is not this group.
        assert await uow.groups.add_member(member_of(foreign, GROUP, doomed.id))
        await uow.commit()

    async with uow_factory() as uow:
        assert not await uow.groups.delete(other_tenant.id, doomed.id)
        assert not await uow.groups.delete(tenant.id, uuid.uuid4())
        assert await uow.groups.delete(tenant.id, doomed.id)
        assert not await uow.groups.delete(tenant.id, doomed.id)
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert await uow.groups.get(tenant.id, doomed.id) is None
        assert await uow.groups.direct_members(tenant.id, doomed.id) == []
        assert [
            (m.member_type, m.member_id)
            for m in await uow.groups.direct_members(tenant.id, outer.id)
        ] == [(USER, user)]
        ancestry = await uow.groups.ancestry(tenant.id, GROUP, inner.id, 32)
        assert ancestry == GroupAncestry(direct=(), parents={})
        assert await uow.groups.is_member(other_tenant.id, foreign.id, GROUP, doomed.id)
        assert await uow.groups.get(tenant.id, inner.id) == inner


# --- listing -------------------------------------------------------------------------------


async def test_list_page_orders_by_folded_name_then_id_across_pages(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    names = ["beta", "Alpha", "alpine", "_under", "Zeta", "émile", "Émile2", "a-b", "ab", "10"]
    await add_groups(uow_factory, *(make_group(tenant, n) for n in names))
    await add_groups(uow_factory, make_group(other_tenant, "aardvark"))

    expected = sorted(names, key=group_name_key)
    for size in (1, 3, 100):
        assert await all_groups(uow_factory, tenant, page_size=size) == expected


async def test_list_page_search_is_a_literal_case_insensitive_substring(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    groups = [
        make_group(tenant, "Admins", "People who run things"),
        make_group(tenant, "100% club", "Top_sellers"),
        make_group(tenant, "ÄRGER", "Straße crew"),
        make_group(tenant, "ops", "first line\nsecond LINE"),
        make_group(tenant, "plain"),
    ]
    await add_groups(uow_factory, *groups)
    await add_groups(uow_factory, make_group(other_tenant, "admins elsewhere"))

    async def search(q: str) -> list[str]:
        return sorted(await all_groups(uow_factory, tenant, q, page_size=1))

    assert await search("ADMIN") == ["Admins"]
    assert await search("run THINGS") == ["Admins"]
    assert await search("%") == ["100% club"]
    assert await search("0%") == ["100% club"]
    assert await search("_") == ["100% club"]
    assert await search("p_e") == []  # "_" is no wildcard: "people" does not match
    assert await search("top_") == ["100% club"]
    assert await search("ärger") == ["ÄRGER"]
    assert await search("STRASSE") == []  # folded by lower(), not casefold()
    assert await search("STRAẞE") == ["ÄRGER"]
    assert await search("line\nsecond") == ["ops"]
    assert await search("") == sorted(g.name for g in groups)
    assert await search("\\") == []
    # A needle never spans the name and the description.
    assert await search("admins people") == []
    assert await search("ops\nfirst") == []
    assert await search("ops\x1ffirst") == []
    assert await search("\x00") == []


# --- memberships ---------------------------------------------------------------------------


async def test_add_member_tells_whether_it_added(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    group = make_group(tenant, "admins")
    await add_groups(uow_factory, group)
    user = uuid.uuid4()

    async with uow_factory() as uow:
        assert await uow.groups.add_member(member_of(group, USER, user, source="okta"))
        assert not await uow.groups.add_member(member_of(group, USER, user))
        # The same id as a group member is another membership.
        assert await uow.groups.add_member(member_of(group, GROUP, user))
        await uow.commit()
    async with uow_factory() as uow:
        assert not await uow.groups.add_member(member_of(group, USER, user, source="ldap"))
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        members = await uow.groups.direct_members(tenant.id, group.id)
    # The first membership stays as it was, source included.
    assert members == [member_of(group, GROUP, user), member_of(group, USER, user, "okta")]


async def test_remove_member_deletes_one_membership(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    group, other = make_group(tenant, "admins"), make_group(tenant, "editors")
    await add_groups(uow_factory, group, other)
    user = uuid.uuid4()
    await nest(uow_factory, (group, user), (other, user))

    async with uow_factory() as uow:
        assert not await uow.groups.remove_member(other_tenant.id, group.id, USER, user)
        assert not await uow.groups.remove_member(tenant.id, group.id, GROUP, user)
        assert await uow.groups.remove_member(tenant.id, group.id, USER, user)
        assert not await uow.groups.remove_member(tenant.id, group.id, USER, user)
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        assert not await uow.groups.is_member(tenant.id, group.id, USER, user)
        assert await uow.groups.is_member(tenant.id, other.id, USER, user)


async def test_direct_members_are_scoped(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    group, nested = make_group(tenant, "admins"), make_group(tenant, "nested")
    foreign = make_group(other_tenant, "admins")
    await add_groups(uow_factory, group, nested, foreign)
    users = [uuid.uuid4() for _ in range(3)]
    await nest(uow_factory, *((group, u) for u in users), (group, nested), (nested, users[0]))
    await nest(uow_factory, (foreign, uuid.uuid4()))

    async with uow_factory(readonly=True) as uow:
        members = await uow.groups.direct_members(tenant.id, group.id)
        assert await uow.groups.direct_members(other_tenant.id, group.id) == []
    assert {(m.member_type, m.member_id) for m in members} == {
        (GROUP, nested.id),
        *((USER, u) for u in users),
    }
    assert all(m.tenant_id == tenant.id and m.group_id == group.id for m in members)


async def test_direct_member_pages_are_ordered_by_type_then_id(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    group = make_group(tenant, "admins")
    nested = [make_group(tenant, f"nested-{i}") for i in range(3)]
    await add_groups(uow_factory, group, *nested)
    # Ids spread over the whole range, so an order other than the UUID's would show.
    users = [uuid.UUID(int=(i * 0x3B9ACA07 << 88) | i) for i in range(1, 8)]
    users += [uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff"), uuid.uuid4(), uuid.uuid4()]
    await nest(
        uow_factory,
        *((group, u) for u in users),
        *((group, g) for g in nested),
        (nested[0], uuid.uuid4()),
    )

    expected = ordered(
        [MemberAt(USER, u, 1) for u in users] + [MemberAt(GROUP, g.id, 1) for g in nested]
    )
    assert expected[0].member_type is GROUP
    for size in (1, 3, 50):
        assert await all_members(uow_factory, group, transitive=False, page_size=size) == expected


async def test_transitive_members_come_once_at_their_smallest_depth(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    # A diamond: top holds left and right, both hold bottom; u1 sits at the top and in bottom.
    top, left, right, bottom = (make_group(tenant, n) for n in ("top", "left", "right", "bottom"))
    await add_groups(uow_factory, top, left, right, bottom)
    u1, u2, u3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await nest(
        uow_factory,
        (top, left),
        (top, right),
        (top, u1),
        (left, bottom),
        (right, bottom),
        (left, u2),
        (right, u2),
        (bottom, u1),
        (bottom, u3),
    )
    foreign = make_group(other_tenant, "top")
    await add_groups(uow_factory, foreign)
    await nest(uow_factory, (foreign, uuid.uuid4()))

    expected = ordered(
        [
            MemberAt(GROUP, left.id, 1),
            MemberAt(GROUP, right.id, 1),
            MemberAt(USER, u1, 1),
            MemberAt(GROUP, bottom.id, 2),
            MemberAt(USER, u2, 2),
            MemberAt(USER, u3, 3),
        ]
    )
    for size in (1, 2, 100):
        assert await all_members(uow_factory, top, transitive=True, page_size=size) == expected
    # The depth limit cuts the walk; a direct listing is depth 1 only.
    assert await all_members(uow_factory, top, transitive=True, max_depth=2) == [
        m for m in expected if m.depth <= 2
    ]
    assert await all_members(uow_factory, top, transitive=False) == [
        m for m in expected if m.depth == 1
    ]
    assert await all_members(uow_factory, bottom, transitive=True) == ordered(
        [MemberAt(USER, u1, 1), MemberAt(USER, u3, 1)]
    )
    async with uow_factory(readonly=True) as uow:
        assert (
            await uow.groups.members_page(
                other_tenant.id, top.id, transitive=True, max_depth=32, after=None, limit=10
            )
            == []
        )


async def test_transitive_members_stay_bounded_on_a_stored_cycle(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    a, b, c, selfish = (make_group(tenant, n) for n in ("a", "b", "c", "selfish"))
    await add_groups(uow_factory, a, b, c, selfish)
    user = uuid.uuid4()
    await nest(uow_factory, (a, b), (b, c), (c, a), (c, user), (selfish, selfish))

    # The walk comes back to the group itself, lists it once, and ends.
    assert await all_members(uow_factory, a, transitive=True, max_depth=1000) == ordered(
        [
            MemberAt(GROUP, b.id, 1),
            MemberAt(GROUP, c.id, 2),
            MemberAt(GROUP, a.id, 3),
            MemberAt(USER, user, 3),
        ]
    )
    assert await all_members(uow_factory, selfish, transitive=True, max_depth=1000) == [
        MemberAt(GROUP, selfish.id, 1)
    ]


async def test_ancestry_names_direct_groups_and_parents(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    g1, g2, parent, grand, unrelated = (
        make_group(tenant, n) for n in ("g1", "g2", "parent", "grand", "unrelated")
    )
    await add_groups(uow_factory, g1, g2, parent, grand, unrelated)
    user = uuid.uuid4()
    await nest(
        uow_factory,
        (g1, user),
        (g2, user),
        (parent, g1),
        (parent, g2),
        (grand, parent),
        (grand, g2),
        (unrelated, uuid.uuid4()),
    )
    foreign = make_group(other_tenant, "foreign")
    await add_groups(uow_factory, foreign)
    await nest(uow_factory, (foreign, user))

    async with uow_factory(readonly=True) as uow:
        ancestry = await uow.groups.ancestry(tenant.id, USER, user, 32)
        assert ancestry == GroupAncestry(
            direct=tuple(sorted([g1.id, g2.id])),
            parents={
                g1.id: (parent.id,),
                g2.id: tuple(sorted([parent.id, grand.id])),
                parent.id: (grand.id,),
            },
        )
        # A group's ancestry starts at the groups it is in.
        assert await uow.groups.ancestry(tenant.id, GROUP, parent.id, 32) == GroupAncestry(
            direct=(grand.id,), parents={}
        )
        # The same id as a group member is not the user.
        assert await uow.groups.ancestry(tenant.id, GROUP, user, 32) == GroupAncestry((), {})
        assert await uow.groups.ancestry(other_tenant.id, USER, user, 32) == GroupAncestry(
            direct=(foreign.id,), parents={}
        )
        assert await uow.groups.ancestry(tenant.id, USER, uuid.uuid4(), 32) == GroupAncestry((), {})


async def test_ancestry_reads_one_level_past_the_limit_and_no_further(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    chain = [make_group(tenant, f"level-{i}") for i in range(1, 7)]
    await add_groups(uow_factory, *chain)
    user = uuid.uuid4()
    await nest(uow_factory, (chain[0], user), *((chain[i + 1], chain[i]) for i in range(5)))

    async with uow_factory(readonly=True) as uow:
        # Levels 1..3 are followed; level 4 is named as a parent, so a caller can tell the
        # nesting is deeper than 3, but its own parents are not read.
        ancestry = await uow.groups.ancestry(tenant.id, USER, user, 3)
        assert ancestry == GroupAncestry(
            direct=(chain[0].id,),
            parents={chain[i].id: (chain[i + 1].id,) for i in range(3)},
        )
        full = await uow.groups.ancestry(tenant.id, USER, user, 32)
        assert full.parents == {chain[i].id: (chain[i + 1].id,) for i in range(5)}
        assert await uow.groups.ancestry(tenant.id, USER, user, 0) == GroupAncestry(
            direct=(chain[0].id,), parents={}
        )


async def test_ancestry_stays_bounded_on_a_stored_cycle(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    a, b, c = (make_group(tenant, n) for n in ("a", "b", "c"))
    await add_groups(uow_factory, a, b, c)
    user = uuid.uuid4()
    await nest(uow_factory, (a, user), (b, a), (c, b), (a, c), (b, b))

    async with uow_factory(readonly=True) as uow:
        for depth in (2, 32, 500):
            ancestry = await uow.groups.ancestry(tenant.id, USER, user, depth)
            reached = {a.id: (b.id,), b.id: tuple(sorted([b.id, c.id])), c.id: (a.id,)}
            assert ancestry.direct == (a.id,)
            # Depth 2 follows a and b; c, met at level 3, is named but not followed.
            assert ancestry.parents == (
                reached if depth > 2 else {a.id: reached[a.id], b.id: reached[b.id]}
            )


async def test_membership_changes_roll_back(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    group, other = make_group(tenant, "admins"), make_group(tenant, "editors")
    await add_groups(uow_factory, group)
    user = uuid.uuid4()
    await nest(uow_factory, (group, user))

    async with uow_factory() as uow:
        await uow.groups.add(other)
        assert await uow.groups.add_member(member_of(other, USER, user))
        assert await uow.groups.remove_member(tenant.id, group.id, USER, user)
        await uow.groups.update(group.changed(now=T0, name="renamed"))
        # Not committed.

    async with uow_factory(readonly=True) as uow:
        assert await uow.groups.get(tenant.id, other.id) is None
        assert await uow.groups.is_member(tenant.id, group.id, USER, user)
        assert await uow.groups.get(tenant.id, group.id) == group
        assert await uow.groups.ancestry(tenant.id, USER, user, 32) == GroupAncestry(
            direct=(group.id,), parents={}
        )


async def test_unchanged_copy_is_not_a_clash(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    group = make_group(tenant, "admins")
    await add_groups(uow_factory, group)
    async with uow_factory() as uow:
        await uow.groups.update(replace(group, description="same name, new words"))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        stored = await uow.groups.get(tenant.id, group.id)
        assert stored is not None
        assert stored.description == "same name, new words"
