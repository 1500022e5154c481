"""Authentication benchmark: token checks, logins, refreshes, introspection, revocation
propagation and login timing, each against its reference in the same run
(``python -m bench.auth``; see ``bench/AUTH.md``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bench.auth_scenarios import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    FLOOD_PASSWORD,
    FLOOD_USERNAME,
    TIMING_USERNAME,
    BenchError,
    Client,
    LoginTiming,
    Propagation,
    create_user,
    measure_login_timing,
    measure_propagation,
    refresh_token_files,
)
from bench.run import DEFAULT_PG_ADMIN_URL, environment, log, pick_cpus
from bench.seed import create_postgres_database, drop_postgres_database, seed_database
from bench.servers import ROOT, Server, ServerError, ServerSpec, cpu_seconds, running, wait_idle
from bench.wrk import WrkResult, run_wrk, write_scripts
from truapi.config import Settings

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LUA_DIR = Path(__file__).resolve().parent / "auth_lua"
APP = "truapi.api.asgi:serve_app"
REDIS_URL = "redis://127.0.0.1:6379/14"
REFRESH_TARGET_RPS = 960.0
NOISY_SPREAD = 0.25

# OWASP's argon2id parameters, for the servers whose logins are measured and for the raw rate.
OWASP = {"time_cost": 2, "memory_cost_kib": 19456, "parallelism": 1}
# Cheap hashing where logins only prepare sessions (refresh and revocation): refresh hashes
# nothing, and logging in hundreds of times at full cost would only slow the run down.
CHEAP = {"time_cost": 1, "memory_cost_kib": 8192, "parallelism": 1}


def argon2_env(cost: dict[str, int]) -> dict[str, str]:
    return {
        "APP_ARGON2_TIME_COST": str(cost["time_cost"]),
        "APP_ARGON2_MEMORY_COST_KIB": str(cost["memory_cost_kib"]),
        "APP_ARGON2_PARALLELISM": str(cost["parallelism"]),
    }


def base_env(database_url: str, cost: dict[str, int], **extra: str) -> dict[str, str]:
    return {
        "APP_DATABASE_URL": database_url,
        "APP_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USERNAME,
        "APP_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Tokens taken at the start must outlive the whole run (the default is 600 s).
        "APP_ACCESS_TOKEN_TTL": "7200",
        **argon2_env(cost),
        **extra,
    }


def setting_max(name: str, wanted: int) -> int:
    """``wanted``, or the largest value the setting accepts when that is lower."""
    for constraint in Settings.model_fields[name].metadata:
        bound = getattr(constraint, "le", None)
        if isinstance(bound, int):
            return min(wanted, bound)
    return wanted


# --- scenarios --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """One wrk invocation: server, path, Lua script (``auth_lua/<name>``; None: plain GET)."""

    server: str
    path: str
    script: str | None = None
    args: tuple[str, ...] = ()
    connections: int = 64
    token_files: tuple[Path, ...] = ()  # refresh: one file per run, index 0 for the warm-up


@dataclass(frozen=True)
class Target:
    """``reference`` set: median >= bound x the reference's median; else median >= bound."""

    bound: float
    reference: str | None = None


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    kind: Literal["wrk", "flood", "argon2"]
    load: Load | None = None
    background: Load | None = None  # flood: the login load running alongside
    target: Target | None = None


@dataclass(frozen=True)
class Run:
    rate: float
    p99_ms: float | None
    cpu_pct: float
    errors: dict[str, int]
    background: dict[str, Any] | None = None

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass
class Outcome:
    scenario: Scenario
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def spread(self) -> float:
        rates = [r.rate for r in self.runs]
        return (max(rates) - min(rates)) / self.median if self.median else 0.0

    @property
    def errors(self) -> int:
        return sum(r.failed for r in self.runs)

    @property
    def per_core(self) -> float:
        """Median of rate / CPU share: what a whole core would give, if the cost held."""
        return statistics.median(100 * r.rate / r.cpu_pct for r in self.runs if r.cpu_pct > 0)


def wrk_errors(result: WrkResult) -> dict[str, int]:
    return {k: v for k, v in result.errors.items() if v}


