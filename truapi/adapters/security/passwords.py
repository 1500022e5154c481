"""argon2id hashing off the event loop, and the shipped list of common passwords."""

from __future__ import annotations

import asyncio
from functools import cached_property

import argon2
from anyio import to_thread
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Hasher:
    """argon2id with configurable cost; at most ``concurrency`` hashes run at once."""

    def __init__(
        self,
        *,
        time_cost: int = 3,
        memory_cost_kib: int = 65536,
        parallelism: int = 1,
        concurrency: int = 4,
    ) -> None:
        self._ph = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._slots = asyncio.Semaphore(concurrency)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await to_thread.run_sync(self._ph.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        def check() -> bool:
            try:
                return self._ph.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        async with self._slots:
            return await to_thread.run_sync(check)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._ph.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


class ZxcvbnCommonPasswords:
    """The common-password list that ships with zxcvbn (about 30,000 entries)."""

    @cached_property
    def _words(self) -> frozenset[str]:
        from zxcvbn.frequency_lists import FREQUENCY_LISTS

        return frozenset(w.lower() for w in FREQUENCY_LISTS["passwords"])

    def is_common(self, password: str) -> bool:
        return password.lower() in self._words
