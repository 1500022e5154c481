"""Pieces of the authentication benchmark (``bench.auth``): an HTTP client, the accounts and
tokens the load scenarios need, and the two measurements made without wrk: revocation
propagation between two instances and login timing by failure cause."""

from __future__ import annotations

import http.client
import json
import random
import statistics
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USER_AGENT = "truapi-bench"

ADMIN_USERNAME = "benchadmin"
# Throwaway accounts in throwaway databases.
ADMIN_PASSWORD = "Bench-admin-pw-7731"
# The account the login scenarios log in as: sessions pile up on it, not on the administrator
# whose ``GET /me`` lists its own live sessions.
FLOOD_USERNAME = "flooder"
FLOOD_PASSWORD = "Flood-pw-99127x"  # bench.auth_argon2 verifies this very password
TIMING_USERNAME = "timinguser"
UNKNOWN_USERNAME = "ghost-user"


class BenchError(RuntimeError):
    """The server answered something the benchmark cannot work with."""


class Client:
    """One keep-alive HTTP/1.1 connection to a server, reopened when the server drops it."""

    def __init__(self, base_url: str, timeout: float = 30) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        token: str | None = None,
    ) -> tuple[int, bytes]:
        headers = {"User-Agent": USER_AGENT}
        body: bytes | None = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port, self._timeout)
            try:
                self._conn.request(method, path, body=body, headers=headers)
                response = self._conn.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def login(self, username: str, password: str) -> dict[str, Any]:
        status, body = self.request(
            "POST", "/auth/login", json_body={"username": username, "password": password}
        )
        if status != 200:
            raise BenchError(f"login as {username!r} answered {status}: {body[:300]!r}")
        answer: dict[str, Any] = json.loads(body)
        return answer

    def expect(self, status: int, method: str, path: str, **kwargs: Any) -> bytes:
        got, body = self.request(method, path, **kwargs)
        if got != status:
            raise BenchError(f"{method} {path} answered {got}, expected {status}: {body[:300]!r}")
        return body


def create_user(client: Client, admin_token: str, username: str, password: str) -> None:
    client.expect(
        201,
        "POST",
        "/users",
        json_body={"username": username, "email": f"{username}@example.com", "password": password},
        token=admin_token,
    )


def refresh_token_files(
    base_url: str, directory: Path, *, sets: int, per_set: int, workers: int = 4
) -> list[Path]:
    """``sets`` files of ``per_set`` refresh tokens, each from its own administrator login.

    Logging in is the only way to a new session; ``workers`` threads log in side by side
    (the server's argon2 cost should be low for this server).
    """
    local = threading.local()
    retried: list[str] = []

    def one(_: int) -> str:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = Client(base_url)
        for attempt in range(1, 4):
            try:
                token: str = client.login(ADMIN_USERNAME, ADMIN_PASSWORD)["refresh_token"]
                return token
            except BenchError as exc:
                # Only preparation: a 503 here is noted (see the server log) and retried.
                if "answered 503" not in str(exc) or attempt == 3:
                    raise
                retried.append(str(exc))
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(workers) as pool:
        tokens = list(pool.map(one, range(sets * per_set)))
    if retried:
        print(
            f"[bench] warning: {len(retried)} preparation login(s) answered 503 and were "
            f"retried; first: {retried[0]}",
            file=sys.stderr,
            flush=True,
        )
    files = []
    for i in range(sets):
        path = directory / f"{urllib.parse.urlsplit(base_url).port}-refresh-{i}.txt"
        path.write_text("\n".join(tokens[i * per_set : (i + 1) * per_set]) + "\n")
        files.append(path)
    return files


# --- revocation propagation -----------------------------------------------------------------


@dataclass
class Propagation:
    """Logouts on instance A and how long instance B kept accepting the token after each."""

    seconds: list[float] = field(default_factory=list)  # logout sent -> B's first 401
    after_answer: list[float] = field(default_factory=list)  # logout answered -> B's first 401
    logout_ms: list[float] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    timeouts: int = 0
    a_still_accepting: int = 0  # A answered 200 after its own logout: never expected
    unexpected: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.timeouts + self.a_still_accepting + len(self.unexpected)


def measure_propagation(
    a_url: str,
    b_url: str,
    *,
    logouts: int,
    give_up_s: float = 10.0,
    max_pause_s: float = 0.5,
    progress: Callable[[str], None] | None = None,
) -> Propagation:
    """For each of ``logouts`` fresh sessions: log in on A, check B accepts the token (B now
    has it verified and cached), log out on A, then ask B ``GET /me`` back to back until it
    answers 401.

    A random pause of up to ``max_pause_s`` between rounds spreads the logouts over the
    instances' polling cycle instead of hitting the same point of it every time.
    """
    a, b = Client(a_url), Client(b_url)
    out = Propagation()
    rng = random.Random(14)
    try:
        for i in range(logouts):
            token = a.login(ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"]
            status, body = b.request("GET", "/me", token=token)
            if status != 200:
                out.unexpected.append(f"B answered {status} to a fresh token: {body[:200]!r}")
                continue
            start = time.perf_counter()
            status, body = a.request("POST", "/auth/logout", token=token)
            answered = time.perf_counter()
            if status != 204:
                out.unexpected.append(f"logout answered {status}: {body[:200]!r}")
                continue
            polls = 0
            while True:
                status, body = b.request("GET", "/me", token=token)
                polls += 1
                now = time.perf_counter()
                if status == 401:
                    out.seconds.append(now - start)
                    out.after_answer.append(now - answered)
                    out.logout_ms.append((answered - start) * 1000)
                    out.polls.append(polls)
                    break
                if status != 200:
                    out.unexpected.append(f"B answered {status} while polling: {body[:200]!r}")
                    break
                if now - start > give_up_s:
                    out.timeouts += 1
                    break
            if a.request("GET", "/me", token=token)[0] != 401:
                out.a_still_accepting += 1
            if progress is not None and (i + 1) % 25 == 0:
                progress(f"{i + 1}/{logouts} logouts")
            time.sleep(rng.uniform(0, max_pause_s))
    finally:
        a.close()
        b.close()
    return out


# --- login timing ---------------------------------------------------------------------------


@dataclass
class LoginTiming:
    """Latency (ms) of failed logins by cause, measured alternately on one connection."""

    unknown_ms: list[float] = field(default_factory=list)
    wrong_ms: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return len(self.unexpected)

    @property
    def paired_difference_ms(self) -> float:
        """Median of (wrong password - unknown user) over the alternating pairs."""
        return statistics.median(
            w - u for w, u in zip(self.wrong_ms, self.unknown_ms, strict=False)
        )


def measure_login_timing(base_url: str, *, attempts: int, warmup: int = 5) -> LoginTiming:
    """``attempts`` logins as an unknown user and as a known user with a wrong password,
    alternating (so drift on the machine touches both alike); every answer must be 401."""
    client = Client(base_url)
    out = LoginTiming()
    cases = [
        (UNKNOWN_USERNAME, out.unknown_ms),
        (TIMING_USERNAME, out.wrong_ms),
    ]
    try:
        for i in range(warmup + attempts):
            order = cases if i % 2 == 0 else cases[::-1]
            for username, sink in order:
                start = time.perf_counter()
                status, body = client.request(
                    "POST",
                    "/auth/login",
                    json_body={"username": username, "password": "Wrong-pw-31337x"},
                )
                elapsed = (time.perf_counter() - start) * 1000
                if status != 401:
                    out.unexpected.append(f"{username}: {status} {body[:200]!r}")
                    continue
                if i >= warmup:
                    sink.append(elapsed)
    finally:
        client.close()
    return out
