"""Authentication use cases: log in, refresh, log out, revoke, introspect, change password."""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NoReturn

import structlog

from truapi.application.auth.authenticator import Authenticator
from truapi.application.auth.context import ClientInfo, RevocationPublisher, record_revocations
from truapi.application.auth.policy import AuthPolicy
from truapi.application.auth.refresh_secrets import (
    hash_refresh_secret,
    looks_like_refresh_token,
    new_refresh_secret,
)
from truapi.application.authz.token_groups import TokenGroups
from truapi.application.ports.auth_repositories import Revocation
from truapi.application.ports.clock import Clock
from truapi.application.ports.repositories import UserQuery
from truapi.application.ports.security import CommonPasswords, PasswordHasher
from truapi.application.ports.throttle import LoginThrottle
from truapi.application.ports.tokens import AccessTokenCodec
from truapi.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from truapi.domain.audit import ANONYMOUS, AuditAction, AuditEvent
from truapi.domain.errors import (
    InvalidCredentials,
    InvalidCurrentPassword,
    InvalidRefreshToken,
    InvalidToken,
    InvalidValue,
    PasswordTooCommon,
    RefreshTokenReused,
    SessionRevoked,
    TooManyAttempts,
    UserNotFound,
)
from truapi.domain.principals import Principal
from truapi.domain.sessions import RevocationReason, Session, is_anomalous
from truapi.domain.tenants import DEFAULT_TENANT_SLUG, TenantStatus
from truapi.domain.tokens import DEFAULT_SCOPE, AccessClaims, RefreshToken
from truapi.domain.users import (
    User,
    UserStatus,
    check_password_length,
    normalize_email,
    normalize_username,
    truncate_to_millis,
)

log = structlog.get_logger("truapi.auth")


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str = field(repr=False)
    tenant: str | None = None


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)
    session_id: uuid.UUID
    scope: str


