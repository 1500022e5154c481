"""A tenant's starting policy: its ``admins`` group may do anything on the tenant root, and
every user may read and write their own ``user:`` resource."""

from __future__ import annotations

from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.policy.acl import ANY_ACTION, Acl, AclEntry, Dacl, Effect
from truapi.domain.policy.principals import OWNER
from truapi.domain.policy.resources import USER, tenant_root
from truapi.domain.tenants import ADMINS_GROUP_NAME, Tenant


async def ensure_tenant_policy(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> bool:
    """Write the starting policy of a tenant whose policy never changed; True when written.
    Later changes (even removing these entries) are the administrators' to make."""
    async with uow_factory() as uow:
        if await uow.policy_versions.current(tenant.id) != 0:
            return False
        version = await uow.policy_versions.bump(tenant.id)
        admins = await uow.groups.get_by_name(tenant.id, ADMINS_GROUP_NAME)
        root = tenant_root(tenant.id)
        if admins is not None:
            entry = AclEntry(Effect.ALLOW, f"group:{admins.id}", (ANY_ACTION,))
            await uow.acls.put(
                tenant.id, Acl(root, inherit=True, entries=(entry,), version=version)
            )
        own = AclEntry(Effect.ALLOW, OWNER, ("read", "write"))
        await uow.dacls.put(tenant.id, Dacl(root, USER, (own,)))
        await uow.commit()
    return True
