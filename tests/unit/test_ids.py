"""UUIDv7 identifiers: time-ordered, so the id order is the creation order."""

from __future__ import annotations

import itertools
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from truapi.domain.ids import new_id


def test_ids_are_version_7_with_the_rfc_variant() -> None:
    for _ in range(100):
        value = new_id()
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_ids_carry_the_current_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    # The counter may borrow a millisecond or two ahead when many ids share one.
    assert before <= value.int >> 80 <= after + 2


def test_ids_strictly_increase_over_10000_calls() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    # Their string form sorts the same way, which is what clients and databases compare.
    texts = [str(i) for i in ids]
    assert texts == sorted(texts)
    assert len(set(ids)) == len(ids)


def test_ids_from_many_threads_are_unique() -> None:
    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(lambda _: [new_id() for _ in range(2_000)], range(8)))
    every = [i for batch in batches for i in batch]
    assert len(set(every)) == len(every)
    for batch in batches:
        assert batch == sorted(batch)
