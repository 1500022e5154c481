"""A real ``truapi serve`` process on a free port, with its own SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Server:
    base_url: str
    port: int
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``python -m truapi serve`` with a bootstrap admin; stopped after the test."""
    port = free_port()
    workdir = tmp_path / "server"
    workdir.mkdir()
    log = tmp_path / "server.log"
    # Only our settings: nothing inherited from the caller's APP_* variables or a .env file.
    env = {key: value for key, value in os.environ.items() if not key.startswith("APP_")}
    env.update(
        {
            "APP_ENV": "development",
            "APP_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'truapi.db'}",
            "APP_BOOTSTRAP_ADMIN_USERNAME": "admin",
            "APP_BOOTSTRAP_ADMIN_PASSWORD": "stroll-hazel-quartz-91",
            "APP_BOOTSTRAP_ADMIN_EMAIL": "admin@example.com",
            "APP_ARGON2_TIME_COST": "1",
            "APP_ARGON2_MEMORY_COST_KIB": "8192",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "truapi", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Server(base_url=f"http://127.0.0.1:{port}", port=port, log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"truapi serve exited with {process.returncode}:\n{running.log_tail()}")
            try:
                if httpx.get(f"{running.base_url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"truapi serve did not start in {START_TIMEOUT_S}s:\n{running.log_tail()}"
                )
            time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
