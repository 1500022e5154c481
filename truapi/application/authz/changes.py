"""What every policy change shares: who made it, the audit event it writes, and the
version it publishes once committed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from truapi.application.auth.context import ClientInfo
from truapi.application.ports.unit_of_work import UnitOfWork
from truapi.domain.audit import AuditEvent


class VersionPublisher(Protocol):
    """Makes a committed policy version known here at once and to every other instance."""

    async def publish(self, tenant_id: uuid.UUID, version: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes the policy, and from where (for the audit log)."""

    tenant_id: uuid.UUID
    principal: str
    client: ClientInfo = field(default_factory=ClientInfo)


async def audit(
    uow: UnitOfWork,
    actor: Actor,
    at: datetime,
    action: str,
    target: str,
    details: dict[str, Any],
) -> None:
    """Append the audit event of one change, in the change's own unit of work."""
    await uow.audit.append(
        AuditEvent.record(
            tenant_id=actor.tenant_id,
            at=at,
            actor=actor.principal,
            action=action,
            target=target,
            ip=actor.client.ip,
            request_id=actor.client.request_id,
            details=details,
        )
    )
