"""What repositories execute statements on: an async connection, or SQLite read inline."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Connection, CursorResult, Dialect, Executable


class Executor(Protocol):
    """The part of ``AsyncConnection`` the repositories use."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> CursorResult[Any]: ...


class InlineConnection:
    """A synchronous SQLite connection used from the event loop, without a worker thread.

    A SQLite read by key takes a few microseconds, while handing each statement to the
    driver's worker thread (aiosqlite) costs tens, several times per request. In WAL mode
    readers never wait for writers, so reading inline does not stall the loop on locks.
    Writers keep using the async driver: they may have to wait for the write lock.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._conn.dialect

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> CursorResult[Any]:
        return self._conn.execute(statement, parameters)
