"""Start-up provisioning: the default tenant, its ``admins`` group and the first administrator."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

from truapi.application.ports.clock import Clock
from truapi.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from truapi.application.users.service import CreateUser, UserService
from truapi.domain.errors import Conflict
from truapi.domain.groups import Group, Membership, MemberType
from truapi.domain.tenants import ADMINS_GROUP_NAME, DEFAULT_TENANT_SLUG, Tenant
from truapi.domain.users import User


@dataclass(frozen=True, slots=True)
class BootstrapAdmin:
    """The administrator made at first start, and the password to show once if generated."""

    user: User
    generated_password: str | None = field(default=None, repr=False)


async def _ensure_admins_group(uow: UnitOfWork, tenant: Tenant, clock: Clock) -> Group:
    group = await uow.groups.get_by_name(tenant.id, ADMINS_GROUP_NAME)
    if group is None:
        group = Group.create(
            tenant_id=tenant.id,
            name=ADMINS_GROUP_NAME,
            description="Administrators of this tenant",
            now=clock.now(),
        )
        await uow.groups.add(group)
    return group


async def ensure_default_tenant(uow_factory: UnitOfWorkFactory, clock: Clock) -> Tenant:
    """Return the platform tenant, creating it (and its ``admins`` group) on first start."""
    async with uow_factory() as uow:
        tenant = await uow.tenants.get_by_slug(DEFAULT_TENANT_SLUG)
        if tenant is not None:
            return tenant
        tenant = Tenant.create(slug=DEFAULT_TENANT_SLUG, name="Default", now=clock.now())
        try:
            await uow.tenants.add(tenant)
            await _ensure_admins_group(uow, tenant, clock)
            await uow.commit()
            return tenant
        except Conflict:
            pass
    # Another instance created it between our read and our insert: use theirs.
    async with uow_factory(readonly=True) as uow:
        existing = await uow.tenants.get_by_slug(DEFAULT_TENANT_SLUG)
    assert existing is not None
    return existing


async def make_admin(
    uow_factory: UnitOfWorkFactory, clock: Clock, tenant: Tenant, user: User
) -> None:
    """Record ``user`` as an administrator of ``tenant`` (member of its ``admins`` group)."""
    async with uow_factory() as uow:
        # A membership changes the tenant's policy; other instances notice the new version
        # on their next poll.
        await uow.policy_versions.bump(tenant.id)
        group = await _ensure_admins_group(uow, tenant, clock)
        await uow.groups.add_member(
            Membership(
                tenant_id=tenant.id,
                group_id=group.id,
                member_type=MemberType.USER,
                member_id=user.id,
                created_at=clock.now(),
            )
        )
        await uow.commit()


async def is_admin(uow_factory: UnitOfWorkFactory, tenant: Tenant, user: User) -> bool:
    """Whether ``user`` is in the tenant's ``admins`` group."""
    async with uow_factory(readonly=True) as uow:
        group = await uow.groups.get_by_name(tenant.id, ADMINS_GROUP_NAME)
        if group is None:
            return False
        return await uow.groups.is_member(tenant.id, group.id, MemberType.USER, user.id)


async def bootstrap_admin(
    users: UserService,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    tenant: Tenant,
    *,
    username: str | None,
    password: str | None,
    email: str | None,
    generate_when_unset: bool,
) -> BootstrapAdmin | None:
    """Create the first administrator when the tenant has no user yet.

    With a configured username and password that user is made; with neither and
    ``generate_when_unset``, user ``admin`` gets a random password returned to show once.
    """
    async with uow_factory(readonly=True) as uow:
        if await uow.users.count(tenant.id) > 0:
            return None
    generated = None
    if username and password:
        name, secret = username, password
    elif username is None and password is None and generate_when_unset:
        name, secret = "admin", secrets.token_urlsafe(18)
        generated = secret
    else:
        return None
    try:
        created = await users.create(
            CreateUser(
                tenant_id=tenant.id,
                username=name,
                email=email or f"{name}@localhost.localdomain",
                password=secret,
            )
        )
    except Conflict:
        return None  # a concurrent start made it first
    user = await users.get(tenant.id, _id_of(created.view))
    await make_admin(uow_factory, clock, tenant, user)
    return BootstrapAdmin(user=user, generated_password=generated)


def _id_of(view: dict[str, object]) -> uuid.UUID:
    return uuid.UUID(str(view["id"]))
