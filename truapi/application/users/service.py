"""User use cases: register, read, change, remove and list users of a tenant."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from truapi.application.auth.context import RevocationPublisher, record_revocations
from truapi.application.authz.changes import VersionPublisher
from truapi.application.pagination import CursorCodec, Page
from truapi.application.ports.auth_repositories import Revocation
from truapi.application.ports.clock import Clock
from truapi.application.ports.repositories import (
    UserKeyset,
    UserQuery,
    UserSort,
)
from truapi.application.ports.security import CommonPasswords, PasswordHasher
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.application.preconditions import (
    IdempotentCreation,
    IdempotentRequest,
    etag_matches,
)
from truapi.domain.errors import (
    IdempotencyInProgress,
    InvalidCursor,
    PasswordTooCommon,
    UserNotFound,
    VersionMismatch,
)
from truapi.domain.groups import MemberType
from truapi.domain.sessions import RevocationReason
from truapi.domain.users import User, UserStatus, check_password_length, user_etag

_CREATE_SCOPE = "POST /users"


@dataclass(frozen=True, slots=True)
class CreateUser:
    tenant_id: uuid.UUID
    username: str
    email: str
    display_name: str | None = None
    password: str | None = field(default=None, repr=False)
    status: UserStatus = UserStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class UpdateUser:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    email: str | None = None
    display_name: str | None = None
    status: UserStatus | None = None
    if_match: str | None = None


@dataclass(frozen=True, slots=True)
class Created:
    """The outcome of a create: the user's public view and ETag, and whether it was a replay."""

    view: dict[str, Any]
    etag: str
    replayed: bool


