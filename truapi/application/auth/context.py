"""What a use case knows of the request that called it, and how it ends sessions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from truapi.application.ports.auth_repositories import Revocation
from truapi.application.ports.unit_of_work import UnitOfWork


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The caller's address (socket, or trusted proxy's view), user agent and request id."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


class RevocationPublisher(Protocol):
    """Makes committed revocations known to this and every other instance."""

    async def publish(self, revocations: Sequence[Revocation]) -> None: ...


async def record_revocations(
    uow: UnitOfWork,
    tenant_id: uuid.UUID,
    session_ids: Iterable[uuid.UUID],
    now: datetime,
    horizon: timedelta,
) -> list[Revocation]:
    """Revoke the sessions' refresh tokens and list the sessions for every instance to refuse
    their access tokens; part of the caller's unit of work (publish after the commit)."""
    revocations = []
    for session_id in session_ids:
        await uow.refresh_tokens.revoke_session(tenant_id, session_id, now)
        revocations.append(
            Revocation(
                tenant_id=tenant_id, session_id=session_id, revoked_at=now, expires_at=now + horizon
            )
        )
    if revocations:
        await uow.revocations.add_many(revocations)
    return revocations
