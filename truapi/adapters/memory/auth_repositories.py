"""In-memory repositories of authentication over a ``MemoryStore`` copy."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from truapi.adapters.memory.store import MemoryStore
from truapi.application.ports.auth_repositories import Revocation
from truapi.domain.audit import GENESIS_HASH, AuditEvent
from truapi.domain.errors import Conflict, SessionNotFound, TenantNotFound, UserNotFound
from truapi.domain.sessions import Session
from truapi.domain.tokens import KeyState, RefreshToken, SigningKey


class MemorySessionRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def _of_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[Session]:
        return [
            s
            for s in self._s.sessions.values()
            if s.tenant_id == tenant_id and s.user_id == user_id and self._s.session_exists(s)
        ]

    async def add(self, session: Session) -> None:
        # The foreign keys of the SQL schema: the tenant and the user must exist.
        if session.tenant_id not in self._s.tenants or session.user_id not in self._s.users:
            raise UserNotFound()
        existing = self._s.sessions.get(session.id)
        if existing is not None:
            if self._s.session_exists(existing):
                raise Conflict("A session with this id already exists.")
            # The leftover of a deleted user must not lend the newcomer its refresh tokens.
            self._s.drop_orphans()
        self._s.sessions[session.id] = session

    async def get(self, tenant_id: uuid.UUID, session_id: uuid.UUID) -> Session | None:
        session = self._s.sessions.get(session_id)
        if session is None or session.tenant_id != tenant_id or not self._s.session_exists(session):
            return None
        return session

    async def list_unexpired(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> list[Session]:
        found = [
            s
            for s in self._of_user(tenant_id, user_id)
            if s.revoked_at is None and s.expires_at > now
        ]
        return sorted(found, key=lambda s: (s.created_at, s.id), reverse=True)

    async def touch(self, session: Session) -> None:
        stored = await self.get(session.tenant_id, session.id)
        if stored is not None:
            self._s.sessions[session.id] = replace(
                stored,
                last_seen_at=session.last_seen_at,
                ip=session.ip,
                user_agent=session.user_agent,
            )

    async def revoke(
        self, tenant_id: uuid.UUID, session_id: uuid.UUID, at: datetime, reason: str
    ) -> bool:
        stored = await self.get(tenant_id, session_id)
        if stored is None or stored.revoked_at is not None:
            return False
        self._s.sessions[session_id] = replace(stored, revoked_at=at, revoked_reason=reason)
        return True

    async def revoke_for_user(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        at: datetime,
        reason: str,
        *,
        keep: uuid.UUID | None = None,
    ) -> list[uuid.UUID]:
        revoked = []
        for session in self._of_user(tenant_id, user_id):
            if session.revoked_at is None and session.id != keep:
                self._s.sessions[session.id] = replace(
                    session, revoked_at=at, revoked_reason=reason
                )
                revoked.append(session.id)
        return revoked

    async def delete_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[uuid.UUID]:
        doomed = self._of_user(tenant_id, user_id)
        for session in doomed:
            del self._s.sessions[session.id]
        # Their refresh tokens go too (ON DELETE CASCADE in SQL).
        self._s.drop_orphans()
        return [s.id for s in doomed if s.revoked_at is None]


class MemoryRefreshTokenRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    def _matching(self, tenant_id: uuid.UUID, **where: uuid.UUID) -> list[RefreshToken]:
        return [
            t
            for t in self._s.refresh_tokens.values()
            if t.tenant_id == tenant_id
            and all(getattr(t, name) == value for name, value in where.items())
            and self._s.refresh_token_exists(t)
        ]

    def _revoke(self, tokens: list[RefreshToken], at: datetime) -> int:
        count = 0
        for token in tokens:
            if token.revoked_at is None:
                self._s.refresh_tokens[token.id] = replace(token, revoked_at=at)
                count += 1
        return count

    def _delete(self, tokens: list[RefreshToken]) -> int:
        for token in tokens:
            del self._s.refresh_tokens[token.id]
            del self._s.refresh_token_hashes[token.token_hash]
        return len(tokens)

    async def add(self, token: RefreshToken) -> None:
        session = self._s.sessions.get(token.session_id)
        if (
            token.tenant_id not in self._s.tenants
            or session is None
            or not self._s.session_exists(session)
        ):
            raise SessionNotFound()
        holders = {token.id, self._s.refresh_token_hashes.get(token.token_hash)}
        if any(self._get(h) is not None for h in holders if h is not None):
            raise Conflict("A refresh token with this id or hash already exists.")
        if any(h in self._s.refresh_tokens for h in holders):
            # Unseen leftovers of a deleted user hold neither their id nor their hash.
            self._s.drop_orphans()
        self._s.refresh_tokens[token.id] = token
        self._s.refresh_token_hashes[token.token_hash] = token.id

    def _get(self, token_id: uuid.UUID) -> RefreshToken | None:
        token = self._s.refresh_tokens.get(token_id)
        return token if token is not None and self._s.refresh_token_exists(token) else None

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        token_id = self._s.refresh_token_hashes.get(token_hash)
        return self._get(token_id) if token_id is not None else None

    async def mark_used(self, token_id: uuid.UUID, at: datetime, replaced_by: uuid.UUID) -> bool:
        token = self._get(token_id)
        if token is None or token.used_at is not None or token.revoked_at is not None:
            return False
        self._s.refresh_tokens[token_id] = replace(token, used_at=at, replaced_by=replaced_by)
        return True

    async def revoke_session(
        self, tenant_id: uuid.UUID, session_id: uuid.UUID, at: datetime
    ) -> int:
        return self._revoke(self._matching(tenant_id, session_id=session_id), at)

    async def revoke_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> int:
        return self._revoke(self._matching(tenant_id, user_id=user_id), at)

    async def delete_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        return self._delete(self._matching(tenant_id, user_id=user_id))

    async def purge_expired(self, before: datetime) -> int:
        self._s.drop_orphans()
        return self._delete([t for t in self._s.refresh_tokens.values() if t.expires_at < before])


class MemoryRevocationRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def add_many(self, revocations: Sequence[Revocation]) -> None:
        if any(r.tenant_id not in self._s.tenants for r in revocations):
            raise TenantNotFound()
        for revocation in revocations:
            self._s.revocations.setdefault(revocation.session_id, revocation)

    async def since(self, after: datetime, now: datetime) -> list[Revocation]:
        found = [
            r for r in self._s.revocations.values() if r.revoked_at >= after and r.expires_at > now
        ]
        return sorted(found, key=lambda r: (r.revoked_at, r.session_id))

    async def purge_expired(self, now: datetime) -> int:
        expired = [k for k, r in self._s.revocations.items() if r.expires_at <= now]
        for key in expired:
            del self._s.revocations[key]
        return len(expired)


class MemorySigningKeyRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def list(self, states: Sequence[KeyState] | None = None) -> list[SigningKey]:
        keys = [k for k in self._s.signing_keys.values() if states is None or k.state in states]
        return sorted(keys, key=lambda k: (k.created_at, k.kid))

    async def add(self, key: SigningKey) -> None:
        if key.kid in self._s.signing_keys:
            raise Conflict("A signing key with this kid already exists.")
        self._s.signing_keys[key.kid] = key

    async def update(self, key: SigningKey) -> None:
        stored = self._s.signing_keys.get(key.kid)
        if stored is not None:
            self._s.signing_keys[key.kid] = replace(
                stored,
                state=key.state,
                retiring_at=key.retiring_at,
                retire_after=key.retire_after,
                retired_at=key.retired_at,
            )


class MemoryAuditRepository:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store

    async def append(self, event: AuditEvent) -> AuditEvent:
        # Writers hold the store's lock for their whole unit of work, so appends never interleave.
        if event.tenant_id not in self._s.tenants:
            raise TenantNotFound()
        chain = self._s.audit_events.get(event.tenant_id, ())
        stored = event.chained(chain[-1].hash if chain else GENESIS_HASH)
        self._s.audit_events[event.tenant_id] = (*chain, stored)
        return stored

    async def list_recent(
        self, tenant_id: uuid.UUID, limit: int = 100, action: str | None = None
    ) -> list[AuditEvent]:
        found: list[AuditEvent] = []
        for event in reversed(self._s.audit_events.get(tenant_id, ())):
            if len(found) == limit:
                break
            if action is None or event.action == action:
                found.append(event)
        return found

    async def delete_for_tenant(self, tenant_id: uuid.UUID) -> int:
        return len(self._s.audit_events.pop(tenant_id, ()))
