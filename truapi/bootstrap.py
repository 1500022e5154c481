"""The one place where adapters are chosen and wired together from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import asyncpg
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from redis.asyncio import Redis
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from truapi.adapters.memory.throttle import MemoryLoginThrottle
from truapi.adapters.redis.policy import RedisPolicyBus
from truapi.adapters.redis.revocations import RedisRevocationBus
from truapi.adapters.redis.throttle import RedisLoginThrottle
from truapi.adapters.security.jwt import JwtCodec, JwtKeyFactory
from truapi.adapters.security.passwords import Argon2Hasher, ZxcvbnCommonPasswords
from truapi.adapters.security.secret_box import SecretBox
from truapi.adapters.sqlalchemy.engine import make_engine
from truapi.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from truapi.api.client_address import TrustedProxies
from truapi.application.auth.authenticator import Authenticator
from truapi.application.auth.keys import SigningKeys
from truapi.application.auth.policy import AuthPolicy
from truapi.application.auth.revocations import RevocationWatcher, RevokedSessions
from truapi.application.auth.service import AuthService
from truapi.application.auth.sessions import SessionService
from truapi.application.authz.authorizer import Authorizer
from truapi.application.authz.endpoints import EndpointOverride, parse_overrides
from truapi.application.authz.resources import ResourceService
from truapi.application.authz.token_groups import TokenGroups
from truapi.application.authz.versions import PolicyVersions, PolicyWatcher
from truapi.application.groups.service import GroupService
from truapi.application.pagination import CursorCodec
from truapi.application.ports.clock import Clock, SystemClock
from truapi.application.ports.throttle import LoginThrottle
from truapi.application.tenants.bootstrap import (
    BootstrapAdmin,
    bootstrap_admin,
    ensure_default_tenant,
)
from truapi.application.tenants.policy import ensure_tenant_policy
from truapi.application.users.service import UserService
from truapi.config import Settings
from truapi.domain.tenants import Tenant
from truapi.telemetry import Metrics

log = structlog.get_logger("truapi")

ErrorHook = Callable[[BaseException, dict[str, object]], None]

#: Exceptions meaning "the database cannot be reached": answered 503, never 500.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    # Raised by the drivers themselves when a connection cannot be opened in time or at all.
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
)


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database is unreachable (a pooled connection that died
    included), rather than a bug."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, UNAVAILABLE_ERRORS)


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    """Alembic configuration pointing at the project's ``migrations/`` folder."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def migrate(engine: AsyncEngine, database_url: str) -> None:
    """Apply pending migrations (``alembic upgrade head``) on ``engine``."""
    config = alembic_config(database_url)

    def upgrade(conn: Connection) -> None:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)


async def pending_migrations(engine: AsyncEngine, database_url: str) -> list[str]:
    """Revisions between the database's current one and head; empty when up to date."""
    script = ScriptDirectory.from_config(alembic_config(database_url))

    def current(conn: Connection) -> set[str]:
        return set(MigrationContext.configure(conn).get_current_heads())

    async with engine.connect() as conn:
        heads = await conn.run_sync(current)
    pending = []
    for rev in script.walk_revisions():
        if rev.revision in heads:
            break
        pending.append(rev.revision)
    if heads and not pending and set(script.get_heads()) != heads:
        pending.append("(unknown)")
    return pending


