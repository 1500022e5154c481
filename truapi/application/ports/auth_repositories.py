"""Repository ports of authentication: sessions, refresh tokens, revocations, signing keys
and the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from truapi.domain.audit import AuditEvent
from truapi.domain.sessions import Session
from truapi.domain.tokens import KeyState, RefreshToken, SigningKey


class SessionRepository(Protocol):
    """Sessions of one tenant."""

    async def add(self, session: Session) -> None: ...

    async def get(self, tenant_id: uuid.UUID, session_id: uuid.UUID) -> Session | None: ...

    async def list_unexpired(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> list[Session]:
        """The user's sessions neither revoked nor past ``expires_at``, newest first."""

    async def touch(self, session: Session) -> None:
        """Store ``last_seen_at``, ``ip`` and ``user_agent`` of ``session``."""

    async def revoke(
        self, tenant_id: uuid.UUID, session_id: uuid.UUID, at: datetime, reason: str
    ) -> bool:
        """Mark one live session revoked; False when it was missing or already revoked."""

    async def revoke_for_user(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        at: datetime,
        reason: str,
        *,
        keep: uuid.UUID | None = None,
    ) -> list[uuid.UUID]:
        """Revoke every unrevoked session of the user except ``keep``; returns their ids."""

    async def delete_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[uuid.UUID]:
        """Delete every session of the user; returns the ids of those that were unrevoked."""


class RefreshTokenRepository(Protocol):
    """Refresh tokens, found by the hash of their secret."""

    async def add(self, token: RefreshToken) -> None: ...

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        """The token with this hash in any tenant (a hash names one token); the caller checks
        the tenant it belongs to."""

    async def mark_used(self, token_id: uuid.UUID, at: datetime, replaced_by: uuid.UUID) -> bool:
        """Atomically mark the token used if it is neither used nor revoked; True only for
        the one caller that did (a single conditional update: concurrent callers race)."""

    async def revoke_session(
        self, tenant_id: uuid.UUID, session_id: uuid.UUID, at: datetime
    ) -> int:
        """Revoke every unrevoked token of the session (its family); returns how many."""

    async def revoke_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> int:
        """Revoke every unrevoked token of the user; returns how many."""

    async def delete_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int: ...

    async def purge_expired(self, before: datetime) -> int:
        """Delete tokens that expired before ``before``; returns how many."""


@dataclass(frozen=True, slots=True)
class Revocation:
    """A session that ended early, with the time its last access token expires at latest."""

    tenant_id: uuid.UUID
    session_id: uuid.UUID
    revoked_at: datetime
    expires_at: datetime


class RevocationRepository(Protocol):
    """The shared list of early-ended sessions that every instance polls."""

    async def add_many(self, revocations: Sequence[Revocation]) -> None:
        """Insert; a session already listed keeps its first entry."""

    async def since(self, after: datetime, now: datetime) -> list[Revocation]:
        """Revocations recorded at or after ``after`` that still matter (``expires_at > now``),
        oldest first."""

    async def purge_expired(self, now: datetime) -> int: ...


class SigningKeyRepository(Protocol):
    """Signing keys (platform-wide: one issuer, one JWKS)."""

    async def list(self, states: Sequence[KeyState] | None = None) -> list[SigningKey]:
        """Keys in the given states (all when None), oldest first."""

    async def add(self, key: SigningKey) -> None: ...

    async def update(self, key: SigningKey) -> None:
        """Store the state and timestamps of ``key``."""


class AuditRepository(Protocol):
    """The append-only audit log, one hash chain per tenant."""

    async def append(self, event: AuditEvent) -> AuditEvent:
        """Link ``event`` after the tenant's latest one (``prev_hash``/``hash``) and store it;
        appends of one tenant are serialised so the chain never forks. Returns the stored
        event."""

    async def list_recent(
        self, tenant_id: uuid.UUID, limit: int = 100, action: str | None = None
    ) -> list[AuditEvent]:
        """The tenant's newest events first."""

    async def delete_for_tenant(self, tenant_id: uuid.UUID) -> int: ...
