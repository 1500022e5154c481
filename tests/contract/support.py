"""Shared constants and helpers of the repository contract suite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from truapi.application.ports.repositories import (
    IdempotencyRecord,
    UserKeyset,
    UserQuery,
    UserSort,
)
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.sessions import Session
from truapi.domain.tenants import Tenant
from truapi.domain.tokens import RefreshToken
from truapi.domain.users import User, UserStatus

#: A fixed instant, so tests can place users before and after each other exactly.
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

#: The idempotency scope the user service claims keys in.
SCOPE = "POST /users"


async def create_tenant(uow_factory: UnitOfWorkFactory, slug: str | None = None) -> Tenant:
    """Add and commit a tenant (a random slug unless one is given)."""
    tenant = Tenant.create(slug=slug or f"t-{uuid.uuid4().hex[:12]}", name="Tenant", now=T0)
    async with uow_factory() as uow:
        await uow.tenants.add(tenant)
        await uow.commit()
    return tenant


def make_user(
    tenant_id: uuid.UUID,
    username: str,
    *,
    email: str | None = None,
    display_name: str | None = None,
    minutes: float = 0,
    status: UserStatus = UserStatus.ACTIVE,
) -> User:
    """A registered (normalised) user created ``minutes`` after ``T0``."""
    return User.register(
        tenant_id=tenant_id,
        username=username,
        email=email if email is not None else f"{username.lower()}@example.com",
        display_name=display_name,
        status=status,
        now=T0 + timedelta(minutes=minutes),
    )


async def add_users(uow_factory: UnitOfWorkFactory, *users: User) -> None:
    """Add and commit ``users`` in one unit of work."""
    async with uow_factory() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.commit()


def keyset_after(user: User, sort: UserSort) -> UserKeyset:
    """The position just after ``user`` in a listing sorted by ``sort``."""
    if sort.field == "username":
        return UserKeyset(created_at=None, username=user.username, id=user.id)
    return UserKeyset(created_at=user.created_at, username=None, id=user.id)


async def list_all(
    uow_factory: UnitOfWorkFactory, tenant_id: uuid.UUID, query: UserQuery, page_size: int
) -> list[User]:
    """Walk every page of ``query`` with keyset continuation and return the users in order."""
    seen: list[User] = []
    after: UserKeyset | None = None
    while True:
        async with uow_factory(readonly=True) as uow:
            page = await uow.users.list_page(tenant_id, query, after, page_size)
        assert len(page) <= page_size
        seen.extend(page)
        if len(page) < page_size:
            return seen
        after = keyset_after(page[-1], query.sort)
        assert len(seen) <= 10_000, "paging does not terminate"


def expected_order(users: list[User], sort: UserSort) -> list[User]:
    """Reference order: the sort field, ties broken by id, both reversed when descending."""

    def key(user: User) -> tuple[str, uuid.UUID]:
        value = user.username if sort.field == "username" else user.created_at.isoformat()
        return (value, user.id)

    return sorted(users, key=key, reverse=sort.descending)


def fullwidth(text: str) -> str:
    """``text`` in full-width forms (U+FF01-U+FF5E), which NFKC folds back to ASCII."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def names(users: list[User]) -> list[str]:
    return [u.username for u in users]


def idempotency_record(
    tenant: Tenant | uuid.UUID, key: str, *, hours_ago: float = 0, scope: str = SCOPE
) -> IdempotencyRecord:
    """A stored first response to ``key``, made ``hours_ago`` before ``T0``."""
    return IdempotencyRecord(
        tenant_id=tenant.id if isinstance(tenant, Tenant) else tenant,
        scope=scope,
        key=key,
        fingerprint="f" * 64,
        status=201,
        response={
            "id": "0190b3c4-0000-7000-8000-000000000000",
            "username": "ärger",
            "mfa_enabled": False,
            "nested": {"list": [1, 2, 3], "none": None},
        },
        created_at=T0 - timedelta(hours=hours_ago),
    )


async def session_for(
    uow_factory: UnitOfWorkFactory,
    tenant: Tenant,
    username: str = "alice",
    *,
    minutes: float = 0,
    user: User | None = None,
) -> Session:
    """Add and commit a session (and its user, unless ``user`` is given) started
    ``minutes`` after ``T0``, with a lifetime of one day."""
    async with uow_factory() as uow:
        if user is None:
            user = make_user(tenant.id, username)
            await uow.users.add(user)
        session = Session.start(
            tenant_id=tenant.id,
            user_id=user.id,
            now=T0 + timedelta(minutes=minutes),
            max_age=timedelta(days=1),
            ip="192.0.2.1",
            user_agent="Mozilla/5.0",
        )
        await uow.sessions.add(session)
        await uow.commit()
    return session


def refresh_token_of(
    session: Session, *, minutes: float = 0, ttl: timedelta = timedelta(days=1)
) -> RefreshToken:
    """A refresh token of ``session`` issued ``minutes`` after ``T0``, with a unique hash."""
    created = T0 + timedelta(minutes=minutes)
    return RefreshToken(
        id=uuid.uuid4(),
        tenant_id=session.tenant_id,
        user_id=session.user_id,
        session_id=session.id,
        token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
        created_at=created,
        expires_at=created + ttl,
    )