class Runner:
    """Runs scenarios: wrk on the load CPU, raw argon2 on the server CPU."""

    def __init__(
        self,
        servers: dict[str, Server],
        scripts: dict[str | None, Path],
        *,
        server_cpu: int,
        wrk_cpu: int,
    ) -> None:
        self.servers = servers
        self.scripts = scripts
        self.server_cpu = server_cpu
        self.wrk_cpu = wrk_cpu

    def settle(self) -> None:
        if not wait_idle([s.pid for s in self.servers.values()]):
            log("warning: the servers did not go idle before the next run")

    def wrk(self, load: Load, seconds: float, index: int) -> WrkResult:
        args = list(load.args)
        if load.token_files:
            args.append(str(load.token_files[index]))
        return run_wrk(
            self.servers[load.server].base_url + load.path,
            script=self.scripts[load.script],
            script_args=args,
            seconds=seconds,
            connections=load.connections,
            cpu=self.wrk_cpu,
        )

    def run(self, s: Scenario, seconds: float, index: int) -> Run:
        self.settle()
        if s.kind == "argon2":
            return self._argon2(seconds)
        assert s.load is not None
        pid = self.servers[s.load.server].pid
        before = cpu_seconds(pid)
        background: dict[str, Any] | None = None
        if s.kind == "flood":
            assert s.background is not None
            flood_load = s.background
            with ThreadPoolExecutor(1) as pool:
                # The flood starts first and ends last, so it covers the whole measurement.
                flood = pool.submit(self.wrk, flood_load, seconds + 2, index)
                time.sleep(1.0)
                before = cpu_seconds(pid)
                result = self.wrk(s.load, seconds, index)
                cpu = cpu_seconds(pid) - before
                flood_result = flood.result()
            background = {
                "rps": round(flood_result.rps, 1),
                "requests": flood_result.requests,
                "errors": wrk_errors(flood_result),
                "latency_ms": flood_result.latency_ms,
            }
            errors = wrk_errors(result)
            for name, count in background["errors"].items():
                errors[f"flood_{name}"] = count
        else:
            result = self.wrk(s.load, seconds, index)
            cpu = cpu_seconds(pid) - before
            errors = wrk_errors(result)
        return Run(
            rate=result.rps,
            p99_ms=result.latency_ms["p99"],
            cpu_pct=100 * cpu / result.seconds if result.seconds else 0.0,
            errors=errors,
            background=background,
        )

    def _argon2(self, seconds: float) -> Run:
        command = [
            "taskset",
            "-c",
            str(self.server_cpu),
            sys.executable,
            "-m",
            "bench.auth_argon2",
            "--seconds",
            str(seconds),
            "--time-cost",
            str(OWASP["time_cost"]),
            "--memory-cost-kib",
            str(OWASP["memory_cost_kib"]),
            "--parallelism",
            str(OWASP["parallelism"]),
        ]
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=seconds + 60
        )
        if done.returncode != 0:
            raise BenchError(f"bench.auth_argon2 failed:\n{done.stdout}\n{done.stderr}")
        raw = json.loads(done.stdout.strip().splitlines()[-1])
        return Run(
            rate=raw["verifications"] / raw["seconds"],
            p99_ms=None,
            cpu_pct=100 * raw["cpu_seconds"] / raw["seconds"],
            errors={},
        )


def measure(
    runner: Runner, scenarios: list[Scenario], *, runs: int, seconds: float, warmup: float
) -> list[Outcome]:
    """Warm each scenario up once, then run them round after round, so drift on the machine
    touches every scenario alike."""
    outcomes = [Outcome(s) for s in scenarios]
    if warmup > 0:
        for s in scenarios:
            log(f"warm-up  {s.label}")
            runner.run(s, warmup, 0)
    for round_no in range(1, runs + 1):
        for outcome in outcomes:
            run = runner.run(outcome.scenario, seconds, round_no)
            outcome.runs.append(run)
            note = f"  (errors: {run.errors})" if run.failed else ""
            extra = ""
            if run.background is not None:
                extra = f", flood {run.background['rps']:,.1f} logins/s"
            log(f"run {round_no}/{runs}  {outcome.scenario.label}: {run.rate:,.1f}/s{extra}{note}")
    return outcomes


# --- the table and the JSON -------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    scenario: str
    median: str
    runs: str
    p99_ms: str
    cpu_pct: str
    per_core: str
    ratio: str
    target: str
    result: str


_HEADERS = (
    "scenario",
    "median",
    "runs",
    "p99 ms",
    "cpu %",
    "per core-s",
    "ratio",
    "target",
    "result",
)
_RIGHT = {1, 3, 4, 5}


