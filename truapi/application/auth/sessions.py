"""Session use cases: list and end a user's sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from truapi.application.auth.context import ClientInfo, RevocationPublisher, record_revocations
from truapi.application.auth.policy import AuthPolicy
from truapi.application.pagination import MAX_LIMIT, CursorCodec, Page
from truapi.application.ports.clock import Clock
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.audit import AuditAction, AuditEvent
from truapi.domain.errors import InvalidCursor, SessionNotFound, UserNotFound
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
        cursors: CursorCodec,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._revocations = revocations
        self._policy = policy
        self._cursors = cursors

    async def live(
        self,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        current: uuid.UUID | None,
        *,
        limit: int = MAX_LIMIT,
        cursor: str | None = None,
    ) -> Page[SessionView]:
        """A page of the user's live sessions, newest first; ``UserNotFound`` for an unknown
        user, ``InvalidCursor`` for a cursor not made by this listing."""
        context = f"sessions:{tenant_id.hex}:{user_id.hex}"
        after: tuple[str, str] | None = None
        if cursor is not None:
            position = self._cursors.decode(context, cursor)
            if len(position) != 2 or not all(isinstance(p, str) for p in position):
                raise InvalidCursor()
            after = (position[0], position[1])
        now = self._clock.now()
        async with self._uow(readonly=True) as uow:
            if await uow.users.get(tenant_id, user_id) is None:
                raise UserNotFound()
            sessions = await uow.sessions.list_unexpired(tenant_id, user_id, now)
        live = sorted(
            (s for s in sessions if s.is_live(now, self._policy.session_idle_timeout)),
            key=_position,
            reverse=True,
        )
        if after is not None:
            live = [s for s in live if _position(s) < after]
        items = [SessionView(session=s, current=s.id == current) for s in live[:limit]]
        next_cursor = None
        if len(live) > limit:
            next_cursor = self._cursors.encode(context, list(_position(live[limit - 1])))
        return Page(items=items, next_cursor=next_cursor)

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


def _position(session: Session) -> tuple[str, str]:
    """Where a session sits in a listing, newest first: creation time, then id."""
    return (session.created_at.isoformat(), str(session.id))
