"""A real ``truapi serve`` process on a free port, with its own SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import Server, running_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``python -m truapi serve`` with a bootstrap admin; stopped after the test."""
    with running_server(
        tmp_path / "server",
        APP_ENV="development",
        APP_BOOTSTRAP_ADMIN_USERNAME="admin",
        APP_BOOTSTRAP_ADMIN_PASSWORD="stroll-hazel-quartz-91",
        APP_BOOTSTRAP_ADMIN_EMAIL="admin@example.com",
    ) as running:
        yield running