def render_table(rows: list[Row]) -> str:
    cells = [
        (
            r.scenario,
            r.median,
            r.runs,
            r.p99_ms,
            r.cpu_pct,
            r.per_core,
            r.ratio,
            r.target,
            r.result,
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [_HEADERS, *cells]) for i in range(len(_HEADERS))]

    def line(values: tuple[str, ...]) -> str:
        parts = [
            v.rjust(widths[i]) if i in _RIGHT else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join(
        [line(_HEADERS), "  ".join("-" * w for w in widths), *(line(c) for c in cells)]
    )


def simple_row(
    scenario: str,
    median: str,
    runs: str,
    *,
    p99: str = "-",
    ratio: str = "-",
    target: str = "-",
    result: str = "-",
) -> Row:
    return Row(scenario, median, runs, p99, "-", "-", ratio, target, result)


def _rate(value: float) -> str:
    return f"{value:,.0f}/s" if value >= 100 else f"{value:,.1f}/s"


def _rates(values: list[float]) -> str:
    return " ".join(f"{v:,.0f}" if v >= 100 else f"{v:,.1f}" for v in values)


def evaluate_load(outcomes: list[Outcome]) -> tuple[list[Row], list[dict[str, Any]]]:
    by_key = {o.scenario.key: o for o in outcomes}
    rows: list[Row] = []
    records: list[dict[str, Any]] = []
    for o in outcomes:
        s, median, target = o.scenario, o.median, o.scenario.target
        ratio: float | None = None
        per_core_ratio: float | None = None
        passed: bool | None = None
        ratio_text = target_text = "-"
        if target is not None and target.reference is not None:
            reference = by_key[target.reference]
            ratio = median / reference.median
            per_core_ratio = o.per_core / reference.per_core
            ratio_text = f"{ratio:.2f}x {reference.scenario.key} ({per_core_ratio:.2f}x/core)"
            target_text = f">= {target.bound:.2f}x"
            passed = ratio >= target.bound
        elif target is not None:
            target_text = f">= {target.bound:,.0f}/s"
            passed = median >= target.bound
        result = "ERROR" if o.errors else ("-" if passed is None else "PASS" if passed else "FAIL")
        p99 = [r.p99_ms for r in o.runs if r.p99_ms is not None]
        rows.append(
            Row(
                scenario=s.label,
                median=_rate(median),
                runs=_rates([r.rate for r in o.runs]),
                p99_ms=f"{statistics.median(p99):.1f}" if p99 else "-",
                cpu_pct=f"{statistics.median(r.cpu_pct for r in o.runs):.0f}",
                per_core=_rate(o.per_core),
                ratio=ratio_text,
                target=target_text,
                result=result,
            )
        )
        if s.kind == "flood":
            flood_rates = [r.background["rps"] for r in o.runs if r.background is not None]
            rows.append(
                Row(
                    scenario="  logins/s of that flood",
                    median=_rate(statistics.median(flood_rates)),
                    runs=_rates(flood_rates),
                    p99_ms="-",
                    cpu_pct="-",
                    per_core="-",
                    ratio="-",
                    target="-",
                    result="-",
                )
            )
        records.append(
            {
                "key": s.key,
                "label": s.label,
                "kind": s.kind,
                "load": None
                if s.load is None
                else {
                    "server": s.load.server,
                    "path": s.load.path,
                    "script": s.load.script,
                    "connections": s.load.connections,
                },
                "flood": None
                if s.background is None
                else {"path": s.background.path, "connections": s.background.connections},
                "median_per_s": round(median, 2),
                "spread": round(o.spread, 3),
                "median_per_core_second": round(o.per_core, 2),
                "ratio": None if ratio is None else round(ratio, 4),
                "ratio_per_core_second": None
                if per_core_ratio is None
                else round(per_core_ratio, 4),
                "target": None if target is None else vars(target),
                "result": result,
                "runs": [
                    {
                        "per_s": round(r.rate, 2),
                        "p99_ms": r.p99_ms,
                        "server_cpu_pct": round(r.cpu_pct, 1),
                        "errors": r.errors,
                        **({"flood": r.background} if r.background is not None else {}),
                    }
                    for r in o.runs
                ],
            }
        )
    return rows, records


def evaluate_propagation(
    label: str, result: Propagation | None, limit_s: float, skipped: str | None
) -> tuple[list[Row], dict[str, Any]]:
    if result is None or not result.seconds:
        why = skipped or f"no measurement ({result.unexpected[:3] if result else ''})"
        row = simple_row(label, "-", why, target=f"max <= {limit_s:g} s", result="SKIP")
        if result is not None and result.errors:
            row = simple_row(label, "-", why, target=f"max <= {limit_s:g} s", result="ERROR")
        return [row], {"label": label, "skipped": skipped, "result": row.result}
    median, worst = statistics.median(result.seconds), max(result.seconds)
    passed = worst <= limit_s
    status = "ERROR" if result.errors else "PASS" if passed else "FAIL"
    row = simple_row(
        label,
        f"{median * 1000:,.1f} ms",
        f"n={len(result.seconds)} max {worst * 1000:,.1f} ms",
        p99=f"{statistics.quantiles(result.seconds, n=100, method='inclusive')[98] * 1000:,.1f}"
        if len(result.seconds) >= 2
        else "-",
        target=f"max <= {limit_s:g} s",
        result=status,
    )
    record = {
        "label": label,
        "median_s": round(median, 4),
        "max_s": round(worst, 4),
        "median_after_logout_answered_s": round(statistics.median(result.after_answer), 4),
        "median_logout_ms": round(statistics.median(result.logout_ms), 2),
        "median_polls": statistics.median(result.polls),
        "samples_s": [round(x, 4) for x in result.seconds],
        "timeouts": result.timeouts,
        "a_still_accepting": result.a_still_accepting,
        "unexpected": result.unexpected[:20],
        "target": f"max <= {limit_s:g} s",
        "result": status,
    }
    return [row], record


def evaluate_timing(result: LoginTiming) -> tuple[list[Row], dict[str, Any]]:
    status = "ERROR" if result.errors else "-"
    unknown, wrong = statistics.median(result.unknown_ms), statistics.median(result.wrong_ms)
    diff = wrong - unknown
    paired = result.paired_difference_ms

    def p90(values: list[float]) -> str:
        return (
            f"{statistics.quantiles(values, n=10, method='inclusive')[8]:.1f}"
            if len(values) >= 2
            else "-"
        )

    rows = [
        simple_row(
            "login 401, unknown user",
            f"{unknown:.1f} ms",
            f"n={len(result.unknown_ms)}",
            result=status,
        ),
        simple_row(
            "login 401, wrong password",
            f"{wrong:.1f} ms",
            f"n={len(result.wrong_ms)}",
            result=status,
        ),
        simple_row(
            "  wrong - unknown (medians)",
            f"{diff:+.2f} ms",
            f"paired median {paired:+.2f} ms",
            ratio=f"{diff / unknown:+.1%}",
            target="report",
            result=status,
        ),
    ]
    record = {
        "unknown_user_median_ms": round(unknown, 3),
        "wrong_password_median_ms": round(wrong, 3),
        "unknown_user_p90_ms": p90(result.unknown_ms),
        "wrong_password_p90_ms": p90(result.wrong_ms),
        "difference_of_medians_ms": round(diff, 3),
        "paired_median_difference_ms": round(paired, 3),
        "unknown_user_ms": [round(x, 3) for x in result.unknown_ms],
        "wrong_password_ms": [round(x, 3) for x in result.wrong_ms],
        "unexpected": result.unexpected[:20],
        "result": status,
    }
    return rows, record


# --- the run ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.auth", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: 1 run of 3 s, few samples")
    p.add_argument("--runs", type=int, help="measured runs per load scenario (default 5; quick 1)")
    p.add_argument("--duration", type=float, help="seconds per run (default 5; quick 3)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per scenario (default 2; quick 1)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument(
        "--login-connections", type=int, default=8, help="wrk connections for logins (default 8)"
    )
    p.add_argument(
        "--flood-connections",
        type=int,
        default=4,
        help="wrk connections of the login flood (default 4)",
    )
    p.add_argument("--logouts", type=int, help="revocation samples (default 100; quick 20)")
    p.add_argument("--timing-attempts", type=int, help="logins per cause (default 200; quick 30)")
    p.add_argument("--server-cpu", type=int, help="CPU for the servers (default: first allowed)")
    p.add_argument("--wrk-cpu", type=int, help="CPU for wrk (default: second allowed)")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG_ADMIN_URL),
        help="admin URL of the PostgreSQL server (env BENCH_POSTGRES_URL)",
    )
    p.add_argument("--postgres-db", default="truapi_bench_auth", help="database made and dropped")
    p.add_argument("--no-postgres", action="store_true", help="SQLite only")
    p.add_argument(
        "--redis-url", default=REDIS_URL, help=f"Redis for fan-out (default {REDIS_URL})"
    )
    args = p.parse_args(argv)
    quick = args.quick
    args.runs = args.runs or (1 if quick else 5)
    args.duration = args.duration or (3.0 if quick else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 2.0)
    args.logouts = args.logouts or (20 if quick else 100)
    args.timing_attempts = args.timing_attempts or (30 if quick else 200)
    return args


