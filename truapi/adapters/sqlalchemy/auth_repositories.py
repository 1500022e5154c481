"""Core-based repositories of authentication: sessions, refresh tokens, revocations, signing
keys and the audit log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from truapi.adapters.sqlalchemy.connection import Executor
from truapi.adapters.sqlalchemy.errors import foreign_key_violated
from truapi.adapters.sqlalchemy.repositories import _insert_unless_conflict
from truapi.adapters.sqlalchemy.tables import (
    audit_chain_heads,
    audit_events,
    refresh_tokens,
    session_revocations,
    sessions,
    signing_keys,
)
from truapi.application.ports.auth_repositories import Revocation
from truapi.domain.audit import GENESIS_HASH, AuditEvent
from truapi.domain.errors import Conflict, SessionNotFound, TenantNotFound, UserNotFound
from truapi.domain.sessions import MfaLevel, Session
from truapi.domain.tokens import KeyState, RefreshToken, SigningKey


def _to_session(row: Any) -> Session:
    return Session(
        id=row.id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        auth_time=row.auth_time,
        mfa_level=MfaLevel(row.mfa_level),
        amr=tuple(row.amr),
        ip=row.ip,
        user_agent=row.user_agent,
        revoked_at=row.revoked_at,
        revoked_reason=row.revoked_reason,
    )


class SqlSessionRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def add(self, session: Session) -> None:
        row = {
            "id": session.id,
            "tenant_id": session.tenant_id,
            "user_id": session.user_id,
            "created_at": session.created_at,
            "last_seen_at": session.last_seen_at,
            "expires_at": session.expires_at,
            "auth_time": session.auth_time,
            "mfa_level": session.mfa_level.value,
            "amr": list(session.amr),
            "ip": session.ip,
            "user_agent": session.user_agent,
            "revoked_at": session.revoked_at,
            "revoked_reason": session.revoked_reason,
        }
        # SQLite does not say which foreign key failed; a missing tenant has no user either.
        if not await _insert_unless_conflict(
            self._c, sessions, row, on_missing_reference=UserNotFound()
        ):
            raise Conflict("A session with this id already exists.")

    async def get(self, tenant_id: uuid.UUID, session_id: uuid.UUID) -> Session | None:
        result = await self._c.execute(
            select(sessions).where(sessions.c.tenant_id == tenant_id, sessions.c.id == session_id)
        )
        row = result.first()
        return _to_session(row) if row is not None else None

    async def list_unexpired(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, now: datetime
    ) -> list[Session]:
        result = await self._c.execute(
            select(sessions)
            .where(
                sessions.c.tenant_id == tenant_id,
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
            .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
        )
        return [_to_session(row) for row in result]

    async def touch(self, session: Session) -> None:
        await self._c.execute(
            update(sessions)
            .where(sessions.c.tenant_id == session.tenant_id, sessions.c.id == session.id)
            .values(last_seen_at=session.last_seen_at, ip=session.ip, user_agent=session.user_agent)
        )

    async def revoke(
        self, tenant_id: uuid.UUID, session_id: uuid.UUID, at: datetime, reason: str
    ) -> bool:
        result = await self._c.execute(
            update(sessions)
            .where(
                sessions.c.tenant_id == tenant_id,
                sessions.c.id == session_id,
                sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=at, revoked_reason=reason)
        )
        return bool(result.rowcount == 1)

    async def revoke_for_user(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        at: datetime,
        reason: str,
        *,
        keep: uuid.UUID | None = None,
    ) -> list[uuid.UUID]:
        stmt = update(sessions).where(
            sessions.c.tenant_id == tenant_id,
            sessions.c.user_id == user_id,
            sessions.c.revoked_at.is_(None),
        )
        if keep is not None:
            stmt = stmt.where(sessions.c.id != keep)
        # RETURNING names exactly the rows this statement changed, even with a concurrent writer.
        result = await self._c.execute(
            stmt.values(revoked_at=at, revoked_reason=reason).returning(sessions.c.id)
        )
        return [row.id for row in result]

    async def delete_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> list[uuid.UUID]:
        result = await self._c.execute(
            delete(sessions)
            .where(sessions.c.tenant_id == tenant_id, sessions.c.user_id == user_id)
            .returning(sessions.c.id, sessions.c.revoked_at)
        )
        return [row.id for row in result if row.revoked_at is None]


def _to_refresh_token(row: Any) -> RefreshToken:
    return RefreshToken(
        id=row.id,
        tenant_id=row.tenant_id,
        user_id=row.user_id,
        session_id=row.session_id,
        token_hash=row.token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
        replaced_by=row.replaced_by,
        revoked_at=row.revoked_at,
    )


class SqlRefreshTokenRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def add(self, token: RefreshToken) -> None:
        row = {
            "id": token.id,
            "tenant_id": token.tenant_id,
            "user_id": token.user_id,
            "session_id": token.session_id,
            "token_hash": token.token_hash,
            "created_at": token.created_at,
            "expires_at": token.expires_at,
            "used_at": token.used_at,
            "replaced_by": token.replaced_by,
            "revoked_at": token.revoked_at,
        }
        if not await _insert_unless_conflict(
            self._c, refresh_tokens, row, on_missing_reference=SessionNotFound()
        ):
            raise Conflict("A refresh token with this id or hash already exists.")

    async def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        result = await self._c.execute(
            select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        )
        row = result.first()
        return _to_refresh_token(row) if row is not None else None

    async def mark_used(self, token_id: uuid.UUID, at: datetime, replaced_by: uuid.UUID) -> bool:
        # One conditional statement: of concurrent callers, the database lets exactly one match
        # (PostgreSQL re-checks the condition on the row once the first writer commits).
        result = await self._c.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.id == token_id,
                refresh_tokens.c.used_at.is_(None),
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(used_at=at, replaced_by=replaced_by)
        )
        return bool(result.rowcount == 1)

    async def revoke_session(
        self, tenant_id: uuid.UUID, session_id: uuid.UUID, at: datetime
    ) -> int:
        result = await self._c.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.tenant_id == tenant_id,
                refresh_tokens.c.session_id == session_id,
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return int(result.rowcount)

    async def revoke_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID, at: datetime) -> int:
        result = await self._c.execute(
            update(refresh_tokens)
            .where(
                refresh_tokens.c.tenant_id == tenant_id,
                refresh_tokens.c.user_id == user_id,
                refresh_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return int(result.rowcount)

    async def delete_for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
        result = await self._c.execute(
            delete(refresh_tokens).where(
                refresh_tokens.c.tenant_id == tenant_id, refresh_tokens.c.user_id == user_id
            )
        )
        return int(result.rowcount)

    async def purge_expired(self, before: datetime) -> int:
        result = await self._c.execute(
            delete(refresh_tokens).where(refresh_tokens.c.expires_at < before)
        )
        return int(result.rowcount)


def _insert_ignoring_duplicates(table: Table, rows: list[dict[str, Any]], dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table).values(rows).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).values(rows).on_conflict_do_nothing()
    return insert(table).values(rows)  # pragma: no cover - only SQLite and PostgreSQL


class SqlRevocationRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def add_many(self, revocations: Sequence[Revocation]) -> None:
        if not revocations:
            return
        rows = [
            {
                "session_id": r.session_id,
                "tenant_id": r.tenant_id,
                "revoked_at": r.revoked_at,
                "expires_at": r.expires_at,
            }
            for r in revocations
        ]
        try:
            await self._c.execute(
                _insert_ignoring_duplicates(session_revocations, rows, self._c.dialect.name)
            )
        except IntegrityError as exc:
            if foreign_key_violated(exc):
                raise TenantNotFound() from None
            raise

    async def since(self, after: datetime, now: datetime) -> list[Revocation]:
        result = await self._c.execute(
            select(session_revocations)
            .where(
                session_revocations.c.revoked_at >= after,
                session_revocations.c.expires_at > now,
            )
            .order_by(session_revocations.c.revoked_at, session_revocations.c.session_id)
        )
        return [
            Revocation(
                tenant_id=row.tenant_id,
                session_id=row.session_id,
                revoked_at=row.revoked_at,
                expires_at=row.expires_at,
            )
            for row in result
        ]

    async def purge_expired(self, now: datetime) -> int:
        result = await self._c.execute(
            delete(session_revocations).where(session_revocations.c.expires_at <= now)
        )
        return int(result.rowcount)


def _to_signing_key(row: Any) -> SigningKey:
    return SigningKey(
        kid=row.kid,
        algorithm=row.algorithm,
        state=KeyState(row.state),
        public_jwk=row.public_jwk,
        private_key_encrypted=bytes(row.private_key_encrypted),
        created_at=row.created_at,
        retiring_at=row.retiring_at,
        retire_after=row.retire_after,
        retired_at=row.retired_at,
    )


class SqlSigningKeyRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def list(self, states: Sequence[KeyState] | None = None) -> list[SigningKey]:
        stmt = select(signing_keys).order_by(signing_keys.c.created_at, signing_keys.c.kid)
        if states is not None:
            stmt = stmt.where(signing_keys.c.state.in_([s.value for s in states]))
        return [_to_signing_key(row) for row in await self._c.execute(stmt)]

    async def add(self, key: SigningKey) -> None:
        row = {
            "kid": key.kid,
            "algorithm": key.algorithm,
            "state": key.state.value,
            "public_jwk": key.public_jwk,
            "private_key_encrypted": key.private_key_encrypted,
            "created_at": key.created_at,
            "retiring_at": key.retiring_at,
            "retire_after": key.retire_after,
            "retired_at": key.retired_at,
        }
        if not await _insert_unless_conflict(self._c, signing_keys, row):
            raise Conflict("A signing key with this kid already exists.")

    async def update(self, key: SigningKey) -> None:
        await self._c.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == key.kid)
            .values(
                state=key.state.value,
                retiring_at=key.retiring_at,
                retire_after=key.retire_after,
                retired_at=key.retired_at,
            )
        )


def _to_audit_event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        tenant_id=row.tenant_id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        outcome=row.outcome,
        ip=row.ip,
        request_id=row.request_id,
        details=row.details,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class SqlAuditRepository:
    def __init__(self, conn: Executor) -> None:
        self._c = conn

    async def append(self, event: AuditEvent) -> AuditEvent:
        heads = audit_chain_heads
        await _insert_unless_conflict(
            self._c,
            heads,
            {"tenant_id": event.tenant_id, "seq": 0, "hash": GENESIS_HASH},
            on_missing_reference=TenantNotFound(),
        )
        # The row lock makes a concurrent append of the tenant wait until this one commits, then
        # read the head it left. SQLite renders no FOR UPDATE: its writers already hold the
        # database's write lock (BEGIN IMMEDIATE) for the whole unit of work.
        head = (
            await self._c.execute(
                select(heads.c.seq, heads.c.hash)
                .where(heads.c.tenant_id == event.tenant_id)
                .with_for_update()
            )
        ).one()
        stored = event.chained(head.hash)
        seq = head.seq + 1
        await self._c.execute(
            insert(audit_events).values(
                id=stored.id,
                tenant_id=stored.tenant_id,
                seq=seq,
                at=stored.at,
                actor=stored.actor,
                action=stored.action,
                target=stored.target,
                outcome=stored.outcome,
                ip=stored.ip,
                request_id=stored.request_id,
                details=stored.details,
                prev_hash=stored.prev_hash,
                hash=stored.hash,
            )
        )
        await self._c.execute(
            update(heads)
            .where(heads.c.tenant_id == event.tenant_id)
            .values(seq=seq, hash=stored.hash)
        )
        return stored

    async def list_recent(
        self, tenant_id: uuid.UUID, limit: int = 100, action: str | None = None
    ) -> list[AuditEvent]:
        stmt = select(audit_events).where(audit_events.c.tenant_id == tenant_id)
        if action is not None:
            stmt = stmt.where(audit_events.c.action == action)
        result = await self._c.execute(stmt.order_by(audit_events.c.seq.desc()).limit(limit))
        return [_to_audit_event(row) for row in result]

    async def delete_for_tenant(self, tenant_id: uuid.UUID) -> int:
        result = await self._c.execute(
            delete(audit_events).where(audit_events.c.tenant_id == tenant_id)
        )
        # Without its events the old head would make the next event link to a missing one.
        await self._c.execute(
            delete(audit_chain_heads).where(audit_chain_heads.c.tenant_id == tenant_id)
        )
        return int(result.rowcount)
