"""Port for fanning revocations out to every instance."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from truapi.application.ports.auth_repositories import Revocation


class RevocationBus(Protocol):
    """Publishes revocations to every instance (Redis pub/sub); best effort: the database
    poll remains the safety net."""

    async def publish(self, revocations: Sequence[Revocation]) -> None: ...

    async def listen(self, deliver: Callable[[list[Revocation]], Awaitable[None]]) -> None:
        """Deliver every revocation published by any instance until cancelled."""
