"""Session use cases: list and end a user's sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from truapi.application.auth.context import ClientInfo, RevocationPublisher, record_revocations
from truapi.application.auth.policy import AuthPolicy
from truapi.application.ports.clock import Clock
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.audit import AuditAction, AuditEvent
from truapi.domain.errors import SessionNotFound, UserNotFound
from truapi.domain.principals import Principal
from truapi.domain.sessions import RevocationReason, Session


@dataclass(frozen=True, slots=True)
class SessionView:
    session: Session
    current: bool


class SessionService:
    """Lists and revokes sessions; whose sessions the caller may touch is decided before."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        revocations: RevocationPublisher,
        policy: AuthPolicy,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._revocations = revocations
        self._policy = policy

    async def live(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, current: uuid.UUID | None
    ) -> list[SessionView]:
        """The user's live sessions, newest first; ``UserNotFound`` for an unknown user."""
        now = self._clock.now()
        async with self._uow(readonly=True) as uow:
            if await uow.users.get(tenant_id, user_id) is None:
                raise UserNotFound()
            sessions = await uow.sessions.list_unexpired(tenant_id, user_id, now)
        return [
            SessionView(session=s, current=s.id == current)
            for s in sessions
            if s.is_live(now, self._policy.session_idle_timeout)
        ]

    async def current(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> SessionView | None:
        """The caller's own session, when it is still live."""
        now = self._clock.now()
        async with self._uow(readonly=True) as uow:
            session = await uow.sessions.get(tenant_id, session_id)
        if (
            session is None
            or session.user_id != user_id
            or not session.is_live(now, self._policy.session_idle_timeout)
        ):
            return None
        return SessionView(session=session, current=True)

    async def revoke(
        self,
        actor: Principal,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        client: ClientInfo,
    ) -> None:
        """End one session of the user; ``SessionNotFound`` unless it is theirs and live."""
        now = self._clock.now()
        async with self._uow() as uow:
            session = await uow.sessions.get(tenant_id, session_id)
            if (
                session is None
                or session.user_id != user_id
                or not session.is_live(now, self._policy.session_idle_timeout)
            ):
                raise SessionNotFound()
            await uow.sessions.revoke(tenant_id, session_id, now, RevocationReason.REVOKED)
            revocations = await record_revocations(
                uow, tenant_id, [session_id], now, self._policy.revocation_horizon
            )
            await uow.audit.append(self._event(actor, tenant_id, user_id, [session_id], client))
            await uow.commit()
        await self._revocations.publish(revocations)

    async def revoke_all(
        self,
        actor: Principal,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        client: ClientInfo,
        *,
        keep: uuid.UUID | None = None,
    ) -> int:
        """End every session of the user except ``keep``; returns how many ended."""
        now = self._clock.now()
        async with self._uow() as uow:
            if await uow.users.get(tenant_id, user_id) is None:
                raise UserNotFound()
            ended = await uow.sessions.revoke_for_user(
                tenant_id, user_id, now, RevocationReason.REVOKED, keep=keep
            )
            revocations = await record_revocations(
                uow, tenant_id, ended, now, self._policy.revocation_horizon
            )
            if ended:
                await uow.audit.append(self._event(actor, tenant_id, user_id, ended, client))
            await uow.commit()
        await self._revocations.publish(revocations)
        return len(ended)

    def _event(
        self,
        actor: Principal,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        sessions: list[uuid.UUID],
        client: ClientInfo,
    ) -> AuditEvent:
        return AuditEvent.record(
            tenant_id=tenant_id,
            at=self._clock.now(),
            actor=actor.subject,
            action=AuditAction.SESSION_REVOKED,
            target=f"user:{user_id}",
            ip=client.ip,
            request_id=client.request_id,
            details={"sessions": [str(s) for s in sessions]},
        )
