"""Keep a listener on a message bus alive: listen again after each failure, with a growing
pause that starts afresh once a listener has stayed up a good while."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("truapi")


async def listen_forever(
    listen: Callable[[], Awaitable[None]], *, event: str, backoff_s: tuple[float, float]
) -> None:
    """Run ``listen`` until cancelled; each failure is logged as ``event`` (no traceback:
    lost connections are the usual cause and need none)."""
    low, high = backoff_s
    loop = asyncio.get_running_loop()
    delay = low
    while True:
        started = loop.time()
        try:
            await listen()
        except Exception as exc:
            log.warning(event, error=f"{type(exc).__name__}: {exc}", retry_in_s=delay)
        if loop.time() - started > high:
            delay = low
        await asyncio.sleep(delay)
        delay = min(delay * 2, high)
