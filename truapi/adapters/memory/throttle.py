"""In-process login throttle: failure counts per account and per client, bounded in size."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from truapi.application.ports.clock import Clock


@dataclass(slots=True)
class _Failures:
    count: int
    last: datetime


class MemoryLoginThrottle:
    """Growing waits after the free failures of each key, forgotten ``reset_s`` after the
    last failure. Holds at most ``max_entries`` keys; the least recently failed go first."""

    def __init__(
        self,
        clock: Clock,
        *,
        free_failures: int,
        client_free_failures: int,
        delay_s: int,
        max_delay_s: int,
        reset_s: int,
        max_entries: int = 100_000,
    ) -> None:
        self._clock = clock
        self._free = {"a": free_failures, "c": client_free_failures}
        self._delay_s = delay_s
        self._max_delay_s = max_delay_s
        self._reset_s = reset_s
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Failures] = OrderedDict()

    async def retry_after(self, account: str, client: str) -> int:
        now = self._clock.now()
        return max(self._remaining("a", account, now), self._remaining("c", client, now))

    async def failed(self, account: str, client: str) -> int:
        now = self._clock.now()
        self._record("a", account, now)
        self._record("c", client, now)
        return max(self._remaining("a", account, now), self._remaining("c", client, now))

    async def succeeded(self, account: str, client: str) -> None:
        self._entries.pop(f"a:{account}", None)

    def _current(self, kind: str, key: str, now: datetime) -> _Failures | None:
        name = f"{kind}:{key}"
        entry = self._entries.get(name)
        if entry is not None and (now - entry.last).total_seconds() >= self._reset_s:
            del self._entries[name]
            return None
        return entry

    def _record(self, kind: str, key: str, now: datetime) -> None:
        entry = self._current(kind, key, now)
        name = f"{kind}:{key}"
        if entry is None:
            self._entries[name] = _Failures(1, now)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        else:
            entry.count += 1
            entry.last = now
            self._entries.move_to_end(name)

    def _remaining(self, kind: str, key: str, now: datetime) -> int:
        entry = self._current(kind, key, now)
        if entry is None or entry.count <= self._free[kind]:
            return 0
        # The exponent is capped so that endless failures never build a huge integer.
        wait = min(
            self._delay_s * (1 << min(entry.count - self._free[kind] - 1, 40)), self._max_delay_s
        )
        return max(0, math.ceil(wait - (now - entry.last).total_seconds()))
