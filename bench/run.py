"""The benchmark run: seed, serve, load with wrk, compare medians, report (``make bench``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from bench.report import Row, render_table
from bench.seed import (
    BENCH_PASSWORD,
    BENCH_USERNAME,
    create_postgres_database,
    drop_postgres_database,
    seed_database,
)
from bench.servers import (
    ROOT,
    Server,
    ServerError,
    ServerSpec,
    cpu_seconds,
    running,
    wait_idle,
)
from bench.wrk import WrkResult, run_wrk, write_scripts

DEFAULT_PG_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
BASELINE = "fastapi_hello"
PAGE = 50


@dataclass(frozen=True)
class Target:
    """``throughput``: median >= bound * reference; ``cost``: reference / median <= bound.

    Without a bound the ratio is shown but nothing is checked.
    """

    reference: str
    bound: float | None
    kind: Literal["throughput", "cost"]


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    server: str
    path: str  # the path, or the prefix a random id is appended to when ids_file is set
    ids_file: Path | None = None
    target: Target | None = None


@dataclass
class Outcome:
    scenario: Scenario
    runs: list[WrkResult] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # server CPU use per run, % of one core

    @property
    def median_rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def median_p99_ms(self) -> float:
        return statistics.median(r.latency_ms["p99"] for r in self.runs)

    @property
    def spread(self) -> float:
        """(fastest - slowest run) / median: how much the machine moved under this scenario."""
        rps = [r.rps for r in self.runs]
        return (max(rps) - min(rps)) / self.median_rps if self.median_rps else 0.0

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    @property
    def errors(self) -> int:
        return sum(r.failed for r in self.runs)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smoke run: 1 run of 3 s, 10k users")
    p.add_argument("--users", type=int, help="users to seed (default 100000; quick 10000)")
    p.add_argument("--runs", type=int, help="measured runs per scenario (default 5; quick 1)")
    p.add_argument("--duration", type=float, help="seconds per run (default 6; quick 3)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per scenario (default 3; quick 1)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--server-cpu", type=int, help="CPU for the servers (default: first allowed)")
    p.add_argument("--wrk-cpu", type=int, help="CPU for wrk (default: second allowed)")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG_ADMIN_URL),
        help="admin URL of the PostgreSQL server (env BENCH_POSTGRES_URL)",
    )
    p.add_argument("--postgres-db", default="truapi_bench", help="database created and dropped")
    p.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL scenarios")
    args = p.parse_args(argv)
    quick = args.quick
    args.users = args.users or (10_000 if quick else 100_000)
    args.runs = args.runs or (1 if quick else 5)
    args.duration = args.duration or (3.0 if quick else 6.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if quick else 3.0)
    if args.users <= 2 * PAGE:
        p.error(f"--users must be more than {2 * PAGE}")
    return args


def pick_cpus(args: argparse.Namespace) -> tuple[int, int]:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2 and (args.server_cpu is None or args.wrk_cpu is None):
        sys.exit("bench: needs two CPUs (one for the server, one for wrk)")
    server = args.server_cpu if args.server_cpu is not None else allowed[0]
    load = args.wrk_cpu if args.wrk_cpu is not None else allowed[1]
    if server == load:
        sys.exit("bench: --server-cpu and --wrk-cpu must differ")
    return server, load


#: Bearer tokens by TruAPI server base URL (the users API needs one).
TOKENS: dict[str, str] = {}


def log_in(base: str) -> str:
    """Log in as the seeded benchmark account and remember its access token for ``base``."""
    request = urllib.request.Request(
        f"{base}/auth/login",
        data=json.dumps({"username": BENCH_USERNAME, "password": BENCH_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        token: str = json.load(response)["access_token"]
    TOKENS[base] = token
    return token


def auth_headers(base: str) -> dict[str, str]:
    token = TOKENS.get(base)
    return {"Authorization": f"Bearer {token}"} if token else {}


def get_json(url: str) -> Any:
    base = url.split("/", 3)
    request = urllib.request.Request(url, headers=auth_headers("/".join(base[:3])))
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def users_url(base: str, limit: int, cursor: str | None) -> str:
    query = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
    return f"{base}/users?{urllib.parse.urlencode(query)}"


def page_cursors(base: str, expected_users: int) -> tuple[str, str]:
    """Cursors of a middle and of the last ``limit=50`` page, found by walking the listing.

    Walks in pages of 200 (the maximum) to the last one, keeping the cursor found halfway,
    then in pages of 50 from the cursor that led there; the count of users seen checks that
    the walk covered the whole table.
    """
    cursor: str | None = None
    middle: str | None = None
    seen = 0
    while True:
        page = get_json(users_url(base, 200, cursor))
        if page["next_cursor"] is None:
            break
        seen += len(page["items"])
        cursor = page["next_cursor"]
        if middle is None and seen >= expected_users // 2:
            middle = cursor
    while True:
        page = get_json(users_url(base, PAGE, cursor))
        seen += len(page["items"])
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    if cursor is None or middle is None or seen != expected_users or len(page["items"]) != PAGE:
        raise RuntimeError(f"walked {seen} users, expected {expected_users} in full pages")
    return middle, cursor


def check_user(base: str, user_id: str) -> None:
    body = get_json(f"{base}/users/{user_id}")
    if body.get("id") != user_id:
        raise RuntimeError(f"GET /users/{user_id} answered {body!r}")


def truapi_scenarios(
    backend: str, label: str, ids_file: Path, middle: str, last: str
) -> list[Scenario]:
    server = f"truapi_{backend}"
    first = f"{backend}_users_first_page"
    return [
        Scenario(
            f"{backend}_users_get",
            f"{label} GET /users/{{id}}",
            server,
            "/users/",
            ids_file=ids_file,
            target=Target(BASELINE, 0.35, "throughput"),
        ),
        Scenario(first, f"{label} GET /users?limit=50 first", server, users_url("", PAGE, None)),
        # Not a target: shows whether a deep page costs more anywhere, not only at the end.
        Scenario(
            f"{backend}_users_middle_page",
            f"{label} GET /users?limit=50 middle",
            server,
            users_url("", PAGE, middle),
            target=Target(first, None, "cost"),
        ),
        Scenario(
            f"{backend}_users_last_page",
            f"{label} GET /users?limit=50 last",
            server,
            users_url("", PAGE, last),
            target=Target(first, 1.5, "cost"),
        ),
    ]


def measure(
    scenarios: list[Scenario],
    servers: dict[str, Server],
    args: argparse.Namespace,
    scripts: tuple[Path, Path],
    cpu: int,
) -> list[Outcome]:
    """Warm every scenario up, then run them round-robin so slow drift hits all alike."""
    fixed, random_ids = scripts
    pids = [server.pid for server in servers.values()]

    def settle() -> None:
        if not wait_idle(pids):
            log("warning: the servers did not go idle before the next run")

    def once(s: Scenario, seconds: float, seed: int) -> WrkResult:
        base = servers[s.server].base_url
        if s.ids_file is not None:
            script, script_args, url = random_ids, [str(s.ids_file), s.path, str(seed)], base
        else:
            script, script_args, url = fixed, [], base + s.path
        return run_wrk(
            url,
            script=script,
            script_args=script_args,
            seconds=seconds,
            connections=args.connections,
            cpu=cpu,
            headers=auth_headers(base),
        )

    outcomes = [Outcome(s) for s in scenarios]
    if args.warmup > 0:
        for s in scenarios:
            log(f"warm-up  {s.label}")
            settle()
            once(s, args.warmup, 0)
    for round_no in range(1, args.runs + 1):
        for outcome in outcomes:
            pid = servers[outcome.scenario.server].pid
            settle()
            before = cpu_seconds(pid)
            result = once(outcome.scenario, args.duration, round_no)
            outcome.runs.append(result)
            outcome.cpu.append(100 * (cpu_seconds(pid) - before) / result.seconds)
            note = f"  ({result.failed} errors)" if result.failed else ""
            label = outcome.scenario.label
            log(f"run {round_no}/{args.runs}  {label}: {result.rps:,.0f} rps{note}")
    return outcomes


NOISY_SPREAD = 0.25


def evaluate(outcomes: list[Outcome]) -> tuple[list[Row], list[dict[str, Any]]]:
    """Ratios from medians and pass/fail against each target; table rows and JSON records."""
    by_key = {o.scenario.key: o for o in outcomes}
    baseline = by_key[BASELINE].median_rps
    rows: list[Row] = []
    records: list[dict[str, Any]] = []
    for o in outcomes:
        s, median = o.scenario, o.median_rps
        target = s.target
        passed: bool | None = None
        if target is None:
            ratio = median / baseline
            ratio_text = "baseline" if s.key == BASELINE else f"{ratio:.2f}x fastapi"
            target_text = "-"
        elif target.kind == "throughput":
            ratio = median / by_key[target.reference].median_rps
            ratio_text, target_text = f"{ratio:.2f}x fastapi", "-"
            if target.bound is not None:
                passed = ratio >= target.bound
                target_text = f">= {target.bound:.2f}x"
        else:
            ratio = by_key[target.reference].median_rps / median
            ratio_text, target_text = f"{ratio:.2f}x first cost", "-"
            if target.bound is not None:
                passed = ratio <= target.bound
                target_text = f"<= {target.bound:.2f}x"
        result = "ERROR" if o.errors else ("-" if passed is None else "PASS" if passed else "FAIL")
        rows.append(
            Row(
                scenario=s.label,
                median_rps=median,
                runs=[r.rps for r in o.runs],
                p99_ms=o.median_p99_ms,
                cpu_pct=o.median_cpu,
                ratio=ratio_text,
                target=target_text,
                result=result,
            )
        )
        records.append(
            {
                "key": s.key,
                "label": s.label,
                "path": s.path,
                "random_ids": s.ids_file is not None,
                "median_rps": round(median, 1),
                "median_p99_ms": round(o.median_p99_ms, 3),
                "median_server_cpu_pct": round(o.median_cpu, 1),
                "spread": round(o.spread, 3),
                "ratio": round(ratio, 4),
                "ratio_meaning": (
                    f"median / {BASELINE} median"
                    if target is None or target.kind == "throughput"
                    else f"{target.reference} median / median (cost relative to the first page)"
                ),
                "target": None if target is None else vars(target),
                "result": result,
                "runs": [
                    {
                        "rps": round(r.rps, 1),
                        "requests": r.requests,
                        "seconds": round(r.seconds, 3),
                        "latency_ms": r.latency_ms,
                        "errors": r.errors,
                        "server_cpu_pct": round(cpu, 1),
                    }
                    for r, cpu in zip(o.runs, o.cpu, strict=True)
                ],
            }
        )
    return rows, records


def environment() -> dict[str, Any]:
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    packages = ["uvicorn", "uvloop", "httptools", "fastapi", "starlette", "sqlalchemy"]
    packages += ["aiosqlite", "asyncpg", "structlog", "prometheus-client"]
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model,
        "cpus": os.cpu_count(),
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "packages": {name: metadata.version(name) for name in packages},
        "wrk": wrk_version(),
    }


def wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).strip().split("\n", 1)[0]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: `{tool}` is not installed (apt-get install wrk util-linux)")
    server_cpu, wrk_cpu = pick_cpus(args)
    started = datetime.now(UTC)
    env_info = environment()  # before the run: the code measured is the code at the start
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        log(f"warning: load average {load_before[0]:.2f} before start; other work skews figures")
    pg_created = False
    with tempfile.TemporaryDirectory(prefix="truapi-bench-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        try:
            seeded: dict[str, tuple[str, Path, float]] = {}
            backends = [("sqlite", f"sqlite+aiosqlite:///{work / 'bench.db'}")]
            if not args.no_postgres:
                log(f"creating PostgreSQL database {args.postgres_db}")
                pg_url = asyncio.run(create_postgres_database(args.postgres_url, args.postgres_db))
                pg_created = True
                backends.append(("postgres", pg_url))
            for backend, url in backends:
                log(f"seeding {args.users:,} users into {backend}")
                t0 = time.perf_counter()
                ids = asyncio.run(seed_database(url, args.users))
                ids_file = work / f"{backend}_ids.txt"
                ids_file.write_text("\n".join(ids) + "\n")
                seeded[backend] = (url, ids_file, time.perf_counter() - t0)

            specs = [
                ServerSpec("bare_asgi", "bench.apps:bare_asgi"),
                ServerSpec("fastapi_hello", "bench.apps:fastapi_hello"),
            ]
            for backend, (url, _, _) in seeded.items():
                specs.append(
                    ServerSpec(
                        f"truapi_{backend}",
                        "truapi.api.asgi:serve_app",
                        factory=True,
                        # Tokens taken at the start must outlive the run.
                        env={"APP_DATABASE_URL": url, "APP_ACCESS_TOKEN_TTL": "7200"},
                        ready_path="/health/live",
                    )
                )
            servers: dict[str, Server] = {}
            for spec in specs:
                log(f"starting {spec.name} on CPU {server_cpu}")
                servers[spec.name] = stack.enter_context(
                    running(spec, cpu=server_cpu, log_dir=work)
                )

            scenarios = [
                Scenario("bare_asgi", "bare ASGI hello", "bare_asgi", "/"),
                Scenario(BASELINE, "FastAPI hello", BASELINE, "/"),
                Scenario(
                    "truapi_health_live",
                    "TruAPI /health/live",
                    "truapi_sqlite",
                    "/health/live",
                    target=Target(BASELINE, 0.8, "throughput"),
                ),
            ]
            labels = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
            for backend, (_, ids_file, _) in seeded.items():
                base = servers[f"truapi_{backend}"].base_url
                log_in(base)
                check_user(base, ids_file.read_text().split("\n", 1)[0])
                log(f"walking the {backend} listing for the middle and last pages' cursors")
                middle, last = page_cursors(base, args.users)
                scenarios += truapi_scenarios(backend, labels[backend], ids_file, middle, last)

            outcomes = measure(scenarios, servers, args, write_scripts(work), wrk_cpu)
        except ServerError as exc:
            log(str(exc))
            return 2
        finally:
            stack.close()
            if pg_created:
                log(f"dropping PostgreSQL database {args.postgres_db}")
                asyncio.run(drop_postgres_database(args.postgres_url, args.postgres_db))

    rows, records = evaluate(outcomes)
    mode = "quick" if args.quick else "full"
    print()
    print(
        f"TruAPI benchmark ({mode}): {args.users:,} users, {args.runs} run(s) x "
        f"{args.duration:g} s after {args.warmup:g} s warm-up, wrk -t1 -c{args.connections}, "
        f"server on CPU {server_cpu}, wrk on CPU {wrk_cpu}; median requests/s"
    )
    print(render_table(rows))
    noisy = [o.scenario.label for o in outcomes if len(o.runs) > 1 and o.spread > NOISY_SPREAD]
    if noisy:
        print(
            f"\nnoisy (runs differ by more than {NOISY_SPREAD:.0%} of the median; "
            f"the machine was busy): {', '.join(noisy)}"
        )
    failed = [r for r in rows if r.result == "FAIL"]
    errored = [r for r in rows if r.result == "ERROR"]
    summary = {
        "started_at": started.isoformat(),
        "mode": mode,
        "options": {
            "users": args.users,
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "server_cpu": server_cpu,
            "wrk_cpu": wrk_cpu,
            "postgres": not args.no_postgres,
        },
        "seed_seconds": {k: round(v[2], 2) for k, v in seeded.items()},
        "environment": env_info,
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "scenarios": records,
        "passed": not failed and not errored,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{mode}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nresults: {out.relative_to(ROOT)}")
    if errored:
        print(f"{len(errored)} scenario(s) had request errors: their figures are not valid")
        return 2
    if failed and not args.quick:
        print(f"{len(failed)} target(s) missed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
