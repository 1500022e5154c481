"""Revoked sessions in process, and the watcher that keeps them current."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

import pytest

from tests.clock import T0, FakeClock
from truapi.adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from truapi.application.auth.revocations import RevocationWatcher, RevokedSessions
from truapi.application.ports.auth_repositories import Revocation
from truapi.domain.tenants import Tenant

TENANT = uuid.uuid4()
LOOKBACK = timedelta(minutes=11)


def revocation(
    at: datetime = T0, ttl_s: float = 600, session: uuid.UUID | None = None
) -> Revocation:
    return Revocation(
        tenant_id=TENANT,
        session_id=session or uuid.uuid4(),
        revoked_at=at,
        expires_at=at + timedelta(seconds=ttl_s),
    )


class FakeRevocations:
    """The repository as a list; ``fail`` makes the next reads raise."""

    def __init__(self) -> None:
        self.rows: list[Revocation] = []
        self.queries: list[datetime] = []
        self.fail = False

    async def add_many(self, revocations: Sequence[Revocation]) -> None:
        self.rows.extend(revocations)

    async def since(self, after: datetime, now: datetime) -> list[Revocation]:
        self.queries.append(after)
        if self.fail:
            raise ConnectionError("database is down")
        return [r for r in self.rows if r.revoked_at >= after and r.expires_at > now]

    async def purge_expired(self, now: datetime) -> int:
        return 0


class FakeUnitOfWork:
    def __init__(self, revocations: FakeRevocations) -> None:
        self.revocations = revocations

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        return None


class FakeUnitOfWorkFactory:
    def __init__(self) -> None:
        self.repo = FakeRevocations()

    def __call__(self, *, readonly: bool = False) -> Any:
        return FakeUnitOfWork(self.repo)


class FakeBus:
    """An in-process bus; ``broken`` makes publishing and listening fail."""

    def __init__(self) -> None:
        self.published: list[list[Revocation]] = []
        self.queue: asyncio.Queue[list[Revocation]] = asyncio.Queue()
        self.broken = False
        self.listens = 0

    async def publish(self, revocations: Sequence[Revocation]) -> None:
        if self.broken:
            raise ConnectionError("redis is down")
        self.published.append(list(revocations))

    async def listen(self, deliver: Callable[[list[Revocation]], Awaitable[None]]) -> None:
        self.listens += 1
        if self.broken:
            raise ConnectionError("redis is down")
        while True:
            await deliver(await self.queue.get())


async def eventually(check: Callable[[], bool], within_s: float = 1.0) -> None:
    """Wait until ``check()`` holds; fail after ``within_s``."""
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if check():
            return
        await asyncio.sleep(0.005)
    assert check(), f"not true within {within_s} s"


# RevokedSessions


def test_added_sessions_are_in_the_set_by_their_string_id() -> None:
    revoked = RevokedSessions()
    r = revocation()
    assert revoked.add([r]) == [str(r.session_id)]
    assert str(r.session_id) in revoked
    assert str(uuid.uuid4()) not in revoked
    assert revoked.add([r]) == []
    assert len(revoked) == 1


def test_listeners_hear_only_new_ids() -> None:
    revoked = RevokedSessions()
    heard: list[set[str]] = []
    revoked.on_revoked(heard.append)
    first, second = revocation(), revocation()
    revoked.add([first])
    revoked.add([first, second])
    revoked.add([second])
    assert heard == [{str(first.session_id)}, {str(second.session_id)}]


def test_a_failing_listener_does_not_stop_the_others() -> None:
    revoked = RevokedSessions()
    heard: list[set[str]] = []

    def broken(ids: set[str]) -> None:
        raise RuntimeError("boom")

    revoked.on_revoked(broken)
    revoked.on_revoked(heard.append)
    r = revocation()
    assert revoked.add([r]) == [str(r.session_id)]
    assert heard == [{str(r.session_id)}]


def test_entries_are_pruned_once_their_tokens_have_expired() -> None:
    revoked = RevokedSessions()
    short, long = revocation(ttl_s=60), revocation(ttl_s=600)
    revoked.add([short, long])
    assert revoked.prune(T0 + timedelta(seconds=59)) == 0
    assert revoked.prune(T0 + timedelta(seconds=60)) == 1
    assert str(short.session_id) not in revoked
    assert str(long.session_id) in revoked
    assert revoked.prune(T0 + timedelta(hours=1)) == 1
    assert len(revoked) == 0


def test_a_later_expiry_for_the_same_session_keeps_it_longer() -> None:
    revoked = RevokedSessions()
    session = uuid.uuid4()
    revoked.add([revocation(ttl_s=60, session=session)])
    assert revoked.add([revocation(ttl_s=600, session=session)]) == []
    assert revoked.prune(T0 + timedelta(seconds=61)) == 0
    assert str(session) in revoked
    assert revoked.prune(T0 + timedelta(seconds=600)) == 1


# RevocationWatcher


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def uow() -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


async def test_start_loads_the_lookback_window(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    recent, old = revocation(T0 - timedelta(minutes=5)), revocation(T0 - timedelta(minutes=30))
    uow.repo.rows += [recent, old]
    revoked = RevokedSessions()
    watcher = RevocationWatcher(uow, revoked, clock, interval_s=60, lookback=LOOKBACK)
    await watcher.start()
    try:
        assert uow.repo.queries == [T0 - LOOKBACK]
        assert str(recent.session_id) in revoked
        assert str(old.session_id) not in revoked
    finally:
        await watcher.stop()


async def test_polls_read_from_the_newest_seen_minus_an_overlap(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    revoked = RevokedSessions()
    watcher = RevocationWatcher(uow, revoked, clock, interval_s=0.01, lookback=LOOKBACK)
    await watcher.start()
    try:
        # Written by another instance whose clock lags ours by 3 s.
        late = revocation(T0 - timedelta(seconds=3))
        uow.repo.rows.append(late)
        await eventually(lambda: str(late.session_id) in revoked)
        clock.advance(60)
        queries = len(uow.repo.queries)
        await eventually(lambda: len(uow.repo.queries) > queries)
        assert uow.repo.queries[-1] == late.revoked_at - timedelta(seconds=5)
    finally:
        await watcher.stop()


async def test_polls_prune_expired_entries(uow: FakeUnitOfWorkFactory, clock: FakeClock) -> None:
    revoked = RevokedSessions()
    watcher = RevocationWatcher(uow, revoked, clock, interval_s=0.01, lookback=LOOKBACK)
    gone = revocation(ttl_s=30)
    revoked.add([gone])
    await watcher.start()
    try:
        clock.advance(31)
        await eventually(lambda: str(gone.session_id) not in revoked)
    finally:
        await watcher.stop()


async def test_database_errors_are_logged_and_retried(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    revoked = RevokedSessions()
    uow.repo.fail = True
    watcher = RevocationWatcher(uow, revoked, clock, interval_s=0.01, lookback=LOOKBACK)
    await watcher.start()
    try:
        await eventually(lambda: len(uow.repo.queries) >= 3)
        r = revocation()
        uow.repo.rows.append(r)
        uow.repo.fail = False
        await eventually(lambda: str(r.session_id) in revoked)
    finally:
        await watcher.stop()


async def test_publish_applies_at_once_and_fans_out(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    bus = FakeBus()
    revoked = RevokedSessions()
    watcher = RevocationWatcher(uow, revoked, clock, interval_s=60, lookback=LOOKBACK, bus=bus)
    r = revocation()
    await watcher.publish([r])
    assert str(r.session_id) in revoked
    assert bus.published == [[r]]


async def test_a_failing_bus_does_not_fail_publish(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    bus = FakeBus()
    bus.broken = True
    revoked = RevokedSessions()
    watcher = RevocationWatcher(uow, revoked, clock, interval_s=60, lookback=LOOKBACK, bus=bus)
    r = revocation()
    await watcher.publish([r])
    assert str(r.session_id) in revoked


async def test_the_bus_delivers_other_instances_revocations(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    bus = FakeBus()
    revoked = RevokedSessions()
    watcher = RevocationWatcher(uow, revoked, clock, interval_s=60, lookback=LOOKBACK, bus=bus)
    await watcher.start()
    try:
        r = revocation()
        bus.queue.put_nowait([r])
        await eventually(lambda: str(r.session_id) in revoked)
    finally:
        await watcher.stop()


async def test_the_listener_restarts_with_backoff_after_errors(
    uow: FakeUnitOfWorkFactory, clock: FakeClock
) -> None:
    bus = FakeBus()
    bus.broken = True
    revoked = RevokedSessions()
    watcher = RevocationWatcher(
        uow,
        revoked,
        clock,
        interval_s=60,
        lookback=LOOKBACK,
        bus=bus,
        listen_backoff_s=(0.01, 0.05),
    )
    await watcher.start()
    try:
        await eventually(lambda: bus.listens >= 3)
        bus.broken = False
        r = revocation()
        bus.queue.put_nowait([r])
        await eventually(lambda: str(r.session_id) in revoked)
    finally:
        await watcher.stop()
    assert watcher._tasks == []


async def test_stop_is_clean_and_repeatable(uow: FakeUnitOfWorkFactory, clock: FakeClock) -> None:
    watcher = RevocationWatcher(
        uow, RevokedSessions(), clock, interval_s=0.01, lookback=LOOKBACK, bus=FakeBus()
    )
    await watcher.start()
    await watcher.stop()
    await watcher.stop()


async def test_with_the_memory_unit_of_work(clock: FakeClock) -> None:
    factory = MemoryUnitOfWorkFactory()
    tenant = Tenant.create(slug="acme", name="Acme", now=T0)
    r = Revocation(
        tenant_id=tenant.id,
        session_id=uuid.uuid4(),
        revoked_at=T0 - timedelta(seconds=1),
        expires_at=T0 + timedelta(minutes=10),
    )
    async with factory() as uow:
        await uow.tenants.add(tenant)
        await uow.revocations.add_many([r])
        await uow.commit()
    revoked = RevokedSessions()
    watcher = RevocationWatcher(factory, revoked, clock, interval_s=0.01, lookback=LOOKBACK)
    await watcher.start()
    try:
        assert str(r.session_id) in revoked
        later = Revocation(
            tenant_id=tenant.id,
            session_id=uuid.uuid4(),
            revoked_at=T0,
            expires_at=T0 + timedelta(minutes=10),
        )
        async with factory() as uow:
            await uow.revocations.add_many([later])
            await uow.commit()
        await eventually(lambda: str(later.session_id) in revoked)
    finally:
        await watcher.stop()
