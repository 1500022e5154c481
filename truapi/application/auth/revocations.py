"""Revoked sessions known to this instance, kept current from the database and the bus."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

import structlog

from truapi.application.ports.auth_repositories import Revocation
from truapi.application.ports.clock import Clock
from truapi.application.ports.revocations import RevocationBus
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.application.reconnect import listen_forever

log = structlog.get_logger("truapi.revocations")

RevokedListener = Callable[[set[str]], None]


class RevokedSessions:
    """Ids of revoked sessions whose access tokens may still be unexpired."""

    def __init__(self) -> None:
        self._expiry: dict[str, datetime] = {}
        # (expires_at, session id), so pruning looks only at entries that are due.
        self._due: list[tuple[datetime, str]] = []
        self._listeners: list[RevokedListener] = []

    def __contains__(self, session_id: str) -> bool:
        return session_id in self._expiry

    def __len__(self) -> int:
        return len(self._expiry)

    def on_revoked(self, callback: RevokedListener) -> None:
        """Call ``callback`` with the ids each later ``add`` newly adds."""
        self._listeners.append(callback)

    def add(self, revocations: Iterable[Revocation]) -> list[str]:
        """Add the revocations; returns the ids that were not already present."""
        added: list[str] = []
        for revocation in revocations:
            session_id = str(revocation.session_id)
            known = self._expiry.get(session_id)
            if known is None:
                added.append(session_id)
            elif known >= revocation.expires_at:
                continue
            self._expiry[session_id] = revocation.expires_at
            heapq.heappush(self._due, (revocation.expires_at, session_id))
        if added:
            fresh = set(added)
            for listener in self._listeners:
                try:
                    listener(fresh)
                except Exception:  # one faulty listener must not hide revocations from others
                    log.exception("revocations.listener_failed")
        return added

    def prune(self, now: datetime) -> int:
        """Forget sessions whose tokens have all expired by ``now``; returns how many."""
        pruned = 0
        while self._due and self._due[0][0] <= now:
            expires_at, session_id = heapq.heappop(self._due)
            # A later revocation of the same session may have pushed its expiry back.
            if self._expiry.get(session_id) == expires_at:
                del self._expiry[session_id]
                pruned += 1
        return pruned


class RevocationWatcher:
    """Keeps ``revoked`` current: loads recent revocations at start, polls the database
    every ``interval_s`` and, with a bus, applies what other instances publish at once."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        revoked: RevokedSessions,
        clock: Clock,
        *,
        interval_s: float,
        lookback: timedelta,
        bus: RevocationBus | None = None,
        overlap: timedelta = timedelta(seconds=5),
        listen_backoff_s: tuple[float, float] = (0.1, 30.0),
    ) -> None:
        self._uow_factory = uow_factory
        self._revoked = revoked
        self._clock = clock
        self._interval_s = interval_s
        self._lookback = lookback
        self._bus = bus
        self._overlap = overlap
        self._backoff_min, self._backoff_max = listen_backoff_s
        self._last_seen: datetime | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Load the revocations that may still matter, then follow new ones."""
        await self.poll()
        self._tasks.append(asyncio.create_task(self._poll_forever(), name="truapi-revocations"))
        if self._bus is not None:
            self._tasks.append(
                asyncio.create_task(self._listen_forever(self._bus), name="truapi-revocation-bus")
            )

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def publish(self, revocations: Sequence[Revocation]) -> None:
        """Apply committed revocations here at once and tell the other instances."""
        if not revocations:
            return
        self._revoked.add(revocations)
        if self._bus is None:
            return
        try:
            await self._bus.publish(revocations)
        except Exception as exc:  # the other instances' polls still find them in the database
            log.warning("revocations.publish_failed", error=_describe(exc))

    async def poll(self) -> None:
        """Read new revocations from the database once; errors are logged, not raised."""
        now = self._clock.now()
        # Nothing revoked before the lookback can still have a live access token.
        after = now - self._lookback
        if self._last_seen is not None:
            # Re-read a little: other instances' clocks and commits may lag behind ours.
            after = max(after, self._last_seen - self._overlap)
        try:
            async with self._uow_factory(readonly=True) as uow:
                found = await uow.revocations.since(after, now)
        except Exception:
            log.warning("revocations.poll_failed", exc_info=True)
            return
        if found:
            newest = max(r.revoked_at for r in found)
            self._last_seen = newest if self._last_seen is None else max(self._last_seen, newest)
            self._revoked.add(found)
        self._revoked.prune(now)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.poll()

    async def _listen_forever(self, bus: RevocationBus) -> None:
        await listen_forever(
            lambda: bus.listen(self._deliver),
            event="revocations.bus_failed",
            backoff_s=(self._backoff_min, self._backoff_max),
        )

    async def _deliver(self, revocations: list[Revocation]) -> None:
        self._revoked.add(revocations)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