@dataclass
class Container:
    """Everything the web layer and the CLI need, built once from the settings."""

    settings: Settings
    engine: AsyncEngine
    uow: SqlUnitOfWorkFactory
    clock: Clock
    users: UserService
    metrics: Metrics
    codec: JwtCodec
    keys: SigningKeys
    authenticator: Authenticator
    auth: AuthService
    sessions: SessionService
    revoked: RevokedSessions
    watcher: RevocationWatcher
    policy_versions: PolicyVersions
    policy_watcher: PolicyWatcher
    authorizer: Authorizer
    resources: ResourceService
    groups: GroupService
    authz_overrides: dict[str, EndpointOverride]
    throttle: LoginThrottle
    trusted_proxies: TrustedProxies
    redis: Redis | None = None
    error_hooks: list[ErrorHook] = field(default_factory=list)
    _default_tenant: Tenant | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def default_tenant(self) -> Tenant:
        if self._default_tenant is None:
            raise RuntimeError("the container has not been started")
        return self._default_tenant

    @property
    def default_tenant_id(self) -> uuid.UUID:
        return self.default_tenant.id

    async def start(self, *, migrate_first: bool | None = None) -> None:
        """Prepare storage (migrations when enabled) and the platform tenant."""
        if migrate_first if migrate_first is not None else self.settings.auto_migrate:
            await migrate(self.engine, self.settings.database_url)
        self._default_tenant = await ensure_default_tenant(self.uow, self.clock)
        await ensure_tenant_policy(self.uow, self._default_tenant)
        await self.keys.load(self._default_tenant.id)

    async def start_background(self) -> None:
        """Follow other instances: revocations (Redis or polling) and signing keys."""
        await self.watcher.start()
        await self.policy_watcher.start()
        self._tasks.append(asyncio.create_task(self._follow_keys(), name="truapi-keys"))

    async def _follow_keys(self) -> None:
        # Rotations elsewhere take effect here within the same delay as revocations.
        interval = self.settings.revocation_propagation_s / 2
        while True:
            await asyncio.sleep(interval)
            try:
                await self.keys.reload(self.default_tenant_id)
            except Exception:  # a database hiccup: keep the loaded keys, try again later
                log.warning("signing_keys.reload_failed", exc_info=True)

    async def bootstrap_admin(self, *, generate_when_unset: bool) -> BootstrapAdmin | None:
        """Create the first administrator as CONTRACT §0 describes."""
        s = self.settings
        password = s.bootstrap_admin_password
        return await bootstrap_admin(
            self.users,
            self.uow,
            self.clock,
            self.default_tenant,
            username=s.bootstrap_admin_username,
            password=password.get_secret_value() if password is not None else None,
            email=s.bootstrap_admin_email,
            generate_when_unset=generate_when_unset,
        )

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.watcher.stop()
        await self.policy_watcher.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.uow.close()

    async def database_ok(self) -> bool:
        try:
            async with asyncio.timeout(2):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception:  # any failure here means "not ready", never a 500
            log.warning("readiness.database_failing")
            return False
        return True

    async def redis_status(self) -> Literal["ok", "disabled", "degraded"]:
        if not self.settings.redis_url:
            return "disabled"
        client = Redis.from_url(self.settings.redis_url, socket_timeout=1)
        try:
            async with asyncio.timeout(1.5):
                await client.ping()
        except Exception:
            log.warning("readiness.redis_degraded")
            return "degraded"
        finally:
            await client.aclose()
        return "ok"

    @staticmethod
    def is_unavailable(error: BaseException) -> bool:
        return database_unavailable(error)

    def report_error(self, error: BaseException, context: dict[str, object]) -> None:
        """Hand an unexpected exception to every registered error-telemetry hook."""
        for hook in self.error_hooks:
            try:
                hook(error, context)
            except Exception:
                log.exception("error_hook.failed")


def auth_policy(settings: Settings) -> AuthPolicy:
    return AuthPolicy(
        issuer=settings.issuer.rstrip("/"),
        audience=settings.jwt_audience,
        access_token_ttl=timedelta(seconds=settings.access_token_ttl),
        leeway=timedelta(seconds=settings.jwt_leeway_s),
        session_idle_timeout=timedelta(seconds=settings.session_idle_timeout),
        session_max_age=timedelta(seconds=settings.session_max_age),
        anomaly_policy=settings.session_anomaly_policy,
        signing_algorithm=settings.jwt_algorithm,
    )


