"""Core-based repositories: one connection per unit of work, rows mapped to entities."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Integer,
    Table,
    Uuid,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from truapi.adapters.sqlalchemy.connection import DriverReads, Executor
from truapi.adapters.sqlalchemy.errors import foreign_key_violated, translate
from truapi.adapters.sqlalchemy.tables import (
    group_members,
    groups,
    idempotency_keys,
    tenants,
    users,
)
from truapi.application.ports.repositories import (
    GroupAncestry,
    GroupKeyset,
    IdempotencyRecord,
    MemberKeyset,
    UserKeyset,
    UserQuery,
)
from truapi.domain.errors import (
    Conflict,
    DomainError,
    EmailTaken,
    GroupNameTaken,
    IdempotencyInProgress,
    TenantNotFound,
    TenantSlugTaken,
    UsernameTaken,
)
from truapi.domain.groups import Group, MemberAt, Membership, MemberType, group_name_key
from truapi.domain.tenants import Tenant, TenantStatus
from truapi.domain.users import User, UserStatus

_USER_CONFLICTS = [
    (("users", "username"), UsernameTaken()),
    (("users", "email"), EmailTaken()),
]


_SEARCH_SEPARATOR = "\n"


# The hottest read, built once: building a statement costs more than running it on SQLite.
_GET_USER = select(users).where(
    users.c.tenant_id == bindparam("tenant_id"), users.c.id == bindparam("id")
)


# The same read on the driver's own connection (see ``DriverReads``): the ids are the keys
# looked up, so only the other columns are read back.
_GET_USER_SQLITE = (
    "SELECT username, email, display_name, status, mfa_enabled, password_hash, version, "
    "created_at, updated_at FROM users WHERE tenant_id = ? AND id = ?"
)
_GET_USER_PG = _GET_USER_SQLITE.replace("tenant_id = ?", "tenant_id = $1").replace(
    "id = ?", "id = $2"
)


async def _get_user_by_driver(
    reads: DriverReads, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> User | None:
    if reads.sqlite:
        # Stored as SQLAlchemy stores them there: UUIDs as hex, naive UTC datetimes as text.
        row = await reads.fetch_row(_GET_USER_SQLITE, (tenant_id.hex, user_id.hex))
        if row is None:
            return None
        created_at = datetime.fromisoformat(row[7]).replace(tzinfo=UTC)
        updated_at = datetime.fromisoformat(row[8]).replace(tzinfo=UTC)
    else:
        row = await reads.fetch_row(_GET_USER_PG, (tenant_id, user_id))
        if row is None:
            return None
        created_at, updated_at = row[7].astimezone(UTC), row[8].astimezone(UTC)
    return User(
        id=user_id,
        tenant_id=tenant_id,
        username=row[0],
        email=row[1],
        display_name=row[2],
        status=UserStatus(row[3]),
        mfa_enabled=bool(row[4]),
        password_hash=row[5],
        version=row[6],
        created_at=created_at,
        updated_at=updated_at,
    )


def _search_key(user: User) -> str:
    """Lower-cased username, email and display name, joined by a character none can hold."""
    return _SEARCH_SEPARATOR.join((user.username, user.email, user.display_name.lower()))


def _user_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "tenant_id": user.tenant_id,
        "username": user.username,
        "email": user.email,
        "display_name": user.display_name,
        "search_key": _search_key(user),
        "status": user.status.value,
        "mfa_enabled": user.mfa_enabled,
        "password_hash": user.password_hash,
        "version": user.version,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def _to_user(row: Any) -> User:
    return User(
        id=row.id,
        tenant_id=row.tenant_id,
        username=row.username,
        email=row.email,
        display_name=row.display_name,
        status=UserStatus(row.status),
        mfa_enabled=row.mfa_enabled,
        password_hash=row.password_hash,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _insert_unless_conflict(
    conn: Executor,
    table: Table,
    values: dict[str, Any],
    *,
    on_missing_reference: DomainError | None = None,
) -> bool:
    """Insert one row; False (and a still usable transaction) when a unique key clashes.

    ``ON CONFLICT DO NOTHING`` instead of catching ``IntegrityError``: on PostgreSQL an error
    aborts the whole transaction, and the caller is then told which key clashed by a query.
    A missing referenced row raises ``on_missing_reference`` when given.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(table).values(values)
    try:
        result = await conn.execute(stmt)
    except IntegrityError as exc:
        if on_missing_reference is not None and foreign_key_violated(exc):
            raise on_missing_reference from None
        raise
    return bool(result.rowcount == 1)


