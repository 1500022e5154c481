"""Policy versions known to this instance: every change to a tenant's policy data moves its
version on, and every cache keyed by it starts afresh."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

import structlog

from truapi.application.ports.policy_bus import PolicyBus
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.application.reconnect import listen_forever

log = structlog.get_logger("truapi.authz")

VersionListener = Callable[[uuid.UUID, int], None]


class PolicyVersions:
    """The newest version of each tenant's policy this instance has heard of."""

    def __init__(self) -> None:
        self._versions: dict[uuid.UUID, int] = {}
        self._listeners: list[VersionListener] = []

    def get(self, tenant_id: uuid.UUID) -> int:
        return self._versions.get(tenant_id, 0)

    def on_change(self, listener: VersionListener) -> None:
        self._listeners.append(listener)

    def advance(self, tenant_id: uuid.UUID, version: int) -> bool:
        """Record ``version`` unless an equal or newer one is known; True when it moved."""
        if version <= self._versions.get(tenant_id, 0):
            return False
        self._versions[tenant_id] = version
        for listener in self._listeners:
            try:
                listener(tenant_id, version)
            except Exception:  # one faulty listener must not stop the others
                log.exception("authz.version_listener_failed")
        return True


class PolicyWatcher:
    """Keeps ``versions`` current: polls the database every ``interval_s`` and, with a bus,
    applies what other instances publish at once; ``publish`` announces local changes."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        versions: PolicyVersions,
        *,
        interval_s: float,
        bus: PolicyBus | None = None,
        listen_backoff_s: tuple[float, float] = (0.1, 30.0),
    ) -> None:
        self._uow_factory = uow_factory
        self._versions = versions
        self._interval_s = interval_s
        self._bus = bus
        self._backoff_min, self._backoff_max = listen_backoff_s
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.poll()
        self._tasks.append(asyncio.create_task(self._poll_forever(), name="truapi-policy"))
        if self._bus is not None:
            self._tasks.append(
                asyncio.create_task(self._listen_forever(self._bus), name="truapi-policy-bus")
            )

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def publish(self, tenant_id: uuid.UUID, version: int) -> None:
        """Apply a committed version here at once and tell the other instances."""
        self._versions.advance(tenant_id, version)
        if self._bus is None:
            return
        try:
            await self._bus.publish(tenant_id, version)
        except Exception as exc:  # the other instances' polls still find it
            log.warning("authz.publish_failed", error=f"{type(exc).__name__}: {exc}")

    async def poll(self) -> None:
        """Read every tenant's version once; errors are logged, not raised."""
        try:
            async with self._uow_factory(readonly=True) as uow:
                found = await uow.policy_versions.all()
        except Exception:
            log.warning("authz.poll_failed", exc_info=True)
            return
        for tenant_id, version in found.items():
            self._versions.advance(tenant_id, version)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.poll()

    async def _listen_forever(self, bus: PolicyBus) -> None:
        await listen_forever(
            lambda: bus.listen(self._deliver),
            event="authz.bus_failed",
            backoff_s=(self._backoff_min, self._backoff_max),
        )

    async def _deliver(self, tenant_id: uuid.UUID, version: int) -> None:
        self._versions.advance(tenant_id, version)