def _throttle(settings: Settings, clock: Clock, redis: Redis | None) -> LoginThrottle:
    s = settings
    memory = MemoryLoginThrottle(
        clock,
        free_failures=s.login_throttle_free_failures,
        client_free_failures=s.login_throttle_client_free_failures,
        delay_s=s.login_throttle_delay_s,
        max_delay_s=s.login_throttle_max_delay_s,
        reset_s=s.login_throttle_reset_s,
    )
    if redis is None:
        return memory
    return RedisLoginThrottle(
        redis,
        memory,
        clock,
        free_failures=s.login_throttle_free_failures,
        client_free_failures=s.login_throttle_client_free_failures,
        delay_s=s.login_throttle_delay_s,
        max_delay_s=s.login_throttle_max_delay_s,
        reset_s=s.login_throttle_reset_s,
    )


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Wire adapters for ``settings``: SQLite or PostgreSQL, Redis or in-process, argon2,
    JWT keys, the shipped lists."""
    engine = make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
    )
    uow = SqlUnitOfWorkFactory(engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    the_clock = clock or SystemClock()
    hasher = Argon2Hasher(
        time_cost=settings.argon2_time_cost,
        memory_cost_kib=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
        concurrency=settings.argon2_max_concurrency,
    )
    common = ZxcvbnCommonPasswords()
    policy = auth_policy(settings)
    redis = (
        Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
        if settings.redis_url
        else None
    )
    box = SecretBox.from_settings(
        settings.encryption_keys.get_secret_value() if settings.encryption_keys else None,
        settings.secret_key.get_secret_value(),
    )
    codec = JwtCodec(
        box,
        issuer=policy.issuer,
        audience=policy.audience,
        leeway_s=settings.jwt_leeway_s,
        allowed_algorithms=frozenset({"ES256", "RS256", "EdDSA"}),
    )
    revoked = RevokedSessions()
    authenticator = Authenticator(
        codec, revoked, leeway_s=settings.jwt_leeway_s, cache_size=settings.token_cache_size
    )
    revoked.on_revoked(authenticator.forget_sessions)
    watcher = RevocationWatcher(
        uow,
        revoked,
        the_clock,
        interval_s=settings.revocation_propagation_s / 2,
        bus=RedisRevocationBus(redis) if redis is not None else None,
        lookback=policy.revocation_horizon,
    )
    versions = PolicyVersions()
    policy_watcher = PolicyWatcher(
        uow,
        versions,
        interval_s=settings.revocation_propagation_s / 2,
        bus=RedisPolicyBus(redis) if redis is not None else None,
    )
    cursors = CursorCodec(settings.secret_key.get_secret_value().encode())
    users = UserService(
        uow,
        the_clock,
        hasher,
        common,
        cursors,
        revocations=watcher,
        revocation_horizon=policy.revocation_horizon,
        policy_versions=policy_watcher,
    )
    throttle = _throttle(settings, the_clock, redis)
    authorizer = Authorizer(
        uow,
        versions,
        max_depth=settings.authz_max_depth,
        fallback_allow=settings.authz_fallback == "allow",
        cache_size=settings.authz_cache_size,
    )
    return Container(
        settings=settings,
        engine=engine,
        uow=uow,
        clock=the_clock,
        users=users,
        metrics=Metrics(),
        codec=codec,
        keys=SigningKeys(uow, codec, JwtKeyFactory(box), the_clock, policy),
        authenticator=authenticator,
        auth=AuthService(
            uow,
            the_clock,
            hasher,
            common,
            codec,
            authenticator,
            throttle,
            watcher,
            policy,
            TokenGroups(authorizer, settings.token_groups_max),
        ),
        sessions=SessionService(uow, the_clock, watcher, policy, cursors),
        policy_versions=versions,
        policy_watcher=policy_watcher,
        authorizer=authorizer,
        resources=ResourceService(
            uow, the_clock, policy_watcher, cursors, max_depth=settings.authz_max_depth
        ),
        groups=GroupService(
            uow, the_clock, policy_watcher, cursors, max_depth=settings.authz_max_depth
        ),
        authz_overrides=parse_overrides(settings.authz_endpoint_overrides),
        revoked=revoked,
        watcher=watcher,
        throttle=throttle,
        trusted_proxies=TrustedProxies.parse(settings.trusted_proxies),
        redis=redis,
    )
