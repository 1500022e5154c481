"""A clock tests move by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float = 0, **delta: float) -> None:
        self.current += timedelta(seconds=seconds, **delta)

    def timestamp(self) -> float:
        """The same instant as ``time.time()`` would give, for the token codec."""
        return self.current.timestamp()
