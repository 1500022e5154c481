"""Port for fanning policy-version changes out to every instance."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol


class PolicyBus(Protocol):
    """Tells every instance that a tenant's policy moved to a new version; best effort (each
    instance also polls the versions)."""

    async def publish(self, tenant_id: uuid.UUID, version: int) -> None: ...

    async def listen(self, deliver: Callable[[uuid.UUID, int], Awaitable[None]]) -> None:
        """Deliver every published version until cancelled; raises when the connection fails."""
