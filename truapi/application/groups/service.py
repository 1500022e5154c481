"""Group use cases: create, read, change, remove and list groups; manage and reconcile
their members. Who may do this is decided before these run."""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from truapi.application.authz.changes import Actor, VersionPublisher, audit
from truapi.application.pagination import CursorCodec, Page
from truapi.application.ports.clock import Clock
from truapi.application.ports.repositories import GroupKeyset, MemberKeyset
from truapi.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from truapi.application.preconditions import (
    IdempotentCreation,
    IdempotentRequest,
    etag_matches,
)
from truapi.domain.audit import AuditAction
from truapi.domain.errors import (
    GroupCycle,
    GroupNotFound,
    GroupProtected,
    HierarchyTooDeep,
    IdempotencyInProgress,
    InvalidCursor,
    InvalidValue,
    MemberNotFound,
    UserNotFound,
    VersionMismatch,
)
from truapi.domain.groups import (
    Group,
    MemberAt,
    Membership,
    MemberType,
    group_name_key,
    membership_source,
)
from truapi.domain.policy.membership import group_depths
from truapi.domain.tenants import ADMINS_GROUP_NAME

MAX_RECONCILE = 10_000


_CREATE_SCOPE = "POST /groups"


def group_etag(group: Group) -> str:
    return _etag_of(group.public_view()["updated_at"])


def _etag_of(updated_at: str) -> str:
    # The update time as the API shows it (millisecond precision), so a replayed creation
    # answers with the same ETag as the first.
    return '"' + hashlib.sha256(updated_at.encode()).hexdigest()[:16] + '"'


@dataclass(frozen=True, slots=True)
class CreatedGroup:
    view: dict[str, Any]
    etag: str
    replayed: bool


@dataclass(frozen=True, slots=True)
class MemberRef:
    type: MemberType
    id: uuid.UUID

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type.value, "id": str(self.id)}


@dataclass(frozen=True, slots=True)
class Reconciliation:
    added: list[MemberRef] = field(default_factory=list)
    removed: list[MemberRef] = field(default_factory=list)
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class GroupAt:
    group: Group
    depth: int


@dataclass(frozen=True, slots=True)
class GroupChanges:
    name: str | None = None
    description: str | None = None
    external_id: str | None = None
    clear_external_id: bool = False


