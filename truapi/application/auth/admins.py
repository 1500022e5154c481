"""Who administers a tenant: members of its ``admins`` group."""

from __future__ import annotations

from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import Forbidden
from truapi.domain.groups import MemberType
from truapi.domain.principals import Principal
from truapi.domain.tenants import ADMINS_GROUP_NAME


class TenantAdmins:
    """The one check administrator-only operations make (until a policy engine decides)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def is_admin(self, principal: Principal) -> bool:
        async with self._uow(readonly=True) as uow:
            group = await uow.groups.get_by_name(principal.tenant_id, ADMINS_GROUP_NAME)
            if group is None:
                return False
            return await uow.groups.is_member(
                principal.tenant_id, group.id, MemberType.USER, principal.user_id
            )

    async def require(self, principal: Principal) -> None:
        """Raise ``Forbidden`` unless the principal administers its tenant."""
        if not await self.is_admin(principal):
            raise Forbidden("This operation is reserved to the tenant's administrators.")
