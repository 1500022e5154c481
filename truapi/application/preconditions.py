"""``If-Match`` (RFC 9110 §13.1.1) and idempotent creation (``Idempotency-Key``), shared by
every use case that offers them."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from truapi.application.ports.repositories import IdempotencyRecord
from truapi.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from truapi.domain.errors import IdempotencyKeyReused

IDEMPOTENCY_TTL = timedelta(hours=24)


def etag_matches(if_match: str, etag: str) -> bool:
    """Whether an ``If-Match`` header value names ``etag`` (or is ``*``)."""
    candidates = [part.strip() for part in if_match.split(",")]
    return "*" in candidates or etag in candidates or f"W/{etag}" in candidates


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """An ``Idempotency-Key`` and a fingerprint of the request body it came with."""

    key: str
    body: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotentCreation:
    """The first answer to a creating request, kept for 24 hours per tenant and key."""

    def __init__(self, uow: UnitOfWorkFactory, scope: str) -> None:
        self._uow = uow
        self._scope = scope

    async def first_answer(
        self, tenant_id: uuid.UUID, request: IdempotentRequest, now: datetime
    ) -> dict[str, Any] | None:
        """The stored response for this key, None when there is none (or it expired);
        ``IdempotencyKeyReused`` when the key came with another body."""
        async with self._uow(readonly=True) as uow:
            record = await uow.idempotency.get(tenant_id, self._scope, request.key)
        if record is None or record.created_at < now - IDEMPOTENCY_TTL:
            return None
        if record.fingerprint != request.fingerprint:
            raise IdempotencyKeyReused()
        return record.response

    async def claim(
        self,
        uow: UnitOfWork,
        tenant_id: uuid.UUID,
        request: IdempotentRequest,
        response: dict[str, Any],
        now: datetime,
    ) -> None:
        """Record ``response`` as the answer to the key, in the creating unit of work; a
        twin request holding the key makes this raise ``IdempotencyInProgress``. Claiming
        before inserting makes a concurrent twin wait on the key and then replay, rather
        than fail on a uniqueness rule. Only expired claims are cleared, never a live one."""
        await uow.idempotency.purge_before(now - IDEMPOTENCY_TTL)
        await uow.idempotency.add(
            IdempotencyRecord(
                tenant_id=tenant_id,
                scope=self._scope,
                key=request.key,
                fingerprint=request.fingerprint,
                status=201,
                response=response,
                created_at=now,
            )
        )