class GroupService:
    """Groups of one tenant and their members."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        versions: VersionPublisher,
        cursors: CursorCodec,
        *,
        max_depth: int,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._versions = versions
        self._cursors = cursors
        self._max_depth = max_depth
        self._idempotency = IdempotentCreation(uow, _CREATE_SCOPE)

    async def create(
        self,
        actor: Actor,
        name: str,
        description: str = "",
        external_id: str | None = None,
        idempotency: IdempotentRequest | None = None,
    ) -> CreatedGroup:
        """``GroupNameTaken`` when the name (ignoring case) exists; with an idempotency key,
        a repeat within 24 hours replays the first answer."""
        now = self._clock.now()
        if idempotency is not None:
            replay = await self._replay(actor.tenant_id, idempotency, now)
            if replay is not None:
                return replay
        group = Group.create(
            tenant_id=actor.tenant_id,
            name=name,
            description=description,
            external_id=external_id,
            now=now,
        )
        view = group.public_view()
        try:
            async with self._uow() as uow:
                if idempotency is not None:
                    await self._idempotency.claim(uow, actor.tenant_id, idempotency, view, now)
                await uow.groups.add(group)
                await audit(
                    uow, actor, now, AuditAction.GROUP_CREATED, f"group:{group.id}", _view(group)
                )
                await uow.commit()
        except IdempotencyInProgress:
            assert idempotency is not None
            replay = await self._replay(actor.tenant_id, idempotency, now)
            if replay is None:
                raise
            return replay
        return CreatedGroup(view=view, etag=group_etag(group), replayed=False)

    async def _replay(
        self, tenant_id: uuid.UUID, request: IdempotentRequest, now: datetime
    ) -> CreatedGroup | None:
        response = await self._idempotency.first_answer(tenant_id, request, now)
        if response is None:
            return None
        return CreatedGroup(
            view=response, etag=_etag_of(str(response["updated_at"])), replayed=True
        )

    async def get(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> Group:
        async with self._uow(readonly=True) as uow:
            return await _group(uow, tenant_id, group_id)

    async def update(
        self,
        actor: Actor,
        group_id: uuid.UUID,
        changes: GroupChanges,
        if_match: str | None = None,
    ) -> Group:
        async with self._uow() as uow:
            before = await _group(uow, actor.tenant_id, group_id)
            if if_match is not None and not etag_matches(if_match, group_etag(before)):
                raise VersionMismatch()
            # The ETag follows updated_at to the millisecond: every change moves it on by at
            # least that much, so two changes within one millisecond still differ.
            now = max(self._clock.now(), before.updated_at + timedelta(milliseconds=1))
            after = before.changed(
                now=now,
                name=changes.name,
                description=changes.description,
                external_id=changes.external_id,
                clear_external_id=changes.clear_external_id,
            )
            if _protected(before) and group_name_key(after.name) != group_name_key(before.name):
                raise GroupProtected()
            await uow.groups.update(after)
            await audit(
                uow,
                actor,
                now,
                AuditAction.GROUP_CHANGED,
                f"group:{group_id}",
                {"before": _view(before), "after": _view(after)},
            )
            await uow.commit()
        return after

    async def delete(self, actor: Actor, group_id: uuid.UUID, if_match: str | None = None) -> None:
        """Remove the group, its memberships (both ways) and its own ACLs."""
        now = self._clock.now()
        tenant_id = actor.tenant_id
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            group = await _group(uow, tenant_id, group_id)
            if if_match is not None and not etag_matches(if_match, group_etag(group)):
                raise VersionMismatch()
            if _protected(group):
                raise GroupProtected()
            rid = f"group:{group_id}"
            await uow.groups.delete(tenant_id, group_id)
            await uow.acls.delete_many(tenant_id, [rid])
            await uow.dacls.delete_many(tenant_id, [rid])
            await audit(uow, actor, now, AuditAction.GROUP_DELETED, rid, _view(group))
            await uow.commit()
        await self._versions.publish(tenant_id, version)

    async def list_page(
        self, tenant_id: uuid.UUID, q: str | None, *, limit: int, cursor: str | None
    ) -> Page[Group]:
        if q is not None:
            q = unicodedata.normalize("NFKC", q)
        context = f"groups:{tenant_id.hex}:{q or ''}"
        after: GroupKeyset | None = None
        if cursor is not None:
            position = self._cursors.decode(context, cursor)
            try:
                after = GroupKeyset(str(position[0]), uuid.UUID(str(position[1])))
            except (IndexError, ValueError):
                raise InvalidCursor() from None
        async with self._uow(readonly=True) as uow:
            rows = await uow.groups.list_page(tenant_id, q, after, limit + 1)
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = self._cursors.encode(context, [group_name_key(last.name), str(last.id)])
        return Page(items=rows, next_cursor=next_cursor)

    # -- members -------------------------------------------------------------------------

    async def members(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        *,
        transitive: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[MemberAt]:
        context = f"members:{tenant_id.hex}:{group_id.hex}:{int(transitive)}"
        after: MemberKeyset | None = None
        if cursor is not None:
            position = self._cursors.decode(context, cursor)
            try:
                after = MemberKeyset(MemberType(position[0]), uuid.UUID(str(position[1])))
            except (IndexError, ValueError):
                raise InvalidCursor() from None
        async with self._uow(readonly=True) as uow:
            await _group(uow, tenant_id, group_id)
            rows = await uow.groups.members_page(
                tenant_id,
                group_id,
                transitive=transitive,
                max_depth=self._max_depth,
                after=after,
                limit=limit + 1,
            )
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = self._cursors.encode(
                context, [last.member_type.value, str(last.member_id)]
            )
        return Page(items=rows, next_cursor=next_cursor)

    async def add_member(self, actor: Actor, group_id: uuid.UUID, member: MemberRef) -> bool:
        """Add a direct member (idempotent); ``GroupCycle`` when a group would contain
        itself. Returns whether anything changed."""
        now = self._clock.now()
        tenant_id = actor.tenant_id
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            await _group(uow, tenant_id, group_id)
            await self._check_member(uow, tenant_id, group_id, member)
            added = await uow.groups.add_member(
                Membership(tenant_id, group_id, member.type, member.id, now)
            )
            if not added:
                return False
            await audit(
                uow,
                actor,
                now,
                AuditAction.MEMBER_ADDED,
                f"group:{group_id}",
                {"member": member.to_dict(), "source": None},
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)
        return True

    async def remove_member(self, actor: Actor, group_id: uuid.UUID, member: MemberRef) -> None:
        """``MemberNotFound`` when it is not a direct member."""
        now = self._clock.now()
        tenant_id = actor.tenant_id
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            await _group(uow, tenant_id, group_id)
            if not await uow.groups.remove_member(tenant_id, group_id, member.type, member.id):
                raise MemberNotFound()
            await audit(
                uow,
                actor,
                now,
                AuditAction.MEMBER_REMOVED,
                f"group:{group_id}",
                {"member": member.to_dict()},
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)

    async def reconcile(
        self,
        actor: Actor,
        group_id: uuid.UUID,
        members: Sequence[MemberRef],
        *,
        source: str | None,
        dry_run: bool,
    ) -> Reconciliation:
        """Make the direct members exactly ``members``; with a ``source``, only the
        memberships carrying that source are added or removed."""
        source = membership_source(source)
        if len(members) > MAX_RECONCILE:
            raise InvalidValue("members", f"At most {MAX_RECONCILE} members per call.", "too_long")
        wanted = list(dict.fromkeys(members))
        now = self._clock.now()
        tenant_id = actor.tenant_id
        async with self._uow() as uow:
            version = await uow.policy_versions.bump(tenant_id)
            await _group(uow, tenant_id, group_id)
            current = await uow.groups.direct_members(tenant_id, group_id)
            present = {MemberRef(m.member_type, m.member_id): m for m in current}
            wanted_set = set(wanted)
            added = [m for m in wanted if m not in present]
            removable = [
                ref
                for ref, m in present.items()
                if ref not in wanted_set and (source is None or m.source == source)
            ]
            unchanged = sum(1 for m in wanted if m in present)
            for member in added:
                await self._check_member(uow, tenant_id, group_id, member)
            result = Reconciliation(
                added=added, removed=sorted(removable, key=_ref_order), unchanged=unchanged
            )
            if dry_run or not (added or removable):
                return result
            for member in added:
                await uow.groups.add_member(
                    Membership(tenant_id, group_id, member.type, member.id, now, source)
                )
            for member in removable:
                await uow.groups.remove_member(tenant_id, group_id, member.type, member.id)
            await audit(
                uow,
                actor,
                now,
                AuditAction.MEMBERS_RECONCILED,
                f"group:{group_id}",
                {
                    "source": source,
                    "added": [m.to_dict() for m in added],
                    "removed": [m.to_dict() for m in result.removed],
                    "unchanged": unchanged,
                },
            )
            await uow.commit()
        await self._versions.publish(tenant_id, version)
        return result

    async def groups_of(
        self,
        tenant_id: uuid.UUID,
        member: MemberRef,
        *,
        transitive: bool,
        limit: int,
        cursor: str | None,
    ) -> Page[GroupAt]:
        """The member's groups (with their depth), ordered by name then id."""
        context = f"groups-of:{tenant_id.hex}:{member.id.hex}:{int(transitive)}"
        after: tuple[str, str] | None = None
        if cursor is not None:
            position = self._cursors.decode(context, cursor)
            if len(position) != 2 or not all(isinstance(p, str) for p in position):
                raise InvalidCursor()
            after = (position[0], position[1])
        async with self._uow(readonly=True) as uow:
            await self._member_exists(uow, tenant_id, member)
            depths = await self._depths(uow, tenant_id, member, transitive)
            found = await uow.groups.get_many(tenant_id, list(depths))
        ordered = sorted(found, key=_group_position)
        if after is not None:
            ordered = [g for g in ordered if _group_position(g) > after]
        items = [GroupAt(g, depths[g.id]) for g in ordered[:limit]]
        next_cursor = None
        if len(ordered) > limit:
            next_cursor = self._cursors.encode(context, list(_group_position(ordered[limit - 1])))
        return Page(items=items, next_cursor=next_cursor)

    async def all_groups_of(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[GroupAt]:
        """Every group of a user, transitively, ordered by name (for ``/me``)."""
        async with self._uow(readonly=True) as uow:
            depths = await self._depths(uow, tenant_id, MemberRef(MemberType.USER, user_id), True)
            found = await uow.groups.get_many(tenant_id, list(depths))
        return [GroupAt(g, depths[g.id]) for g in sorted(found, key=_group_position)]

    # -- helpers -------------------------------------------------------------------------

    async def _depths(
        self, uow: UnitOfWork, tenant_id: uuid.UUID, member: MemberRef, transitive: bool
    ) -> Mapping[uuid.UUID, int]:
        ancestry = await uow.groups.ancestry(tenant_id, member.type, member.id, self._max_depth)
        if not transitive:
            return dict.fromkeys(ancestry.direct, 1)
        depths, fault = group_depths(ancestry.direct, ancestry.parents, self._max_depth)
        # Stored data that loops or is too deep grants nothing; show only direct groups.
        return dict.fromkeys(ancestry.direct, 1) if fault is not None else depths

    async def _member_exists(
        self, uow: UnitOfWork, tenant_id: uuid.UUID, member: MemberRef
    ) -> None:
        if member.type is MemberType.USER:
            if await uow.users.get(tenant_id, member.id) is None:
                raise UserNotFound()
        elif await uow.groups.get(tenant_id, member.id) is None:
            raise GroupNotFound()

    async def _check_member(
        self, uow: UnitOfWork, tenant_id: uuid.UUID, group_id: uuid.UUID, member: MemberRef
    ) -> None:
        """The member exists; a group member would not close a loop or nest too deep."""
        await self._member_exists(uow, tenant_id, member)
        if member.type is not MemberType.GROUP:
            return
        if member.id == group_id:
            raise GroupCycle()
        # Adding G (member) into P (group_id) loops exactly when P is already inside G.
        ancestry = await uow.groups.ancestry(tenant_id, MemberType.GROUP, group_id, self._max_depth)
        depths, _ = group_depths(ancestry.direct, ancestry.parents, self._max_depth + 1)
        if member.id in depths:
            raise GroupCycle()
        above = max(depths.values(), default=0)
        below = await self._height(uow, tenant_id, member.id)
        # A user at the bottom of G's nesting would then sit this many levels under the top.
        if above + 1 + below > self._max_depth:
            raise HierarchyTooDeep("groups", self._max_depth)

    async def _height(self, uow: UnitOfWork, tenant_id: uuid.UUID, group_id: uuid.UUID) -> int:
        """How many group levels hang below ``group_id`` (1 when it holds no group)."""
        rows = await uow.groups.members_page(
            tenant_id,
            group_id,
            transitive=True,
            max_depth=self._max_depth + 1,
            after=None,
            limit=1_000_000,
        )
        return 1 + max((m.depth for m in rows if m.member_type is MemberType.GROUP), default=0)


async def _group(uow: UnitOfWork, tenant_id: uuid.UUID, group_id: uuid.UUID) -> Group:
    group = await uow.groups.get(tenant_id, group_id)
    if group is None:
        raise GroupNotFound()
    return group


def _protected(group: Group) -> bool:
    return group_name_key(group.name) == ADMINS_GROUP_NAME


def _group_position(group: Group) -> tuple[str, str]:
    return (group_name_key(group.name), str(group.id))


def _ref_order(ref: MemberRef) -> tuple[str, str]:
    return (ref.type.value, str(ref.id))


def _view(group: Group) -> dict[str, object]:
    return {"name": group.name, "description": group.description, "external_id": group.external_id}
