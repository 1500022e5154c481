"""Authentication use cases over the in-memory adapter, with a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from tests.clock import FakeClock
from truapi.adapters.memory.throttle import MemoryLoginThrottle
from truapi.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from truapi.adapters.security.jwt import JwtCodec, JwtKeyFactory
from truapi.adapters.security.passwords import Argon2Hasher, ZxcvbnCommonPasswords
from truapi.adapters.security.secret_box import SecretBox
from truapi.application.auth.authenticator import Authenticator
from truapi.application.auth.context import ClientInfo
from truapi.application.auth.keys import SigningKeys
from truapi.application.auth.policy import AuthPolicy
from truapi.application.auth.revocations import RevocationWatcher, RevokedSessions
from truapi.application.auth.service import AuthService, Login
from truapi.application.pagination import CursorCodec
from truapi.application.tenants.bootstrap import ensure_default_tenant
from truapi.application.users.service import CreateUser, UserService
from truapi.domain.audit import AuditAction
from truapi.domain.errors import (
    InvalidRefreshToken,
    InvalidToken,
    KeyStoreUnreadable,
    RefreshTokenReused,
    SessionRevoked,
)
from truapi.domain.tenants import Tenant
from truapi.domain.tokens import KeyState

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
HOME = ClientInfo(ip="198.51.100.7", user_agent="Mozilla/5.0 Firefox/140.0")


@dataclass
class World:
    uow: MemoryUnitOfWorkFactory
    clock: FakeClock
    tenant: Tenant
    codec: JwtCodec
    keys: SigningKeys
    revoked: RevokedSessions
    auth: AuthService
    authenticator: Authenticator
    users: UserService
    box: SecretBox

    async def events(self, action: str) -> list[str]:
        async with self.uow(readonly=True) as uow:
            recent = await uow.audit.list_recent(self.tenant.id, action=action)
        return [e.action for e in recent]


async def make_world(
    anomaly: Literal["off", "log", "revoke"] = "log",
    argon2_time_cost: int = 1,
    uow: MemoryUnitOfWorkFactory | None = None,
    box: SecretBox | None = None,
) -> World:
    clock = FakeClock(T0)
    uow = uow or MemoryUnitOfWorkFactory()
    box = box or SecretBox.from_settings(None, "a test secret key of enough length!!")
    policy = AuthPolicy(
        issuer="http://issuer.test",
        audience="truapi",
        access_token_ttl=timedelta(seconds=600),
        leeway=timedelta(seconds=30),
        session_idle_timeout=timedelta(seconds=1800),
        session_max_age=timedelta(hours=8),
        anomaly_policy=anomaly,
    )
    codec = JwtCodec(box, issuer=policy.issuer, audience="truapi", leeway_s=30, now=clock.timestamp)
    hasher = Argon2Hasher(time_cost=argon2_time_cost, memory_cost_kib=8192)
    revoked = RevokedSessions()
    authenticator = Authenticator(codec, revoked, leeway_s=30, cache_size=100, now=clock.timestamp)
    watcher = RevocationWatcher(
        uow, revoked, clock, interval_s=0.5, lookback=policy.revocation_horizon
    )
    throttle = MemoryLoginThrottle(
        clock, free_failures=5, client_free_failures=50, delay_s=60, max_delay_s=900, reset_s=3600
    )
    common = ZxcvbnCommonPasswords()
    tenant = await ensure_default_tenant(uow, clock)
    keys = SigningKeys(uow, codec, JwtKeyFactory(box), clock, policy)
    await keys.load(tenant.id)
    users = UserService(uow, clock, hasher, common, CursorCodec(b"k" * 32), revocations=watcher)
    auth = AuthService(uow, clock, hasher, common, codec, authenticator, throttle, watcher, policy)
    return World(uow, clock, tenant, codec, keys, revoked, auth, authenticator, users, box)


async def add_user(world: World, name: str = "alice") -> None:
    await world.users.create(
        CreateUser(
            tenant_id=world.tenant.id, username=name, email=f"{name}@example.com", password=PASSWORD
        )
    )


async def test_a_session_idle_longer_than_the_timeout_cannot_refresh() -> None:
    world = await make_world()
    await add_user(world)
    pair = await world.auth.login(Login("alice", PASSWORD), HOME)
    world.clock.advance(seconds=1700)
    pair = await world.auth.refresh(pair.refresh_token, HOME)  # activity resets the idle timer
    world.clock.advance(seconds=1801)
    with pytest.raises(InvalidRefreshToken):
        await world.auth.refresh(pair.refresh_token, HOME)


async def test_a_session_ends_at_its_absolute_lifetime_however_active() -> None:
    world = await make_world()
    await add_user(world)
    pair = await world.auth.login(Login("alice", PASSWORD), HOME)
    for _ in range(16):  # 16 × 29 min = 7 h 44 min of steady use
        world.clock.advance(minutes=29)
        pair = await world.auth.refresh(pair.refresh_token, HOME)
    world.clock.advance(minutes=17)
    with pytest.raises(InvalidRefreshToken):
        await world.auth.refresh(pair.refresh_token, HOME)


async def test_anomaly_policy_revoke_ends_a_session_refreshed_from_elsewhere() -> None:
    world = await make_world(anomaly="revoke")
    await add_user(world)
    pair = await world.auth.login(Login("alice", PASSWORD), HOME)
    same_net_other_agent = ClientInfo(ip="198.51.100.200", user_agent="curl/8.5")
    pair = await world.auth.refresh(pair.refresh_token, same_net_other_agent)
    elsewhere = ClientInfo(ip="203.0.113.9", user_agent="python-httpx/0.28")
    with pytest.raises(SessionRevoked):
        await world.auth.refresh(pair.refresh_token, elsewhere)
    assert str(pair.session_id) in world.revoked
    assert await world.events(AuditAction.SESSION_ANOMALY) == [AuditAction.SESSION_ANOMALY]
    with pytest.raises(InvalidRefreshToken):
        await world.auth.refresh(pair.refresh_token, HOME)


async def test_anomaly_policy_log_records_and_carries_on() -> None:
    world = await make_world(anomaly="log")
    await add_user(world)
    pair = await world.auth.login(Login("alice", PASSWORD), HOME)
    elsewhere = ClientInfo(ip="203.0.113.9", user_agent="python-httpx/0.28")
    await world.auth.refresh(pair.refresh_token, elsewhere)
    assert await world.events(AuditAction.SESSION_ANOMALY) == [AuditAction.SESSION_ANOMALY]


async def test_anomaly_policy_off_records_nothing() -> None:
    world = await make_world(anomaly="off")
    await add_user(world)
    pair = await world.auth.login(Login("alice", PASSWORD), HOME)
    await world.auth.refresh(pair.refresh_token, ClientInfo(ip="203.0.113.9", user_agent="curl"))
    assert await world.events(AuditAction.SESSION_ANOMALY) == []


async def test_login_rehashes_when_the_parameters_change() -> None:
    world = await make_world(argon2_time_cost=1)
    await add_user(world)
    stronger = await make_world(argon2_time_cost=2, uow=world.uow, box=world.box)
    async with world.uow(readonly=True) as uow:
        before = await uow.users.get_by_username(world.tenant.id, "alice")
    await stronger.auth.login(Login("alice", PASSWORD), HOME)
    async with world.uow(readonly=True) as uow:
        after = await uow.users.get_by_username(world.tenant.id, "alice")
    assert before is not None
    assert after is not None
    assert before.password_hash != after.password_hash
    assert after.password_hash is not None
    assert "t=2" in after.password_hash
    await stronger.auth.login(Login("alice", PASSWORD), HOME)


async def test_security_events_are_audited_without_secrets() -> None:
    world = await make_world()
    await add_user(world)
    with pytest.raises(Exception, match="incorrect"):
        await world.auth.login(Login("alice", "not the password"), HOME)
    pair = await world.auth.login(Login("alice", PASSWORD), HOME)
    child = await world.auth.refresh(pair.refresh_token, HOME)
    with pytest.raises(RefreshTokenReused):
        await world.auth.refresh(pair.refresh_token, HOME)
    async with world.uow(readonly=True) as uow:
        events = await uow.audit.list_recent(world.tenant.id)
    actions = [e.action for e in events]
    for action in (
        AuditAction.LOGIN_FAILED,
        AuditAction.LOGIN_SUCCEEDED,
        AuditAction.REFRESH_TOKEN_REUSED,
    ):
        assert action in actions
    dumped = repr([e.public_view() for e in events])
    for secret in (PASSWORD, "not the password", pair.refresh_token, child.refresh_token):
        assert secret not in dumped
    failed = next(e for e in events if e.action == AuditAction.LOGIN_FAILED)
    assert failed.outcome == "failure"
    assert failed.details == {"reason": "wrong_password"}


async def test_rotation_keeps_old_tokens_until_their_key_retires() -> None:
    world = await make_world()
    await add_user(world)
    old = await world.auth.login(Login("alice", PASSWORD), HOME)
    old_kid = world.codec.peek_kid(old.access_token)
    new_key = await world.keys.rotate(world.tenant.id, actor="system")
    assert new_key.kid != old_kid
    assert {k["kid"] for k in world.codec.jwks()["keys"]} == {old_kid, new_key.kid}
    world.codec.decode(old.access_token)
    fresh = await world.auth.login(Login("alice", PASSWORD), HOME)
    assert world.codec.peek_kid(fresh.access_token) == new_key.kid
    world.clock.advance(seconds=631)  # past the access-token lifetime and the leeway
    await world.keys.reload(world.tenant.id)
    states = {k.kid: k.state for k in await world.keys.all()}
    assert states == {old_kid: KeyState.RETIRED, new_key.kid: KeyState.ACTIVE}
    assert [k["kid"] for k in world.codec.jwks()["keys"]] == [new_key.kid]
    with pytest.raises(InvalidToken):
        world.codec.decode(old.access_token)
    assert AuditAction.SIGNING_KEY_RETIRED in await world.events(AuditAction.SIGNING_KEY_RETIRED)


async def test_an_unreadable_key_store_fails_loudly_and_mints_nothing() -> None:
    world = await make_world()
    other_box = SecretBox.from_settings(None, "another secret key, not the one used!!")
    with pytest.raises(KeyStoreUnreadable):
        await make_world(uow=world.uow, box=other_box)
    assert len(await world.keys.all()) == 1


async def test_the_token_cache_honours_revocation_and_expiry() -> None:
    world = await make_world()
    await add_user(world)
    pair = await world.auth.login(Login("alice", PASSWORD), HOME)
    authenticator = world.authenticator
    first = authenticator.authenticate(pair.access_token)
    assert authenticator.authenticate(pair.access_token) is first  # served from the cache
    world.clock.advance(seconds=631)
    with pytest.raises(InvalidToken):
        authenticator.authenticate(pair.access_token)
    second = await world.auth.login(Login("alice", PASSWORD), HOME)
    principal = authenticator.authenticate(second.access_token)
    await world.auth.logout(principal, HOME)
    with pytest.raises(InvalidToken):
        authenticator.authenticate(second.access_token)
