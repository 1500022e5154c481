"""Run a real ``python -m truapi serve`` process on a free port, as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Server:
    base_url: str
    port: int
    stdout: Path
    stderr: Path

    def log_tail(self, lines: int = 40) -> str:
        text = ""
        for path in (self.stdout, self.stderr):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(workdir: Path, **settings: str) -> dict[str, str]:
    """The environment without the caller's ``APP_*`` variables, plus ``settings``.

    The database is a fresh SQLite file in ``workdir`` unless ``APP_DATABASE_URL`` is given;
    hashing is cheap, since these tests check behaviour, not cost.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("APP_")}
    env.update(
        {
            "APP_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'truapi.db'}",
            "APP_ARGON2_TIME_COST": "1",
            "APP_ARGON2_MEMORY_COST_KIB": "8192",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
            **settings,
        }
    )
    return env


@contextmanager
def running_server(workdir: Path, **settings: str) -> Iterator[Server]:
    """Start ``truapi serve`` in ``workdir`` (so no stray ``.env`` is read), wait until it is
    live, and stop it afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = Server(
        base_url=f"http://127.0.0.1:{port}",
        port=port,
        stdout=workdir / "stdout.log",
        stderr=workdir / "stderr.log",
    )
    with server.stdout.open("wb") as out, server.stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "truapi", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=server_env(workdir, **settings),
            stdout=out,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"truapi serve exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if httpx.get(f"{server.base_url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"truapi serve did not start in {START_TIMEOUT_S}s:\n{server.log_tail()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