class UserService:
    """Every use case on users, sharing one unit-of-work factory, clock and hasher."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        common_passwords: CommonPasswords,
        cursors: CursorCodec,
        revocations: RevocationPublisher | None = None,
        revocation_horizon: timedelta = timedelta(minutes=15),
        policy_versions: VersionPublisher | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._common = common_passwords
        self._cursors = cursors
        self._revocations = revocations
        self._horizon = revocation_horizon
        self._policy_versions = policy_versions
        self._idempotency = IdempotentCreation(uow, _CREATE_SCOPE)

    async def check_password(self, password: str) -> None:
        """Apply the password policy: length, then the shipped common-password list."""
        check_password_length(password)
        if self._common.is_common(password):
            raise PasswordTooCommon()

    async def create(
        self, cmd: CreateUser, idempotency: IdempotentRequest | None = None
    ) -> Created:
        """Register a user; with an idempotency key, a repeat replays the first answer."""
        now = self._clock.now()
        if idempotency is not None:
            replay = await self._replay(cmd.tenant_id, idempotency, now)
            if replay is not None:
                return replay
        if cmd.password is not None:
            await self.check_password(cmd.password)
        user = User.register(
            tenant_id=cmd.tenant_id,
            username=cmd.username,
            email=cmd.email,
            display_name=cmd.display_name,
            status=cmd.status,
            now=now,
        )
        if cmd.password is not None:
            password_hash = await self._hasher.hash(cmd.password)
            user = replace(user, password_hash=password_hash)
        view = user.public_view()
        try:
            await self._insert(user, view, idempotency, now)
        except IdempotencyInProgress:
            # A twin request with the same key committed first: answer as it did.
            assert idempotency is not None
            replay = await self._replay(cmd.tenant_id, idempotency, now)
            if replay is None:
                raise
            return replay
        return Created(view=view, etag=user.etag, replayed=False)

    async def _insert(
        self,
        user: User,
        view: dict[str, Any],
        idempotency: IdempotentRequest | None,
        now: datetime,
    ) -> None:
        async with self._uow() as uow:
            if idempotency is not None:
                await self._idempotency.claim(uow, user.tenant_id, idempotency, view, now)
            await uow.users.add(user)
            await uow.commit()

    async def _replay(
        self, tenant_id: uuid.UUID, request: IdempotentRequest, now: datetime
    ) -> Created | None:
        response = await self._idempotency.first_answer(tenant_id, request, now)
        if response is None:
            return None
        # The record is written with the user's first version, so its ETag is version 1's.
        etag = user_etag(uuid.UUID(str(response["id"])), 1)
        return Created(view=response, etag=etag, replayed=True)

    async def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> User:
        """The user with this id in this tenant, or ``UserNotFound``."""
        async with self._uow(readonly=True) as uow:
            user = await uow.users.get(tenant_id, user_id)
        if user is None:
            raise UserNotFound()
        return user

    async def update(self, cmd: UpdateUser) -> User:
        """Change email, display name or status; honours an ``If-Match`` ETag. Disabling a
        user ends all their sessions."""
        revocations: list[Revocation] = []
        async with self._uow() as uow:
            user = await uow.users.get(cmd.tenant_id, cmd.user_id)
            if user is None:
                raise UserNotFound()
            if cmd.if_match is not None and not etag_matches(cmd.if_match, user.etag):
                raise VersionMismatch()
            changed = user.with_changes(
                now=self._clock.now(),
                email=cmd.email,
                display_name=cmd.display_name,
                status=cmd.status,
            )
            if not await uow.users.update(changed):
                raise VersionMismatch()
            if changed.status is UserStatus.DISABLED and user.status is not UserStatus.DISABLED:
                now = self._clock.now()
                ended = await uow.sessions.revoke_for_user(
                    cmd.tenant_id, cmd.user_id, now, RevocationReason.USER_DISABLED
                )
                revocations = await record_revocations(
                    uow, cmd.tenant_id, ended, now, self._horizon
                )
            await uow.commit()
        await self._publish(revocations)
        return changed

    async def _publish(self, revocations: list[Revocation]) -> None:
        if revocations and self._revocations is not None:
            await self._revocations.publish(revocations)

    async def delete(
        self, tenant_id: uuid.UUID, user_id: uuid.UUID, if_match: str | None = None
    ) -> None:
        """Remove the user and everything that hangs on them, atomically."""
        async with self._uow() as uow:
            user = await uow.users.get(tenant_id, user_id)
            if user is None:
                raise UserNotFound()
            if if_match is not None and not etag_matches(if_match, user.etag):
                raise VersionMismatch()
            # Memberships and the user's own ACLs go too: the tenant's policy changes.
            version = await uow.policy_versions.bump(tenant_id)
            await uow.groups.remove_member_everywhere(tenant_id, MemberType.USER, user_id)
            await uow.acls.delete_many(tenant_id, [f"user:{user_id}"])
            await uow.dacls.delete_many(tenant_id, [f"user:{user_id}"])
            await uow.refresh_tokens.delete_for_user(tenant_id, user_id)
            ended = await uow.sessions.delete_for_user(tenant_id, user_id)
            revocations = await record_revocations(
                uow, tenant_id, ended, self._clock.now(), self._horizon
            )
            if not await uow.users.delete(tenant_id, user_id):
                raise UserNotFound()
            await uow.commit()
        await self._publish(revocations)
        if self._policy_versions is not None:
            await self._policy_versions.publish(tenant_id, version)

    async def list(
        self, tenant_id: uuid.UUID, query: UserQuery, limit: int, cursor: str | None
    ) -> Page[User]:
        """One page of users; ``next_cursor`` continues exactly after its last item."""
        context = _query_context(tenant_id, query)
        after = self._decode_keyset(context, query.sort, cursor) if cursor else None
        async with self._uow(readonly=True) as uow:
            users = await uow.users.list_page(tenant_id, query, after, limit + 1)
        next_cursor = None
        if len(users) > limit:
            users = users[:limit]
            last = users[-1]
            if query.sort.field == "username":
                position: list[Any] = [last.username, str(last.id)]
            else:
                position = [last.created_at.isoformat(), str(last.id)]
            next_cursor = self._cursors.encode(context, position)
        return Page(items=users, next_cursor=next_cursor)

    def _decode_keyset(self, context: str, sort: UserSort, cursor: str) -> UserKeyset:
        position = self._cursors.decode(context, cursor)
        try:
            value, raw_id = position
            user_id = uuid.UUID(raw_id)
            if sort.field == "username":
                return UserKeyset(created_at=None, username=str(value), id=user_id)
            return UserKeyset(created_at=datetime.fromisoformat(value), username=None, id=user_id)
        except (ValueError, TypeError) as exc:
            raise InvalidCursor() from exc


def _query_context(tenant_id: uuid.UUID, query: UserQuery) -> str:
    """What a cursor is bound to: the tenant, the listing and its filters."""
    filters = [
        query.q,
        query.status.value if query.status else None,
        query.username,
        query.email,
        query.created_after.isoformat() if query.created_after else None,
        query.created_before.isoformat() if query.created_before else None,
        query.sort.value,
    ]
    digest = hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]
    return f"users:{tenant_id.hex}:{digest}"
