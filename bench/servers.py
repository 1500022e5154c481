"""uvicorn servers in subprocesses, pinned to one CPU, started and stopped cleanly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class ServerError(RuntimeError):
    """A server did not start, or answered something other than expected."""


@dataclass(frozen=True)
class ServerSpec:
    """What to serve: an import string, whether it is a factory, extra environment."""

    name: str
    app: str
    factory: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    ready_path: str = "/"


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    pid: int
    log_path: Path


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid``, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def wait_idle(pids: list[int], *, timeout: float = 60, window: float = 0.25) -> bool:
    """Wait until the servers stop working off requests a finished wrk run left queued.

    wrk closes its connections at the end of a run, but requests already accepted still run
    to completion; left alone they would eat into the next run. False on timeout.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(pid) for pid in pids)
        time.sleep(window)
        if sum(cpu_seconds(pid) for pid in pids) - before < 0.05 * window:
            return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    # Inherited APP_* variables would change what is measured; the spec sets its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(extra)
    return env


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"server exited with {proc.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise ServerError(f"server not ready after {timeout:.0f} s:\n{_tail(log_path)}")


@contextmanager
def running(spec: ServerSpec, *, cpu: int | None, log_dir: Path) -> Iterator[Server]:
    """Run ``spec`` under uvicorn (``bench.serve``) until the block ends.

    The server's stdout and stderr (TruAPI's access log included) go to a file, so logging
    costs what it costs in production without flooding the terminal.
    """
    port = free_port()
    log_path = log_dir / f"{spec.name}.log"
    command = [sys.executable, "-m", "bench.serve", spec.app, "--port", str(port)]
    if spec.factory:
        command.append("--factory")
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_clean_env(spec.env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(proc, base_url + spec.ready_path, log_path, timeout=60)
        yield Server(name=spec.name, base_url=base_url, pid=proc.pid, log_path=log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
