"""The group ids an access token carries: all of them up to a cap, else none (the token then
says nothing about groups, and introspection gives the full list)."""

from __future__ import annotations

import uuid

from truapi.application.authz.authorizer import Authorizer
from truapi.domain.groups import MemberType


class TokenGroups:
    """Looks up a user's groups (nested ones included) for tokens and introspection."""

    def __init__(self, authorizer: Authorizer, cap: int) -> None:
        self._authorizer = authorizer
        self._cap = cap

    async def all(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[str]:
        """Every group id of the user, sorted."""
        depths = await self._authorizer.groups(tenant_id, MemberType.USER, user_id)
        return sorted(str(g) for g in depths)

    async def for_token(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[str] | None:
        """The ids to put in a token, or None when there are more than the cap (a partial
        list would read as "not a member" for the rest)."""
        if self._cap == 0:
            return None
        groups = await self.all(tenant_id, user_id)
        return groups if len(groups) <= self._cap else None
