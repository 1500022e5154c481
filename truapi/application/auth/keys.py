"""Signing-key life cycle: load at start, rotate, retire, and follow other instances."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace
from datetime import datetime

import structlog

from truapi.application.auth.policy import AuthPolicy
from truapi.application.ports.clock import Clock
from truapi.application.ports.tokens import AccessTokenCodec, SigningKeyFactory
from truapi.application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from truapi.domain.audit import SYSTEM, AuditAction, AuditEvent
from truapi.domain.tokens import KeyState, SigningKey

log = structlog.get_logger("truapi.keys")

_LIVE = (KeyState.ACTIVE, KeyState.RETIRING)
#: An unknown ``kid`` may be a key another instance just made; look at most this often.
_UNKNOWN_KID_RELOAD_S = 1.0


class SigningKeys:
    """Keeps the token codec loaded with the stored keys.

    Keys live in the database (private parts encrypted), so every instance and every restart
    signs and verifies with the same ones. An unreadable store makes ``load`` fail; a new key
    is made only when none is usable, never to paper over one that cannot be decrypted.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        codec: AccessTokenCodec,
        factory: SigningKeyFactory,
        clock: Clock,
        policy: AuthPolicy,
    ) -> None:
        self._uow = uow
        self._codec = codec
        self._factory = factory
        self._clock = clock
        self._policy = policy
        self._lock = asyncio.Lock()
        self._last_reload = 0.0
        self._loaded: tuple[tuple[str, KeyState], ...] = ()

    async def load(self, audit_tenant_id: uuid.UUID) -> None:
        """Load the keys, retiring expired ones and making the first key when none is active
        with the configured algorithm."""
        async with self._lock, self._uow() as uow:
            keys = await self._retire_expired(uow, audit_tenant_id)
            live = [k for k in keys if k.state in _LIVE]
            # Decrypt before anything is written, so an unreadable store fails loudly as is.
            self._load(live)
            if not any(
                k.state is KeyState.ACTIVE and k.algorithm == self._policy.signing_algorithm
                for k in live
            ):
                live = await self._rotate(uow, live, audit_tenant_id, actor=SYSTEM)
                self._load(live)
            await uow.commit()
        self._last_reload = time.monotonic()

    async def rotate(self, audit_tenant_id: uuid.UUID, actor: str) -> SigningKey:
        """Make a new active key; the old one keeps verifying until its tokens expire."""
        async with self._lock, self._uow() as uow:
            keys = await self._retire_expired(uow, audit_tenant_id)
            live = await self._rotate(
                uow, [k for k in keys if k.state in _LIVE], audit_tenant_id, actor=actor
            )
            self._load(live)
            await uow.commit()
        self._last_reload = time.monotonic()
        return next(k for k in live if k.state is KeyState.ACTIVE)

    async def reload(self, audit_tenant_id: uuid.UUID) -> None:
        """Pick up keys rotated or retired by other instances; cheap when nothing changed
        (one read, no write, no decryption)."""
        async with self._lock:
            async with self._uow(readonly=True) as uow:
                keys = await uow.signing_keys.list()
            now = self._clock.now()
            if any(_due(k, now) for k in keys):
                async with self._uow() as uow:
                    keys = await self._retire_expired(uow, audit_tenant_id)
                    await uow.commit()
            self._load([k for k in keys if k.state in _LIVE])
        self._last_reload = time.monotonic()

    def _load(self, live: list[SigningKey]) -> None:
        fingerprint = tuple((k.kid, k.state) for k in live)
        if fingerprint != self._loaded:
            self._codec.load_keys(live)
            self._loaded = fingerprint

    async def reload_for_unknown_kid(self, kid: str, audit_tenant_id: uuid.UUID) -> bool:
        """Reload (rate-limited) when a token names a key this instance does not know;
        True when the key is known afterwards."""
        if self._codec.has_key(kid):
            return True
        if time.monotonic() - self._last_reload < _UNKNOWN_KID_RELOAD_S:
            return False
        try:
            await self.reload(audit_tenant_id)
        except Exception:
            log.warning("signing_keys.reload_failed", exc_info=True)
            return False
        return self._codec.has_key(kid)

    async def all(self) -> list[SigningKey]:
        async with self._uow(readonly=True) as uow:
            return await uow.signing_keys.list()

    async def _rotate(
        self, uow: UnitOfWork, live: list[SigningKey], audit_tenant_id: uuid.UUID, actor: str
    ) -> list[SigningKey]:
        now = self._clock.now()
        new_key = self._factory.generate(self._policy.signing_algorithm, now)
        await uow.signing_keys.add(new_key)
        kept = []
        for key in live:
            if key.state is KeyState.ACTIVE:
                key = replace(
                    key,
                    state=KeyState.RETIRING,
                    retiring_at=now,
                    retire_after=now + self._policy.revocation_horizon,
                )
                await uow.signing_keys.update(key)
            kept.append(key)
        await uow.audit.append(
            AuditEvent.record(
                tenant_id=audit_tenant_id,
                at=now,
                actor=actor,
                action=AuditAction.SIGNING_KEY_ROTATED,
                target=f"signing_key:{new_key.kid}",
                details={"algorithm": new_key.algorithm, "retiring": [k.kid for k in kept]},
            )
        )
        log.info("signing_keys.rotated", kid=new_key.kid, algorithm=new_key.algorithm)
        return [*kept, new_key]

    async def _retire_expired(
        self, uow: UnitOfWork, audit_tenant_id: uuid.UUID
    ) -> list[SigningKey]:
        now = self._clock.now()
        keys = await uow.signing_keys.list()
        result = []
        for key in keys:
            if _due(key, now):
                key = replace(key, state=KeyState.RETIRED, retired_at=now)
                await uow.signing_keys.update(key)
                await uow.audit.append(
                    AuditEvent.record(
                        tenant_id=audit_tenant_id,
                        at=now,
                        actor=SYSTEM,
                        action=AuditAction.SIGNING_KEY_RETIRED,
                        target=f"signing_key:{key.kid}",
                    )
                )
                log.info("signing_keys.retired", kid=key.kid)
            result.append(key)
        return result


def _due(key: SigningKey, now: datetime) -> bool:
    """Whether a retiring key's last token has expired, so it can be retired."""
    return (
        key.state is KeyState.RETIRING and key.retire_after is not None and key.retire_after <= now
    )
