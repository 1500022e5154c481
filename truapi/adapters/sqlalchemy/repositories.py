"""Core-based repositories: one connection per unit of work, rows mapped to entities."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from truapi.adapters.sqlalchemy.errors import translate
from truapi.adapters.sqlalchemy.tables import groups, group_members, idempotency_keys, tenants, users
from truapi.application.ports.repositories import IdempotencyRecord, UserKeyset, UserQuery
from truapi.domain.errors import EmailTaken, IdempotencyInProgress, TenantSlugTaken, UsernameTaken
from truapi.domain.groups import Group, MemberType, Membership
from truapi.domain.tenants import Tenant, TenantStatus
from truapi.domain.users import User, UserStatus

_USER_CONFLICTS = [
    (("users", "username"), UsernameTaken()),
    (("users", "email"), EmailTaken()),
]

def _search_key(user: User) -> str:
    return f"{user.username}\n{user.email}\n{user.display_name.lower()}"


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


def escape_like(value: str) -> str:
    """Make ``%``, ``_`` and ``\\`` literal in a LIKE pattern (escape character ``\\``)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlUserRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User | None:
        result = await self._c.execute(
            select(users).where(users.c.tenant_id == tenant_id, users.c.id == user_id)
        )
        row = result.first()
        return _to_user(row) if row is not None else None

    async def get_by_username(self, tenant_id: uuid.UUID, username: str) -> User | None:
        result = await self._c.execute(
            select(users).where(users.c.tenant_id == tenant_id, users.c.username == username)
        )
        row = result.first()
        return _to_user(row) if row is not None else None

    async def add(self, user: User) -> None:
        try:
            await self._c.execute(insert(users).values(_user_row(user)))
        except IntegrityError as exc:
            translate(exc, _USER_CONFLICTS)

    async def update(self, user: User) -> bool:
        row = _user_row(user)
        del row["id"], row["tenant_id"], row["created_at"]
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
            pattern = f"%{escape_like(query.q.lower())}%"
            conditions.append(users.c.search_key.like(pattern, escape="\\"))
        if query.status is not None:
            conditions.append(users.c.status == query.status.value)
        if query.username is not None:
            conditions.append(users.c.username == query.username)
        if query.email is not None:
            conditions.append(users.c.email == query.email)
        if query.created_after is not None:
            conditions.append(users.c.created_at > query.created_after)
        if query.created_before is not None:
            conditions.append(users.c.created_at < query.created_before)
        sort_col = users.c.username if query.sort.field == "username" else users.c.created_at
        if after is not None:
            value: Any = after.username if query.sort.field == "username" else after.created_at
            if query.sort.descending:
                conditions.append(
                    or_(sort_col < value, and_(sort_col == value, users.c.id < after.id))
                )
            else:
                conditions.append(
                    or_(sort_col > value, and_(sort_col == value, users.c.id > after.id))
                )
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
    def __init__(self, conn: AsyncConnection) -> None:
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
        try:
            await self._c.execute(
                insert(tenants).values(
                    id=tenant.id,
                    slug=tenant.slug,
                    name=tenant.name,
                    status=tenant.status.value,
                    created_at=tenant.created_at,
                )
            )
        except IntegrityError as exc:
            translate(exc, [(("tenants", "slug"), TenantSlugTaken())])


class SqlGroupRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def get_by_name(self, tenant_id: uuid.UUID, name: str) -> Group | None:
        row = (
            await self._c.execute(
                select(groups).where(
                    groups.c.tenant_id == tenant_id, groups.c.name_key == name.lower()
                )
            )
        ).first()
        if row is None:
            return None
        return Group(
            id=row.id,
            tenant_id=row.tenant_id,
            name=row.name,
            description=row.description,
            external_id=row.external_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def add(self, group: Group) -> None:
        await self._c.execute(
            insert(groups).values(
                id=group.id,
                tenant_id=group.tenant_id,
                name=group.name,
                name_key=group.name.lower(),
                description=group.description,
                external_id=group.external_id,
                created_at=group.created_at,
                updated_at=group.updated_at,
            )
        )

    async def add_member(self, membership: Membership) -> None:
        if await self.is_member(
            membership.tenant_id,
            membership.group_id,
            membership.member_type,
            membership.member_id,
        ):
            return
        await self._c.execute(
            insert(group_members).values(
                tenant_id=membership.tenant_id,
                group_id=membership.group_id,
                member_type=membership.member_type.value,
                member_id=membership.member_id,
                source=membership.source,
                created_at=membership.created_at,
            )
        )

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
                    group_members.c.tenant_id == tenant_id,
                    group_members.c.group_id == group_id,
                    group_members.c.member_type == member_type.value,
                    group_members.c.member_id == member_id,
                )
            )
        ).first()
        return row is not None

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
    def __init__(self, conn: AsyncConnection) -> None:
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
        try:
            await self._c.execute(
                insert(idempotency_keys).values(
                    tenant_id=record.tenant_id,
                    scope=record.scope,
                    key=record.key,
                    fingerprint=record.fingerprint,
                    status=record.status,
                    response=record.response,
                    created_at=record.created_at,
                )
            )
        except IntegrityError as exc:
            translate(exc, [(("idempotency_keys",), IdempotencyInProgress())])

    async def delete(self, tenant_id: uuid.UUID, scope: str, key: str) -> None:
        await self._c.execute(delete(idempotency_keys).where(self._where(tenant_id, scope, key)))

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self._c.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
        )
        return int(result.rowcount)