def redis_reachable(url: str) -> bool:
    from redis import Redis

    client = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def lua_scripts(work: Path) -> dict[str | None, Path]:
    """Each ``auth_lua`` script with the summary reporter ``bench.wrk`` reads appended."""
    fixed, _ = write_scripts(work)
    report = fixed.read_text()
    scripts: dict[str | None, Path] = {None: fixed}
    for source in sorted(LUA_DIR.glob("*.lua")):
        target = work / f"auth_{source.name}"
        target.write_text(source.read_text() + "\n" + report)
        scripts[source.stem] = target
    return scripts


@contextmanager
def serving(specs: list[ServerSpec], cpu: int, work: Path) -> Iterator[dict[str, Server]]:
    """Start the servers one after another (the first makes the administrator), stop them all
    at the end of the block."""
    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for spec in specs:
            log(f"starting {spec.name} on CPU {cpu}")
            servers[spec.name] = stack.enter_context(running(spec, cpu=cpu, log_dir=work))
        yield servers


def spec(name: str, env: dict[str, str]) -> ServerSpec:
    return ServerSpec(name, APP, factory=True, env=env, ready_path="/health/live")


def load_phase(
    args: argparse.Namespace,
    work: Path,
    databases: dict[str, str],
    server_cpu: int,
    wrk_cpu: int,
) -> list[Outcome]:
    specs = [
        spec("sqlite_cache", base_env(databases["sqlite_cache"], OWASP)),
        spec(
            "sqlite_nocache",
            base_env(databases["sqlite_nocache"], OWASP, APP_TOKEN_CACHE_SIZE="0"),
        ),
        spec("refresh_sqlite", base_env(databases["refresh_sqlite"], CHEAP)),
    ]
    if "postgres" in databases:
        specs.append(spec("refresh_postgres", base_env(databases["postgres"], CHEAP)))
    with serving(specs, server_cpu, work) as servers:
        a = Client(servers["sqlite_cache"].base_url)
        admin_a = a.login(ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"]
        a.expect(200, "GET", "/me", token=admin_a)
        create_user(a, admin_a, FLOOD_USERNAME, FLOOD_PASSWORD)
        a.login(FLOOD_USERNAME, FLOOD_PASSWORD)
        answer = json.loads(
            a.expect(200, "POST", "/auth/introspect", form={"token": admin_a}, token=admin_a)
        )
        if answer.get("active") is not True:
            raise BenchError(f"introspection of a live token answered {answer!r}")
        a.close()
        b = Client(servers["sqlite_nocache"].base_url)
        admin_b = b.login(ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"]
        b.expect(200, "GET", "/me", token=admin_b)
        b.close()

        # One token per connection is enough (see refresh_chain.lua); a few more to spare.
        per_set = args.connections + 8
        sets = args.runs + 1
        refresh_files: dict[str, tuple[Path, ...]] = {}
        for name in ("refresh_sqlite", "refresh_postgres"):
            if name in servers:
                log(f"logging in {sets * per_set} times on {name} for refresh tokens")
                refresh_files[name] = tuple(
                    refresh_token_files(servers[name].base_url, work, sets=sets, per_set=per_set)
                )

        c = args.connections
        me_a = Load("sqlite_cache", "/me", "bearer", (admin_a,), c)
        scenarios = [
            Scenario(
                "health",
                "/health/live (cache-on server)",
                "wrk",
                Load("sqlite_cache", "/health/live", connections=c),
            ),
            Scenario(
                "me_cache", "GET /me, token cache on", "wrk", me_a, target=Target(0.5, "health")
            ),
            Scenario(
                "health_nocache",
                "/health/live (cache-off server)",
                "wrk",
                Load("sqlite_nocache", "/health/live", connections=c),
            ),
            Scenario(
                "me_nocache",
                "GET /me, token cache off",
                "wrk",
                Load("sqlite_nocache", "/me", "bearer", (admin_b,), c),
                target=Target(0.5, "health_nocache"),
            ),
            Scenario(
                "introspect",
                "POST /auth/introspect",
                "wrk",
                Load("sqlite_cache", "/auth/introspect", "introspect", (admin_a, admin_a), c),
                target=Target(0.5, "health"),
            ),
            Scenario("argon2_raw", "argon2id verify, raw, 1 core", "argon2"),
            Scenario(
                "login",
                "POST /auth/login",
                "wrk",
                Load(
                    "sqlite_cache",
                    "/auth/login",
                    "login",
                    (FLOOD_USERNAME, FLOOD_PASSWORD),
                    args.login_connections,
                ),
                target=Target(0.8, "argon2_raw"),
            ),
            Scenario(
                "me_during_flood",
                "GET /me during a login flood",
                "flood",
                me_a,
                background=Load(
                    "sqlite_cache",
                    "/auth/login",
                    "login",
                    (FLOOD_USERNAME, FLOOD_PASSWORD),
                    args.flood_connections,
                ),
                target=Target(0.5, "me_cache"),
            ),
        ]
        labels = {"refresh_sqlite": "SQLite", "refresh_postgres": "PostgreSQL"}
        for name, files in refresh_files.items():
            scenarios.append(
                Scenario(
                    name,
                    f"POST /auth/refresh, {labels[name]}",
                    "wrk",
                    Load(name, "/auth/refresh", "refresh_chain", (), c, token_files=files),
                    target=Target(REFRESH_TARGET_RPS) if name == "refresh_postgres" else None,
                )
            )
        runner = Runner(servers, lua_scripts(work), server_cpu=server_cpu, wrk_cpu=wrk_cpu)
        return measure(runner, scenarios, runs=args.runs, seconds=args.duration, warmup=args.warmup)


def timing_phase(
    args: argparse.Namespace, work: Path, database_url: str, server_cpu: int
) -> LoginTiming:
    env = base_env(
        database_url,
        OWASP,
        APP_LOGIN_THROTTLE_FREE_FAILURES=str(setting_max("login_throttle_free_failures", 10**6)),
        APP_LOGIN_THROTTLE_CLIENT_FREE_FAILURES=str(
            setting_max("login_throttle_client_free_failures", 10**6)
        ),
    )
    with serving([spec("login_timing", env)], server_cpu, work) as servers:
        base = servers["login_timing"].base_url
        client = Client(base)
        admin = client.login(ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"]
        create_user(client, admin, TIMING_USERNAME, FLOOD_PASSWORD)
        client.close()
        log(f"login timing: {args.timing_attempts} unknown-user and wrong-password logins")
        return measure_login_timing(base, attempts=args.timing_attempts)


def propagation_phase(
    args: argparse.Namespace,
    work: Path,
    database_url: str,
    server_cpu: int,
    redis_url: str | None,
) -> Propagation:
    extra = {"APP_REDIS_URL": redis_url} if redis_url else {}
    tag = "redis" if redis_url else "poll"
    specs = [
        spec(f"revocation_{tag}_a", base_env(database_url, CHEAP, **extra)),
        spec(f"revocation_{tag}_b", base_env(database_url, CHEAP, **extra)),
    ]
    with serving(specs, server_cpu, work) as servers:
        a, b = servers[specs[0].name], servers[specs[1].name]
        log(f"revocation propagation ({tag}): {args.logouts} logouts on A, polling B")
        return measure_propagation(
            a.base_url, b.base_url, logouts=args.logouts, progress=lambda m: log(f"  {m}")
        )


def keep_logs(work: Path, started: datetime) -> None:
    """Copy the servers' logs out of the temporary directory, to look into errors."""
    target = RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}-auth-logs"
    target.mkdir(parents=True, exist_ok=True)
    for path in work.glob("*.log"):
        shutil.copy(path, target / path.name)
    log(f"server logs kept in {target.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench.auth: `{tool}` is not installed (apt-get install wrk util-linux)")
    server_cpu, wrk_cpu = pick_cpus(args)
    started = datetime.now(UTC)
    env_info = environment()
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        log(f"warning: load average {load_before[0]:.2f} before start; other work skews figures")
    propagation_limit = float(Settings.model_fields["revocation_propagation_s"].default)
    pg_created = False
    propagation: dict[str, tuple[Propagation | None, str | None]] = {}
    with tempfile.TemporaryDirectory(prefix="truapi-bench-auth-") as tmp:
        work = Path(tmp)
        try:
            databases = {
                name: f"sqlite+aiosqlite:///{work / name}.db"
                for name in (
                    "sqlite_cache",
                    "sqlite_nocache",
                    "refresh_sqlite",
                    "login_timing",
                    "revocation",
                )
            }
            if not args.no_postgres:
                log(f"creating PostgreSQL database {args.postgres_db}")
                databases["postgres"] = asyncio.run(
                    create_postgres_database(args.postgres_url, args.postgres_db)
                )
                pg_created = True
            for name, url in databases.items():
                if name == "revocation" and "postgres" in databases:
                    continue
                asyncio.run(seed_database(url, 0))  # migrations and the default tenant only
            outcomes = load_phase(args, work, databases, server_cpu, wrk_cpu)
            timing = timing_phase(args, work, databases["login_timing"], server_cpu)
            shared = databases.get("postgres", databases["revocation"])
            propagation["poll"] = (
                propagation_phase(args, work, shared, server_cpu, None),
                None,
            )
            if redis_reachable(args.redis_url):
                propagation["redis"] = (
                    propagation_phase(args, work, shared, server_cpu, args.redis_url),
                    None,
                )
            else:
                log(f"Redis at {args.redis_url} is not reachable: skipping the Redis variant")
                propagation["redis"] = (None, f"Redis at {args.redis_url} not reachable")
        except (ServerError, BenchError) as exc:
            log(f"error: {exc}")
            keep_logs(work, started)
            return 2
        finally:
            if pg_created:
                log(f"dropping PostgreSQL database {args.postgres_db}")
                asyncio.run(drop_postgres_database(args.postgres_url, args.postgres_db))

        if (
            any(o.errors for o in outcomes)
            or timing.errors
            or any(r is not None and r.errors for r, _ in propagation.values())
        ):
            keep_logs(work, started)

    rows, records = evaluate_load(outcomes)
    timing_rows, timing_record = evaluate_timing(timing)
    rows += timing_rows
    backend = "SQLite" if args.no_postgres else "PostgreSQL"
    propagation_records = {}
    for tag, title in (("poll", "no Redis (polling)"), ("redis", "Redis fan-out")):
        result, skipped = propagation[tag]
        p_rows, p_record = evaluate_propagation(
            f"revocation A->B, {backend}, {title}", result, propagation_limit, skipped
        )
        rows += p_rows
        propagation_records[tag] = p_record

    mode = "quick" if args.quick else "full"
    print()
    print(
        f"TruAPI authentication benchmark ({mode}): {args.runs} run(s) x {args.duration:g} s "
        f"after {args.warmup:g} s warm-up, wrk -t1 -c{args.connections} (logins "
        f"-c{args.login_connections}, flood -c{args.flood_connections}), server on CPU "
        f"{server_cpu}, wrk on CPU {wrk_cpu}; medians"
    )
    print(render_table(rows))
    noisy = [o.scenario.label for o in outcomes if len(o.runs) > 1 and o.spread > NOISY_SPREAD]
    if noisy:
        print(
            f"\nnoisy (runs differ by more than {NOISY_SPREAD:.0%} of the median; "
            f"the machine was busy): {', '.join(noisy)}"
        )
    results = [r.result for r in rows]
    failed, errored = results.count("FAIL"), results.count("ERROR")
    summary = {
        "started_at": started.isoformat(),
        "mode": mode,
        "options": {
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "login_connections": args.login_connections,
            "flood_connections": args.flood_connections,
            "logouts": args.logouts,
            "timing_attempts": args.timing_attempts,
            "server_cpu": server_cpu,
            "wrk_cpu": wrk_cpu,
            "postgres": not args.no_postgres,
            "argon2_measured": OWASP,
            "argon2_session_setup": CHEAP,
            "revocation_propagation_s": propagation_limit,
        },
        "environment": env_info,
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "scenarios": records,
        "login_timing": timing_record,
        "revocation_propagation": propagation_records,
        "passed": not failed and not errored,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}-auth.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nresults: {out.relative_to(ROOT)}")
    if errored:
        print(f"{errored} row(s) had request errors: their figures are not valid")
        return 2
    if failed and not args.quick:
        print(f"{failed} target(s) missed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
