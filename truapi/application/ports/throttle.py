"""Port for login throttling (brute-force protection)."""

from __future__ import annotations

from typing import Protocol


class LoginThrottle(Protocol):
    """Counts failed logins per account and per client address and imposes growing waits."""

    async def retry_after(self, account: str, client: str) -> int:
        """Seconds until a login for this account from this client may be tried; 0 now."""

    async def failed(self, account: str, client: str) -> int:
        """Record a failure; returns the wait it imposes from now (0 for none)."""

    async def succeeded(self, account: str, client: str) -> None:
        """Forget the account's failures (the client's remain)."""