def escape_like(value: str) -> str:
    """Make ``%``, ``_`` and ``\\`` literal in a LIKE pattern (escape character ``\\``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlUserRepository:
    def __init__(self, conn: Executor, reads: DriverReads | None = None) -> None:
        self._c = conn
        self._reads = reads

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
        if self._reads is not None:
            return await _get_user_by_driver(self._reads, tenant_id, user_id)
        result = await self._c.execute(_GET_USER, {"tenant_id": tenant_id, "id": user_id})
        row = result.first()
        return _to_user(row) if row is not None else None

    async def get_by_username(self, tenant_id: uuid.UUID, username: str) -> User | None:
        result = await self._c.execute(
            select(users).where(users.c.tenant_id == tenant_id, users.c.username == username)
        )
        row = result.first()
        return _to_user(row) if row is not None else None

    async def add(self, user: User) -> None:
        if await _insert_unless_conflict(
            self._c, users, _user_row(user), on_missing_reference=TenantNotFound()
        ):
            return
        # Name the clash the way every adapter does: the username first, then the email.
        result = await self._c.execute(
            select(users.c.username).where(
                users.c.tenant_id == user.tenant_id,
                or_(users.c.username == user.username, users.c.email == user.email),
            )
        )
        clashes = [row.username for row in result]
        if user.username in clashes:
            raise UsernameTaken()
        if clashes:
            raise EmailTaken()
        raise Conflict("A user with this id already exists.")

    async def update(self, user: User) -> bool:
        row = _user_row(user)
        del row["id"], row["tenant_id"], row["created_at"]
        stored = await self._c.execute(
            select(users.c.version).where(
                users.c.tenant_id == user.tenant_id, users.c.id == user.id
            )
        )
        if stored.scalar_one_or_none() != user.version - 1:
            return False
        # Checked before writing so a clash leaves the transaction usable; the constraint still
        # guards against a concurrent writer.
        taken = await self._c.execute(
            select(users.c.id).where(
                users.c.tenant_id == user.tenant_id,
                users.c.email == user.email,
                users.c.id != user.id,
            )
        )
        if taken.first() is not None:
            raise EmailTaken()
        try:
            result = await self._c.execute(
                update(users)
                .where(
                    users.c.tenant_id == user.tenant_id,
                    users.c.id == user.id,
                    users.c.version == user.version - 1,
                )
                .values(row)
            )
        except IntegrityError as exc:
            translate(exc, _USER_CONFLICTS)
        return result.rowcount == 1

    async def delete(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        result = await self._c.execute(
            delete(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id)
        )
        return result.rowcount == 1

    async def list_page(
        self, tenant_id: uuid.UUID, query: UserQuery, after: UserKeyset | None, limit: int
    ) -> list[User]:
        conditions: list[ColumnElement[bool]] = [users.c.tenant_id == tenant_id]
        if query.q is not None:
            if any(unicodedata.category(ch) == "Cc" for ch in query.q):
                # No field holds a control character. Without this a needle could span two
                # fields across the newline separator, and PostgreSQL refuses NUL outright.
                conditions.append(false())
            else:
                pattern = f"%{escape_like(query.q.lower())}%"
                conditions.append(users.c.search_key.like(pattern, escape="\\"))
        if query.status is not None:
            conditions.append(users.c.status == query.status.value)
        for column, wanted in ((users.c.username, query.username), (users.c.email, query.email)):
            if wanted is None:
                continue
            # PostgreSQL refuses NUL in text, and no stored value holds one.
            conditions.append(column == wanted if "\x00" not in wanted else false())
        if query.created_after is not None:
            conditions.append(users.c.created_at > query.created_after)
        if query.created_before is not None:
            conditions.append(users.c.created_at < query.created_before)
        sort_col = users.c.username if query.sort.field == "username" else users.c.created_at
        if after is not None:
            # Row-value comparisons, so both engines seek in the index straight to the page
            # (an OR of two conditions makes SQLite scan from the first row). Usernames are
            # unique, so they need no id to break ties.
            key: Any
            position: Any
            if query.sort.field == "username":
                key, position = sort_col, after.username
            else:
                key, position = tuple_(sort_col, users.c.id), tuple_(after.created_at, after.id)
            conditions.append(key < position if query.sort.descending else key > position)
        order = (
            (sort_col.desc(), users.c.id.desc())
            if query.sort.descending
            else (sort_col.asc(), users.c.id.asc())
        )
        result = await self._c.execute(
            select(users).where(*conditions).order_by(*order).limit(limit)
        )
        return [_to_user(row) for row in result]

    async def count(self, tenant_id: uuid.UUID) -> int:
        result = await self._c.execute(
            select(func.count()).select_from(users).where(users.c.tenant_id == tenant_id)
        )
        return int(result.scalar_one())


class SqlTenantRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    @staticmethod
    def _to_tenant(row: Any) -> Tenant:
        return Tenant(
            id=row.id,
            slug=row.slug,
            name=row.name,
            status=TenantStatus(row.status),
            created_at=row.created_at,
        )

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        row = (await self._c.execute(select(tenants).where(tenants.c.id == tenant_id))).first()
        return self._to_tenant(row) if row is not None else None

    async def get_by_slug(self, slug: str) -> Tenant | None:
        row = (await self._c.execute(select(tenants).where(tenants.c.slug == slug))).first()
        return self._to_tenant(row) if row is not None else None

    async def add(self, tenant: Tenant) -> None:
        row = {
            "id": tenant.id,
            "slug": tenant.slug,
            "name": tenant.name,
            "status": tenant.status.value,
            "created_at": tenant.created_at,
        }
        if await _insert_unless_conflict(self._c, tenants, row):
            return
        if await self.get_by_slug(tenant.slug) is not None:
            raise TenantSlugTaken()
        raise Conflict("A tenant with this id already exists.")


def group_search_key(name: str, description: str) -> str:
    """Lower-cased name and description, joined by a character neither can hold."""
    return name.lower() + GROUP_SEARCH_SEPARATOR + description.lower()


#: No group name or description holds a control character other than a newline.
GROUP_SEARCH_SEPARATOR = "\x1f"


def _group_row(group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "tenant_id": group.tenant_id,
        "name": group.name,
        "name_key": group_name_key(group.name),
        "description": group.description,
        "search_key": group_search_key(group.name, group.description),
        "external_id": group.external_id,
        "created_at": group.created_at,
        "updated_at": group.updated_at,
    }


def _to_group(row: Any) -> Group:
    return Group(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        description=row.description,
        external_id=row.external_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _to_membership(row: Any) -> Membership:
    return Membership(
        tenant_id=row.tenant_id,
        group_id=row.group_id,
        member_type=MemberType(row.member_type),
        member_id=row.member_id,
        source=row.source,
        created_at=row.created_at,
    )


#: The group columns read back (``search_key`` stays in the database).
_GROUP_COLUMNS = (
    groups.c.id,
    groups.c.tenant_id,
    groups.c.name,
    groups.c.description,
    groups.c.external_id,
    groups.c.created_at,
    groups.c.updated_at,
)

T = TypeVar("T")

#: Ids per statement when a caller hands over many: well below every engine's limit on
#: bound parameters.
CHUNK = 1000


def chunks(items: Sequence[T], size: int = CHUNK) -> list[Sequence[T]]:
    """``items`` in slices of at most ``size`` (none for an empty sequence)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


class SqlGroupRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def get(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> Group | None:
        row = (
            await self._c.execute(
                select(*_GROUP_COLUMNS).where(
                    groups.c.tenant_id == tenant_id, groups.c.id == group_id
                )
            )
        ).first()
        return _to_group(row) if row is not None else None

    async def get_by_name(self, tenant_id: uuid.UUID, name: str) -> Group | None:
        if "\x00" in name:
            return None  # PostgreSQL refuses NUL in text, and no name holds one.
        row = (
            await self._c.execute(
                select(*_GROUP_COLUMNS).where(
                    groups.c.tenant_id == tenant_id, groups.c.name_key == group_name_key(name)
                )
            )
        ).first()
        return _to_group(row) if row is not None else None

    async def add(self, group: Group) -> None:
        if await _insert_unless_conflict(
            self._c, groups, _group_row(group), on_missing_reference=TenantNotFound()
        ):
            return
        if await self.get_by_name(group.tenant_id, group.name) is not None:
            raise GroupNameTaken()
        raise Conflict("A group with this id already exists.")

    async def update(self, group: Group) -> None:
        # Checked before writing so a clash leaves the transaction usable; the constraint still
        # guards against a concurrent writer.
        taken = await self._c.execute(
            select(groups.c.id).where(
                groups.c.tenant_id == group.tenant_id,
                groups.c.name_key == group_name_key(group.name),
                groups.c.id != group.id,
            )
        )
        if taken.first() is not None:
            raise GroupNameTaken()
        row = _group_row(group)
        del row["id"], row["tenant_id"], row["created_at"]
        try:
            await self._c.execute(
                update(groups)
                .where(groups.c.tenant_id == group.tenant_id, groups.c.id == group.id)
                .values(row)
            )
        except IntegrityError as exc:
            translate(exc, [(("groups", "name_key"), GroupNameTaken())])

    async def delete(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> bool:
        result = await self._c.execute(
            delete(groups).where(groups.c.tenant_id == tenant_id, groups.c.id == group_id)
        )
        if result.rowcount != 1:
            return False
        # Memberships it held went with it by the foreign key; those it was in go here.
        await self._c.execute(
            delete(group_members).where(
                group_members.c.tenant_id == tenant_id,
                group_members.c.member_type == MemberType.GROUP.value,
                group_members.c.member_id == group_id,
            )
        )
        return True

    async def list_page(
        self, tenant_id: uuid.UUID, q: str | None, after: GroupKeyset | None, limit: int
    ) -> list[Group]:
        conditions: list[ColumnElement[bool]] = [groups.c.tenant_id == tenant_id]
        if q is not None:
            needle = q.lower()
            if GROUP_SEARCH_SEPARATOR in needle or "\x00" in needle:
                # No name or description holds either: without this a needle could span the
                # name and the description, and PostgreSQL refuses NUL outright.
                conditions.append(false())
            else:
                pattern = f"%{escape_like(needle)}%"
                conditions.append(groups.c.search_key.like(pattern, escape="\\"))
        if after is not None:
            conditions.append(
                tuple_(groups.c.name_key, groups.c.id) > tuple_(after.name_key, after.id)
            )
        result = await self._c.execute(
            select(*_GROUP_COLUMNS)
            .where(*conditions)
            .order_by(groups.c.name_key, groups.c.id)
            .limit(limit)
        )
        return [_to_group(row) for row in result]

    async def get_many(self, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID]) -> list[Group]:
        found: list[Group] = []
        for part in chunks(list(dict.fromkeys(group_ids))):
            result = await self._c.execute(
                select(*_GROUP_COLUMNS).where(
                    groups.c.tenant_id == tenant_id, groups.c.id.in_(part)
                )
            )
            found.extend(_to_group(row) for row in result)
        return found

    async def add_member(self, membership: Membership) -> bool:
        # DO NOTHING also covers two writers adding the same membership at once.
        return await _insert_unless_conflict(
            self._c,
            group_members,
            {
                "tenant_id": membership.tenant_id,
                "group_id": membership.group_id,
                "member_type": membership.member_type.value,
                "member_id": membership.member_id,
                "source": membership.source,
                "created_at": membership.created_at,
            },
        )

    @staticmethod
    def _membership(
        tenant_id: uuid.UUID, group_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID
    ) -> ColumnElement[bool]:
        return and_(
            group_members.c.tenant_id == tenant_id,
            group_members.c.group_id == group_id,
            group_members.c.member_type == member_type.value,
            group_members.c.member_id == member_id,
        )

    async def remove_member(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        member_type: MemberType,
        member_id: uuid.UUID,
    ) -> bool:
        result = await self._c.execute(
            delete(group_members).where(
                self._membership(tenant_id, group_id, member_type, member_id)
            )
        )
        return result.rowcount == 1

    async def is_member(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        member_type: MemberType,
        member_id: uuid.UUID,
    ) -> bool:
        row = (
            await self._c.execute(
                select(group_members.c.group_id).where(
                    self._membership(tenant_id, group_id, member_type, member_id)
                )
            )
        ).first()
        return row is not None

    async def direct_members(self, tenant_id: uuid.UUID, group_id: uuid.UUID) -> list[Membership]:
        result = await self._c.execute(
            select(group_members)
            .where(group_members.c.tenant_id == tenant_id, group_members.c.group_id == group_id)
            .order_by(group_members.c.member_type, group_members.c.member_id)
        )
        return [_to_membership(row) for row in result]

    async def members_page(
        self,
        tenant_id: uuid.UUID,
        group_id: uuid.UUID,
        *,
        transitive: bool,
        max_depth: int,
        after: MemberKeyset | None,
        limit: int,
    ) -> list[MemberAt]:
        gm = group_members
        if not transitive:
            conditions: list[ColumnElement[bool]] = [
                gm.c.tenant_id == tenant_id,
                gm.c.group_id == group_id,
            ]
            if after is not None:
                conditions.append(
                    tuple_(gm.c.member_type, gm.c.member_id)
                    > tuple_(after.member_type.value, after.member_id)
                )
            result = await self._c.execute(
                select(gm.c.member_type, gm.c.member_id)
                .where(*conditions)
                .order_by(gm.c.member_type, gm.c.member_id)
                .limit(limit)
            )
            return [MemberAt(MemberType(row.member_type), row.member_id, 1) for row in result]
        # 1. The groups nested inside, with the depth their own members sit at. Only
        # group-to-group links are walked (few), never the users (many). UNION and the depth
        # bound end the walk even on a stored cycle.
        nested = select(
            literal(group_id, Uuid).label("gid"), literal_column("1", Integer).label("depth")
        ).cte("nested", recursive=True)
        nested = nested.union(
            select(gm.c.member_id, (nested.c.depth + 1).label("depth"))
            .select_from(nested)
            .join(gm, and_(gm.c.tenant_id == tenant_id, gm.c.group_id == nested.c.gid))
            .where(gm.c.member_type == MemberType.GROUP.value, nested.c.depth < max_depth)
        )
        depth_of = {
            row.gid: int(row.depth)
            for row in await self._c.execute(
                select(nested.c.gid, func.min(nested.c.depth).label("depth")).group_by(nested.c.gid)
            )
        }
        in_groups = self._group_in(list(depth_of))
        # 2. The page: distinct members of any of those groups, in (type, id) order, which the
        # member index serves in order, so a page costs its own size, not the whole tree's.
        conditions = [gm.c.tenant_id == tenant_id, in_groups]
        if after is not None:
            conditions.append(
                tuple_(gm.c.member_type, gm.c.member_id)
                > tuple_(after.member_type.value, after.member_id)
            )
        page = [
            (row.member_type, row.member_id)
            for row in await self._c.execute(
                select(gm.c.member_type, gm.c.member_id)
                .where(*conditions)
                .distinct()
                .order_by(gm.c.member_type, gm.c.member_id)
                .limit(limit)
            )
        ]
        if not page:
            return []
        # 3. The smallest depth of each member on the page.
        best: dict[tuple[str, uuid.UUID], int] = {}
        for row in await self._c.execute(
            select(gm.c.member_type, gm.c.member_id, gm.c.group_id).where(
                gm.c.tenant_id == tenant_id,
                in_groups,
                tuple_(gm.c.member_type, gm.c.member_id).in_(page),
            )
        ):
            key = (row.member_type, row.member_id)
            depth = depth_of[row.group_id]
            if depth < best.get(key, depth + 1):
                best[key] = depth
        return [MemberAt(MemberType(kind), member, best[(kind, member)]) for kind, member in page]

    def _group_in(self, group_ids: list[uuid.UUID]) -> ColumnElement[bool]:
        """``group_id`` is one of ``group_ids`` (an array parameter on PostgreSQL, so ten
        thousand groups stay one parameter)."""
        if self._c.dialect.name == "postgresql":
            return group_members.c.group_id == any_(
                bindparam("group_ids", group_ids, type_=postgresql.ARRAY(Uuid))
            )
        return group_members.c.group_id.in_(group_ids)

    async def ancestry(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID, max_depth: int
    ) -> GroupAncestry:
        gm = group_members
        # Up the nesting: each row is a group reached at ``depth`` through the edge from
        # ``child`` (NULL for the member's own groups). Groups at depth max_depth + 1 are
        # reached but not followed further, which is enough to notice a graph too deep.
        up = (
            select(
                cast(null(), Uuid).label("child"),
                gm.c.group_id,
                literal_column("1", Integer).label("depth"),
            )
            .where(
                gm.c.tenant_id == tenant_id,
                gm.c.member_type == member_type.value,
                gm.c.member_id == member_id,
            )
            .cte("up", recursive=True)
        )
        up = up.union(
            select(up.c.group_id, gm.c.group_id, (up.c.depth + 1).label("depth"))
            .select_from(up)
            .join(
                gm,
                and_(
                    gm.c.tenant_id == tenant_id,
                    gm.c.member_type == MemberType.GROUP.value,
                    gm.c.member_id == up.c.group_id,
                ),
            )
            .where(up.c.depth <= max_depth)
        )
        result = await self._c.execute(select(up.c.child, up.c.group_id).distinct())
        direct: set[uuid.UUID] = set()
        parents: dict[uuid.UUID, set[uuid.UUID]] = {}
        for row in result:
            if row.child is None:
                direct.add(row.group_id)
            else:
                parents.setdefault(row.child, set()).add(row.group_id)
        return GroupAncestry(
            direct=tuple(sorted(direct)),
            parents={child: tuple(sorted(ps)) for child, ps in parents.items()},
        )

    async def remove_member_everywhere(
        self, tenant_id: uuid.UUID, member_type: MemberType, member_id: uuid.UUID
    ) -> int:
        result = await self._c.execute(
            delete(group_members).where(
                group_members.c.tenant_id == tenant_id,
                group_members.c.member_type == member_type.value,
                group_members.c.member_id == member_id,
            )
        )
        return int(result.rowcount)


class SqlIdempotencyRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    def _where(self, tenant_id: uuid.UUID, scope: str, key: str) -> ColumnElement[bool]:
        return and_(
            idempotency_keys.c.tenant_id == tenant_id,
            idempotency_keys.c.scope == scope,
            idempotency_keys.c.key == key,
        )

    async def get(self, tenant_id: uuid.UUID, scope: str, key: str) -> IdempotencyRecord | None:
        row = (
            await self._c.execute(
                select(idempotency_keys).where(self._where(tenant_id, scope, key))
            )
        ).first()
        if row is None:
            return None
        return IdempotencyRecord(
            tenant_id=row.tenant_id,
            scope=row.scope,
            key=row.key,
            fingerprint=row.fingerprint,
            status=row.status,
            response=row.response,
            created_at=row.created_at,
        )

    async def add(self, record: IdempotencyRecord) -> None:
        row = {
            "tenant_id": record.tenant_id,
            "scope": record.scope,
            "key": record.key,
            "fingerprint": record.fingerprint,
            "status": record.status,
            "response": record.response,
            "created_at": record.created_at,
        }
        # On PostgreSQL a twin in flight makes this wait for it, then find the key taken.
        if not await _insert_unless_conflict(
            self._c, idempotency_keys, row, on_missing_reference=TenantNotFound()
        ):
            raise IdempotencyInProgress()

    async def delete(self, tenant_id: uuid.UUID, scope: str, key: str) -> None:
        await self._c.execute(delete(idempotency_keys).where(self._where(tenant_id, scope, key)))

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self._c.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
        )
        return int(result.rowcount)
