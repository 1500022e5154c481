"""Login throttling policy, written once and run against every adapter."""

from __future__ import annotations

from typing import TypedDict

import pytest

from tests.clock import FakeClock
from truapi.adapters.memory.throttle import MemoryLoginThrottle
from truapi.application.ports.throttle import LoginThrottle


class Policy(TypedDict):
    free_failures: int
    client_free_failures: int
    delay_s: int
    max_delay_s: int
    reset_s: int


#: Small numbers, so each rule shows within a few failures.
POLICY: Policy = {
    "free_failures": 3,
    "client_free_failures": 5,
    "delay_s": 10,
    "max_delay_s": 100,
    "reset_s": 1000,
}


class LoginThrottleContract:
    """What every ``LoginThrottle`` does; subclasses provide the ``throttle`` fixture."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    async def fail_from_many_clients(self, throttle: LoginThrottle, account: str, n: int) -> int:
        """Fail ``n`` times, each from a new client, so only the account's count grows."""
        wait = 0
        for i in range(n):
            wait = await throttle.failed(account, f"192.0.2.{i}")
        return wait

    async def test_free_failures_cost_nothing(self, throttle: LoginThrottle) -> None:
        for i in range(3):
            assert await throttle.failed("alice@t1", f"192.0.2.{i}") == 0
        assert await throttle.retry_after("alice@t1", "192.0.2.200") == 0

    async def test_waits_double_after_the_free_failures_up_to_the_cap(
        self, throttle: LoginThrottle, clock: FakeClock
    ) -> None:
        await self.fail_from_many_clients(throttle, "alice@t1", 3)
        waits = []
        for i in range(5):
            waits.append(await throttle.failed("alice@t1", f"198.51.100.{i}"))
            clock.advance(waits[-1])
        assert waits == [10, 20, 40, 80, 100]

    async def test_the_wait_counts_from_the_last_failure_and_rounds_up(
        self, throttle: LoginThrottle, clock: FakeClock
    ) -> None:
        assert await self.fail_from_many_clients(throttle, "alice@t1", 4) == 10
        assert await throttle.retry_after("alice@t1", "203.0.113.9") == 10
        clock.advance(0.5)
        assert await throttle.retry_after("alice@t1", "203.0.113.9") == 10
        clock.advance(7)
        assert await throttle.retry_after("alice@t1", "203.0.113.9") == 3
        clock.advance(2.5)
        assert await throttle.retry_after("alice@t1", "203.0.113.9") == 0

    async def test_failures_are_forgotten_reset_s_after_the_last(
        self, throttle: LoginThrottle, clock: FakeClock
    ) -> None:
        await self.fail_from_many_clients(throttle, "alice@t1", 6)
        clock.advance(999)
        assert await throttle.retry_after("alice@t1", "203.0.113.9") == 0
        # Still remembered, so this failure is the seventh: the fourth wait, 8 × delay.
        assert await throttle.failed("alice@t1", "203.0.113.9") == 80
        clock.advance(1000)
        # Forgotten: three more failures are free again.
        for i in range(3):
            assert await throttle.failed("alice@t1", f"203.0.113.{i}") == 0

    async def test_success_forgets_the_account_but_not_the_client(
        self, throttle: LoginThrottle
    ) -> None:
        for _ in range(6):
            await throttle.failed("alice@t1", "192.0.2.1")
        assert await throttle.retry_after("alice@t1", "192.0.2.1") == 40
        await throttle.succeeded("alice@t1", "192.0.2.1")
        assert await throttle.retry_after("alice@t1", "192.0.2.1") == 10
        assert await throttle.retry_after("alice@t1", "192.0.2.2") == 0
        assert await throttle.retry_after("bob@t1", "192.0.2.1") == 10

    async def test_a_client_has_its_own_larger_threshold(self, throttle: LoginThrottle) -> None:
        for i in range(5):
            assert await throttle.failed(f"user{i}@t1", "192.0.2.1") == 0
        assert await throttle.failed("user5@t1", "192.0.2.1") == 10
        assert await throttle.retry_after("someone-new@t1", "192.0.2.1") == 10
        assert await throttle.retry_after("someone-new@t1", "192.0.2.2") == 0
        assert await throttle.retry_after("user0@t1", "192.0.2.2") == 0

    async def test_unknown_and_known_accounts_are_throttled_alike(
        self, throttle: LoginThrottle
    ) -> None:
        known = [await throttle.failed("alice@t1", f"192.0.2.{i}") for i in range(6)]
        unknown = [await throttle.failed("nobody-here@t1", f"198.51.100.{i}") for i in range(6)]
        assert known == unknown == [0, 0, 0, 10, 20, 40]

    async def test_accounts_and_clients_with_the_same_text_are_separate_keys(
        self, throttle: LoginThrottle
    ) -> None:
        for _ in range(4):
            await throttle.failed("192.0.2.1", "192.0.2.9")
        assert await throttle.retry_after("alice@t1", "192.0.2.1") == 0


class TestMemoryLoginThrottle(LoginThrottleContract):
    @pytest.fixture
    def throttle(self, clock: FakeClock) -> LoginThrottle:
        return MemoryLoginThrottle(clock, **POLICY)

    async def test_it_holds_at_most_max_entries_and_evicts_the_oldest(
        self, clock: FakeClock
    ) -> None:
        throttle = MemoryLoginThrottle(clock, **POLICY, max_entries=2)
        for _ in range(4):
            await throttle.failed("alice@t1", "192.0.2.1")
        assert await throttle.retry_after("alice@t1", "192.0.2.1") == 10
        # Two more keys push out the older two: alice's and her client's.
        await throttle.failed("bob@t1", "192.0.2.2")
        assert await throttle.retry_after("alice@t1", "192.0.2.1") == 0
        assert len(throttle._entries) == 2
