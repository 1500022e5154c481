"""Ports for secrets: password hashing and the common-password list."""

from __future__ import annotations

from typing import Protocol


class PasswordHasher(Protocol):
    """Hashes and verifies passwords; slow on purpose, so it runs off the event loop."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


class CommonPasswords(Protocol):
    """Knows the passwords too common to accept (NIST SP 800-63B §5.1.1.2)."""

    def is_common(self, password: str) -> bool: ...