class AuthService:
    """Every use case that starts, continues or ends a session."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        hasher: PasswordHasher,
        common_passwords: CommonPasswords,
        codec: AccessTokenCodec,
        authenticator: Authenticator,
        throttle: LoginThrottle,
        revocations: RevocationPublisher,
        policy: AuthPolicy,
        groups: TokenGroups | None = None,
    ) -> None:
        self._uow = uow
        self._groups = groups
        self._clock = clock
        self._hasher = hasher
        self._common = common_passwords
        self._codec = codec
        self._authenticator = authenticator
        self._throttle = throttle
        self._revocations = revocations
        self._policy = policy
        self._dummy_hash: str | None = None

    # --- logging in ----------------------------------------------------------------------

    async def login(self, cmd: Login, client: ClientInfo) -> TokenPair:
        """Check a password and start a session; every failure looks the same to the caller."""
        slug = cmd.tenant or DEFAULT_TENANT_SLUG
        account_key = f"{slug}\x00{_fold(cmd.username)}"
        client_key = client.ip or "unknown"
        wait = await self._throttle.retry_after(account_key, client_key)
        if wait:
            raise TooManyAttempts(wait)
        user, tenant_id = await self._find_user(slug, cmd.username)
        if user is not None and user.password_hash:
            ok = await self._hasher.verify(user.password_hash, cmd.password)
        else:
            # Unknown users cost one hash too, so timing does not tell who exists.
            await self._hasher.verify(await self._dummy(), cmd.password)
            ok = False
        if user is None or not ok or user.status is not UserStatus.ACTIVE:
            wait = await self._throttle.failed(account_key, client_key)
            if tenant_id is not None:
                await self._audit_only(
                    AuditEvent.record(
                        tenant_id=tenant_id,
                        at=self._clock.now(),
                        actor=ANONYMOUS,
                        action=AuditAction.LOGIN_FAILED,
                        target=f"user:{user.id}" if user is not None else None,
                        outcome="failure",
                        ip=client.ip,
                        request_id=client.request_id,
                        details={"reason": _failure_reason(user, ok)},
                    )
                )
            raise InvalidCredentials()
        await self._throttle.succeeded(account_key, client_key)
        new_hash = None
        if self._hasher.needs_rehash(user.password_hash or ""):
            new_hash = await self._hasher.hash(cmd.password)
        return await self._start_session(user, client, new_hash)

    async def _find_user(self, slug: str, identifier: str) -> tuple[User | None, uuid.UUID | None]:
        async with self._uow(readonly=True) as uow:
            tenant = await uow.tenants.get_by_slug(slug)
            if tenant is None or tenant.status is not TenantStatus.ACTIVE:
                return None, None
            try:
                if "@" in identifier:
                    found = await uow.users.list_page(
                        tenant.id, UserQuery(email=normalize_email(identifier)), None, 1
                    )
                    return (found[0] if found else None), tenant.id
                return await uow.users.get_by_username(
                    tenant.id, normalize_username(identifier)
                ), tenant.id
            except InvalidValue:
                return None, tenant.id

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    async def _start_session(
        self, user: User, client: ClientInfo, new_hash: str | None
    ) -> TokenPair:
        now = self._clock.now()
        session = Session.start(
            tenant_id=user.tenant_id,
            user_id=user.id,
            now=now,
            max_age=self._policy.session_max_age,
            ip=client.ip,
            user_agent=client.user_agent,
        )
        secret, token = self._new_refresh_token(session, now)
        async with self._uow() as uow:
            await uow.sessions.add(session)
            await uow.refresh_tokens.add(token)
            if new_hash is not None:
                current = await uow.users.get(user.tenant_id, user.id)
                if current is not None:
                    await uow.users.update(_with_password(current, new_hash, now))
            await uow.audit.append(
                AuditEvent.record(
                    tenant_id=user.tenant_id,
                    at=now,
                    actor=f"user:{user.id}",
                    action=AuditAction.LOGIN_SUCCEEDED,
                    target=f"user:{user.id}",
                    ip=client.ip,
                    request_id=client.request_id,
                    details={"session_id": str(session.id), "amr": list(session.amr)},
                )
            )
            await uow.commit()
        return self._pair(session, secret, now, await self._token_groups(session))

    async def _token_groups(self, session: Session) -> list[str] | None:
        if self._groups is None:
            return None
        return await self._groups.for_token(session.tenant_id, session.user_id)

    def _new_refresh_token(self, session: Session, now: datetime) -> tuple[str, RefreshToken]:
        secret, token_hash = new_refresh_secret()
        expires = min(session.expires_at, now + self._policy.session_idle_timeout)
        return secret, RefreshToken(
            id=uuid.uuid4(),
            tenant_id=session.tenant_id,
            user_id=session.user_id,
            session_id=session.id,
            token_hash=token_hash,
            created_at=truncate_to_millis(now),
            expires_at=truncate_to_millis(expires),
        )

    def _pair(
        self, session: Session, refresh_secret: str, now: datetime, groups: list[str] | None
    ) -> TokenPair:
        issued = int(now.timestamp())
        ttl = int(self._policy.access_token_ttl.total_seconds())
        claims = AccessClaims(
            iss=self._policy.issuer,
            sub=str(session.user_id),
            aud=self._policy.audience,
            exp=issued + ttl,
            iat=issued,
            nbf=issued,
            jti=uuid.uuid4().hex,
            sid=str(session.id),
            tid=str(session.tenant_id),
            scope=DEFAULT_SCOPE,
            auth_time=int(session.auth_time.timestamp()),
            amr=session.amr,
            acr=session.mfa_level.value,
            groups=tuple(groups) if groups is not None else None,
        )
        return TokenPair(
            access_token=self._codec.encode(claims),
            expires_in=ttl,
            refresh_token=refresh_secret,
            session_id=session.id,
            scope=DEFAULT_SCOPE,
        )

    # --- refreshing ----------------------------------------------------------------------

    async def refresh(self, refresh_token: str, client: ClientInfo) -> TokenPair:
        """Trade a refresh token for a new pair; a used one ends its session (RFC 9700)."""
        if not looks_like_refresh_token(refresh_token):
            raise InvalidRefreshToken()
        now = self._clock.now()
        async with self._uow() as uow:
            token = await uow.refresh_tokens.get_by_hash(hash_refresh_secret(refresh_token))
            if token is None:
                raise InvalidRefreshToken()
            if token.used_at is not None:
                await self._reused(uow, token, now, client)
            if token.revoked_at is not None or token.expires_at <= now:
                raise InvalidRefreshToken()
            # A live session is enough: disabling or deleting its user ends it in the same
            # transaction, so the user need not be read again on this hot path.
            session = await uow.sessions.get(token.tenant_id, token.session_id)
            if session is None or not session.is_live(now, self._policy.session_idle_timeout):
                raise InvalidRefreshToken()
            if self._policy.anomaly_policy != "off" and is_anomalous(
                session, client.ip, client.user_agent
            ):
                await self._anomaly(uow, session, now, client)
            secret, child = self._new_refresh_token(session, now)
            if not await uow.refresh_tokens.mark_used(token.id, now, child.id):
                # A concurrent refresh of the same token won: this one is a reuse.
                await self._reused(uow, token, now, client)
            await uow.refresh_tokens.add(child)
            await uow.sessions.touch(session.seen(now, ip=client.ip, user_agent=client.user_agent))
            await uow.commit()
        return self._pair(session, secret, now, await self._token_groups(session))

    async def _reused(
        self, uow: UnitOfWork, token: RefreshToken, now: datetime, client: ClientInfo
    ) -> NoReturn:
        revocations = await self._end(
            uow, token.tenant_id, token.session_id, now, RevocationReason.REFRESH_REUSED
        )
        await uow.audit.append(
            AuditEvent.record(
                tenant_id=token.tenant_id,
                at=now,
                actor=ANONYMOUS,
                action=AuditAction.REFRESH_TOKEN_REUSED,
                target=f"user:{token.user_id}",
                outcome="failure",
                ip=client.ip,
                request_id=client.request_id,
                details={"session_id": str(token.session_id), "token_id": str(token.id)},
            )
        )
        await uow.commit()
        await self._revocations.publish(revocations)
        log.warning("auth.refresh_token_reused", session_id=str(token.session_id))
        raise RefreshTokenReused()

    async def _anomaly(
        self, uow: UnitOfWork, session: Session, now: datetime, client: ClientInfo
    ) -> None:
        revoke = self._policy.anomaly_policy == "revoke"
        event = AuditEvent.record(
            tenant_id=session.tenant_id,
            at=now,
            actor=f"user:{session.user_id}",
            action=AuditAction.SESSION_ANOMALY,
            target=f"session:{session.id}",
            outcome="failure" if revoke else "success",
            ip=client.ip,
            request_id=client.request_id,
            details={"previous_ip": session.ip, "action": self._policy.anomaly_policy},
        )
        if not revoke:
            await uow.audit.append(event)
            return
        revocations = await self._end(
            uow, session.tenant_id, session.id, now, RevocationReason.ANOMALY
        )
        await uow.audit.append(event)
        await uow.commit()
        await self._revocations.publish(revocations)
        raise SessionRevoked()

    async def _end(
        self,
        uow: UnitOfWork,
        tenant_id: uuid.UUID,
        session_id: uuid.UUID,
        now: datetime,
        reason: RevocationReason,
    ) -> list[Revocation]:
        await uow.sessions.revoke(tenant_id, session_id, now, reason)
        return await record_revocations(
            uow, tenant_id, [session_id], now, self._policy.revocation_horizon
        )

    # --- ending --------------------------------------------------------------------------

    async def logout(self, principal: Principal, client: ClientInfo) -> None:
        """End the caller's session: its refresh tokens now, its access tokens everywhere
        within the propagation delay."""
        if principal.session_id is None:
            return
        now = self._clock.now()
        async with self._uow() as uow:
            revocations = await self._end(
                uow, principal.tenant_id, principal.session_id, now, RevocationReason.LOGOUT
            )
            await uow.audit.append(
                AuditEvent.record(
                    tenant_id=principal.tenant_id,
                    at=now,
                    actor=principal.subject,
                    action=AuditAction.LOGOUT,
                    target=f"session:{principal.session_id}",
                    ip=client.ip,
                    request_id=client.request_id,
                )
            )
            await uow.commit()
        await self._revocations.publish(revocations)

    async def revoke_token(self, token: str, client: ClientInfo) -> None:
        """RFC 7009: end the session of a refresh or access token; silent about anything else."""
        tenant_id: uuid.UUID | None = None
        session_id: uuid.UUID | None = None
        actor = ANONYMOUS
        if looks_like_refresh_token(token):
            async with self._uow(readonly=True) as uow:
                found = await uow.refresh_tokens.get_by_hash(hash_refresh_secret(token))
            if found is not None and found.revoked_at is None:
                tenant_id, session_id = found.tenant_id, found.session_id
                actor = f"user:{found.user_id}"
        elif token.count(".") == 2:
            try:
                principal = self._authenticator.authenticate(token)
            except InvalidToken:
                return
            tenant_id, session_id, actor = (
                principal.tenant_id,
                principal.session_id,
                principal.subject,
            )
        if tenant_id is None or session_id is None:
            return
        now = self._clock.now()
        async with self._uow() as uow:
            revoked = await uow.sessions.revoke(
                tenant_id, session_id, now, RevocationReason.REVOKED
            )
            revocations = await record_revocations(
                uow, tenant_id, [session_id], now, self._policy.revocation_horizon
            )
            if revoked:
                await uow.audit.append(
                    AuditEvent.record(
                        tenant_id=tenant_id,
                        at=now,
                        actor=actor,
                        action=AuditAction.SESSION_REVOKED,
                        target=f"session:{session_id}",
                        ip=client.ip,
                        request_id=client.request_id,
                        details={"via": "revocation_endpoint"},
                    )
                )
            await uow.commit()
        await self._revocations.publish(revocations)

    # --- introspection -------------------------------------------------------------------

    async def introspect(self, caller: Principal, token: str) -> dict[str, Any]:
        """RFC 7662: the token's claims when it is live and of the caller's tenant, else
        exactly ``{"active": false}``."""
        inactive: dict[str, Any] = {"active": False}
        if looks_like_refresh_token(token):
            return await self._introspect_refresh(caller, token) or inactive
        if token.count(".") != 2:
            return inactive
        try:
            _, claims = self._authenticator.verify(token)  # also refuses revoked sessions
        except InvalidToken:
            return inactive
        if claims.tid != str(caller.tenant_id):
            return inactive
        async with self._uow(readonly=True) as uow:
            user = await uow.users.get(caller.tenant_id, uuid.UUID(claims.sub))
        if user is None or user.status is not UserStatus.ACTIVE:
            return inactive
        return {
            "active": True,
            "sub": claims.sub,
            "tid": claims.tid,
            "scope": claims.scope,
            "exp": claims.exp,
            "iat": claims.iat,
            "iss": claims.iss,
            "aud": claims.aud,
            "jti": claims.jti,
            "sid": claims.sid,
            "token_type": "access_token",
            "username": user.username,
            "groups": await self._groups.all(caller.tenant_id, user.id) if self._groups else [],
        }

    async def _introspect_refresh(self, caller: Principal, token: str) -> dict[str, Any] | None:
        now = self._clock.now()
        async with self._uow(readonly=True) as uow:
            found = await uow.refresh_tokens.get_by_hash(hash_refresh_secret(token))
            if (
                found is None
                or found.tenant_id != caller.tenant_id
                or found.used_at is not None
                or found.revoked_at is not None
                or found.expires_at <= now
            ):
                return None
            session = await uow.sessions.get(found.tenant_id, found.session_id)
            user = await uow.users.get(found.tenant_id, found.user_id)
        if (
            session is None
            or not session.is_live(now, self._policy.session_idle_timeout)
            or user is None
            or user.status is not UserStatus.ACTIVE
        ):
            return None
        return {
            "active": True,
            "sub": str(found.user_id),
            "tid": str(found.tenant_id),
            "scope": DEFAULT_SCOPE,
            "exp": int(found.expires_at.timestamp()),
            "iat": int(found.created_at.timestamp()),
            "iss": self._policy.issuer,
            "aud": self._policy.audience,
            "jti": str(found.id),
            "sid": str(found.session_id),
            "token_type": "refresh_token",
            "username": user.username,
        }

    # --- passwords -----------------------------------------------------------------------

    async def change_password(
        self, principal: Principal, current: str, new: str, client: ClientInfo
    ) -> None:
        """Replace the caller's password after checking the current one; every other session
        of theirs ends."""
        account_key = f"password\x00{principal.user_id}"
        client_key = client.ip or "unknown"
        wait = await self._throttle.retry_after(account_key, client_key)
        if wait:
            raise TooManyAttempts(wait)
        async with self._uow(readonly=True) as uow:
            user = await uow.users.get(principal.tenant_id, principal.user_id)
        if user is None:
            raise UserNotFound()
        ok = bool(user.password_hash) and await self._hasher.verify(
            user.password_hash or "", current
        )
        if not ok:
            await self._throttle.failed(account_key, client_key)
            raise InvalidCurrentPassword()
        await self._throttle.succeeded(account_key, client_key)
        check_password_length(new)
        if self._common.is_common(new):
            raise PasswordTooCommon()
        new_hash = await self._hasher.hash(new)
        now = self._clock.now()
        async with self._uow() as uow:
            stored = await uow.users.get(principal.tenant_id, principal.user_id)
            if stored is None:
                raise UserNotFound()
            await uow.users.update(_with_password(stored, new_hash, now))
            ended = await uow.sessions.revoke_for_user(
                principal.tenant_id,
                principal.user_id,
                now,
                RevocationReason.PASSWORD_CHANGED,
                keep=principal.session_id,
            )
            revocations = await record_revocations(
                uow, principal.tenant_id, ended, now, self._policy.revocation_horizon
            )
            await uow.audit.append(
                AuditEvent.record(
                    tenant_id=principal.tenant_id,
                    at=now,
                    actor=principal.subject,
                    action=AuditAction.PASSWORD_CHANGED,
                    target=principal.subject,
                    ip=client.ip,
                    request_id=client.request_id,
                    details={"sessions_revoked": len(ended)},
                )
            )
            await uow.commit()
        await self._revocations.publish(revocations)

    async def _audit_only(self, event: AuditEvent) -> None:
        async with self._uow() as uow:
            await uow.audit.append(event)
            await uow.commit()


def _fold(identifier: str) -> str:
    return unicodedata.normalize("NFKC", identifier).strip().lower()


def _failure_reason(user: User | None, password_ok: bool) -> str:
    if user is None:
        return "unknown_user"
    if not password_ok:
        return "wrong_password"
    return "user_disabled"


def _with_password(user: User, password_hash: str, now: datetime) -> User:
    return replace(
        user,
        password_hash=password_hash,
        updated_at=truncate_to_millis(now),
        version=user.version + 1,
    )
