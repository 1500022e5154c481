"""Authorization checks over HTTP against ``/health/live`` of the same server
(``python -m bench.authz_http``).

One TruAPI server per backend (SQLite, PostgreSQL), started as ``bench.auth`` starts its
servers (``bench.serve``, pinned to the server CPU, the bootstrap administrator configured).
The administrator seeds a policy through the API: ``--http-group-depth`` nested groups with a user,
``checker``, in the innermost; as many other groups; a resource tree ``--http-depth`` levels
deep (``--http-branching`` children per folder) whose folders carry ACLs of ``--http-entries``
entries, the top folders granting ``read`` to the outermost group. ``checker`` then checks
itself, wrk posting bodies from a file in turn (``authz_lua/bodies.lua``): a read of a leaf
(allowed, through the whole chain) for 19 bodies in 20, a ``delete`` (denied, and so logged)
for the 20th. Batches hold 100 such checks.

Rows per backend: ``/health/live`` (reference), ``POST /authz/check`` (target >= 0.5x the
reference) and ``POST /authz/check-batch`` in checks/s (target >= 20x the single checks'
requests/s).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.auth import (
    CHEAP,
    Load,
    Outcome,
    Runner,
    Scenario,
    Target,
    base_env,
    evaluate_load,
    measure,
    serving,
    spec,
)
from bench.auth_scenarios import ADMIN_PASSWORD, ADMIN_USERNAME, BenchError, Client
from bench.authz_report import (
    MISS,
    Row,
    Section,
    load_average,
    relative,
    render_table,
    write_results,
)
from bench.run import DEFAULT_PG_ADMIN_URL, environment, pick_cpus
from bench.run import log as bench_log
from bench.seed import create_postgres_database, drop_postgres_database, seed_database
from bench.servers import ServerError
from bench.wrk import write_scripts

LUA_DIR = Path(__file__).resolve().parent / "authz_lua"
CHECKER_USERNAME = "checker"
CHECKER_PASSWORD = "Checker-pw-40417"  # a throwaway account in a throwaway database
BATCH = 100
DENY_EVERY = 20  # one check in 20 is denied (and logged)
CHECK_TARGET = 0.5  # x /health/live
BATCH_TARGET = 20.0  # checks/s, x single-check requests/s
LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


# --- the policy, through the API ------------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    token: str  # the checker's access token
    checks: list[dict[str, str]]  # one cycle of the checks made, in order
    groups: int
    resources: int
    acl_entries: int
    seconds: float


def _json(body: bytes) -> Any:
    return json.loads(body)


def seed_policy(base_url: str, *, groups: int, depth: int, branching: int, entries: int) -> Seeded:
    """Make the checker, the groups, the tree and its ACLs as an administrator would."""
    started = time.perf_counter()
    client = Client(base_url)
    try:
        admin = client.login(ADMIN_USERNAME, ADMIN_PASSWORD)["access_token"]

        def make_group(name: str) -> str:
            body = client.expect(201, "POST", "/groups", json_body={"name": name}, token=admin)
            group_id: str = _json(body)["id"]
            return group_id

        body = client.expect(
            201,
            "POST",
            "/users",
            json_body={
                "username": CHECKER_USERNAME,
                "email": f"{CHECKER_USERNAME}@example.com",
                "password": CHECKER_PASSWORD,
            },
            token=admin,
        )
        checker = _json(body)["id"]
        nested = [make_group(f"nested-{i}") for i in range(groups)]
        others = [make_group(f"other-{i}") for i in range(entries)]
        client.expect(204, "PUT", f"/groups/{nested[0]}/members/user/{checker}", token=admin)
        for inner, outer in itertools.pairwise(nested):
            client.expect(204, "PUT", f"/groups/{outer}/members/group/{inner}", token=admin)

        def acl(top: bool) -> dict[str, Any]:
            rows: list[dict[str, Any]] = [
                {
                    "effect": "deny" if i % 2 else "allow",
                    "principal": f"group:{others[i % len(others)]}",
                    "actions": ["read", "write", "list"],
                }
                for i in range(entries - 1 if top else entries)
            ]
            if top:
                rows.append(
                    {"effect": "allow", "principal": f"group:{nested[-1]}", "actions": ["read"]}
                )
            return {"inherit": True, "entries": rows}

        level: list[str | None] = [None]
        leaves: list[str] = []
        resources = acl_entries = 0
        for d in range(1, depth + 1):
            kind = "doc" if d == depth else "folder"
            following: list[str | None] = []
            for n, parent in enumerate(level):
                for k in range(branching):
                    rid = f"{kind}:l{d}-{n * branching + k}"
                    put = {} if parent is None else {"parent": parent}
                    client.expect(201, "PUT", f"/resources/{rid}", json_body=put, token=admin)
                    resources += 1
                    if kind == "folder":  # leaves inherit; folders hold the ACLs
                        wanted = acl(d == 1)
                        client.expect(200, "PUT", f"/acls/{rid}", json_body=wanted, token=admin)
                        acl_entries += len(wanted["entries"])
                    following.append(rid)
                    if d == depth:
                        leaves.append(rid)
            level = following
        checks = [
            {"action": "delete" if i % DENY_EVERY == DENY_EVERY - 1 else "read", "resource": leaf}
            for i, leaf in enumerate(leaves * max(1, -(-BATCH // len(leaves))))
        ]
        token: str = client.login(CHECKER_USERNAME, CHECKER_PASSWORD)["access_token"]
        # The checks answer as designed: reads allowed by the top folder, deletes denied.
        for check in checks[:DENY_EVERY]:
            answer = _json(client.expect(200, "POST", "/authz/check", json_body=check, token=token))
            allowed = check["action"] == "read"
            if answer["allowed"] is not allowed or (
                allowed and answer["decision"] != "inherited_allow"
            ):
                raise BenchError(f"check {check} answered {answer}")
        batch = _json(
            client.expect(
                200,
                "POST",
                "/authz/check-batch",
                json_body={"checks": checks[:BATCH]},
                token=token,
            )
        )
        if len(batch["results"]) != min(BATCH, len(checks)):
            raise BenchError(f"check-batch answered {len(batch['results'])} results")
    finally:
        client.close()
    return Seeded(
        token=token,
        checks=checks,
        groups=len(nested) + len(others),
        resources=resources,
        acl_entries=acl_entries,
        seconds=time.perf_counter() - started,
    )


def body_files(work: Path, backend: str, checks: list[dict[str, str]]) -> tuple[Path, Path]:
    """One single-check body per line, and one 100-check batch per line (each starting one
    check further along the cycle, so every batch holds the same share of denials)."""
    singles = work / f"{backend}-check.txt"
    singles.write_text("\n".join(json.dumps(c) for c in checks) + "\n")
    cycle = checks * 2
    starts = range(0, len(checks), max(1, len(checks) // 100))
    batches = work / f"{backend}-batch.txt"
    batches.write_text(
        "\n".join(json.dumps({"checks": cycle[s : s + BATCH]}) for s in starts) + "\n"
    )
    return singles, batches


def lua_scripts(work: Path) -> dict[str | None, Path]:
    """``authz_lua`` scripts with the summary reporter ``bench.wrk`` reads appended."""
    fixed, _ = write_scripts(work)
    report = fixed.read_text()
    scripts: dict[str | None, Path] = {None: fixed}
    for source in sorted(LUA_DIR.glob("*.lua")):
        target = work / f"authz_{source.name}"
        target.write_text(source.read_text() + "\n" + report)
        scripts[source.stem] = target
    return scripts


# --- the run ----------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("HTTP checks (bench.authz_http)")
    g.add_argument("--runs", type=int, help="wrk runs per scenario (default 5; quick 1)")
    g.add_argument("--duration", type=float, help="seconds per run (default 5; quick 3)")
    g.add_argument("--warmup", type=float, help="warm-up seconds per scenario (default 2; quick 1)")
    g.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    g.add_argument("--http-depth", type=int, default=6, help="resource levels (default 6)")
    g.add_argument("--http-branching", type=int, default=3, help="children per folder (default 3)")
    g.add_argument("--http-group-depth", type=int, default=4, help="nested groups (default 4)")
    g.add_argument("--http-entries", type=int, default=20, help="entries per ACL (default 20)")
    g.add_argument(
        "--http-postgres-db", default="truapi_bench_authz", help="database made and dropped"
    )


def add_common(p: argparse.ArgumentParser) -> None:
    """Options every part of ``bench.authz`` understands."""
    p.add_argument("--quick", action="store_true", help="smoke run: short runs, small sizes")
    p.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG_ADMIN_URL),
        help="admin URL of the PostgreSQL server (env BENCH_POSTGRES_URL)",
    )
    p.add_argument("--no-postgres", action="store_true", help="skip everything on PostgreSQL")
    p.add_argument("--server-cpu", type=int, help="CPU for the servers (default: first allowed)")
    p.add_argument("--wrk-cpu", type=int, help="CPU for wrk (default: second allowed)")


def _scenarios(backend: str, token: str, singles: Path, batches: Path, c: int) -> list[Scenario]:
    server, label = f"authz_{backend}", LABELS[backend]
    return [
        Scenario(
            f"health_{backend}",
            f"{label}: /health/live",
            "wrk",
            Load(server, "/health/live", connections=c),
        ),
        Scenario(
            f"check_{backend}",
            f"{label}: POST /authz/check",
            "wrk",
            Load(server, "/authz/check", "bodies", (token, str(singles), "1"), c),
            target=Target(CHECK_TARGET, f"health_{backend}"),
        ),
        Scenario(
            f"batch_{backend}",
            f"{label}: POST /authz/check-batch x{BATCH}",
            "wrk",
            Load(server, "/authz/check-batch", "bodies", (token, str(batches), "1"), c),
            target=Target(BATCH_TARGET, f"check_{backend}"),
        ),
    ]


def _per_check(outcome: Outcome) -> Outcome:
    """A batch scenario's rates counted in checks (each request holds ``BATCH``)."""
    runs = [dataclasses.replace(r, rate=r.rate * BATCH) for r in outcome.runs]
    return Outcome(outcome.scenario, runs)


def run(args: argparse.Namespace, log: Callable[[str], None] = bench_log) -> Section:
    runs = args.runs or (1 if args.quick else 5)
    duration = args.duration or (3.0 if args.quick else 5.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench.authz: `{tool}` is not installed (apt-get install wrk)")
    server_cpu, wrk_cpu = pick_cpus(args)
    section = Section("http")
    pg_created = False
    with tempfile.TemporaryDirectory(prefix="truapi-bench-authz-") as tmp:
        work = Path(tmp)
        try:
            databases = {"sqlite": f"sqlite+aiosqlite:///{work / 'authz.db'}"}
            if not args.no_postgres:
                log(f"creating PostgreSQL database {args.http_postgres_db}")
                databases["postgres"] = asyncio.run(
                    create_postgres_database(args.postgres_url, args.http_postgres_db)
                )
                pg_created = True
            for url in databases.values():
                asyncio.run(seed_database(url, 0))  # migrations and the default tenant only
            specs = [spec(f"authz_{b}", base_env(url, CHEAP)) for b, url in databases.items()]
            with serving(specs, server_cpu, work) as servers:
                scenarios: list[Scenario] = []
                seeded: dict[str, Seeded] = {}
                for backend in databases:
                    base = servers[f"authz_{backend}"].base_url
                    log(f"seeding the policy into {backend} through the API")
                    done = seed_policy(
                        base,
                        groups=args.http_group_depth,
                        depth=args.http_depth,
                        branching=args.http_branching,
                        entries=args.http_entries,
                    )
                    seeded[backend] = done
                    log(
                        f"  {done.resources:,} resources, {done.acl_entries:,} ACL entries, "
                        f"{done.groups} groups in {done.seconds:.1f} s"
                    )
                    singles, batches = body_files(work, backend, done.checks)
                    scenarios += _scenarios(backend, done.token, singles, batches, args.connections)
                runner = Runner(servers, lua_scripts(work), server_cpu=server_cpu, wrk_cpu=wrk_cpu)
                outcomes = measure(runner, scenarios, runs=runs, seconds=duration, warmup=warmup)
        except (ServerError, BenchError) as exc:
            log(f"error: {exc}")
            section.error = str(exc)
            keep = _keep_logs(work)
            section.record = {"error": str(exc), "server_logs": keep}
            return section
        finally:
            if pg_created:
                log(f"dropping PostgreSQL database {args.http_postgres_db}")
                asyncio.run(drop_postgres_database(args.postgres_url, args.http_postgres_db))
        outcomes = [_per_check(o) if o.scenario.key.startswith("batch_") else o for o in outcomes]
        auth_rows, records = evaluate_load(outcomes)
        if any(o.errors for o in outcomes):
            section.record["server_logs"] = _keep_logs(work)
    for o, r in zip(outcomes, auth_rows, strict=True):
        batch = o.scenario.key.startswith("batch_")
        section.rows.append(
            Row(
                part="HTTP",
                measurement=r.scenario + (" (checks/s)" if batch else ""),
                value=r.median,
                p95=f"p99 {r.p99_ms} ms",
                runs=f"{r.runs} (cpu {r.cpu_pct}%)",
                ratio=r.ratio,
                target=r.target,
                result={"FAIL": MISS}.get(r.result, r.result),
            )
        )
    section.record.update(
        {
            "runs": runs,
            "duration_s": duration,
            "warmup_s": warmup,
            "connections": args.connections,
            "server_cpu": server_cpu,
            "wrk_cpu": wrk_cpu,
            "batch_size": BATCH,
            "denied_share": 1 / DENY_EVERY,
            "policy": {
                b: {
                    "resources": s.resources,
                    "acl_entries": s.acl_entries,
                    "groups": s.groups,
                    "nested_groups": args.http_group_depth,
                    "depth": args.http_depth,
                    "branching": args.http_branching,
                    "entries_per_acl": args.http_entries,
                    "checks_per_cycle": len(s.checks),
                    "seed_seconds": round(s.seconds, 1),
                }
                for b, s in seeded.items()
            },
            "batch_rates": "median_per_s and runs of batch_* are checks/s (requests/s x 100)",
            "scenarios": records,
        }
    )
    return section


def _keep_logs(work: Path) -> str:
    """Copy the servers' logs out of the temporary directory, to look into errors."""
    from bench.authz_report import RESULTS_DIR

    target = RESULTS_DIR / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-authz-logs"
    target.mkdir(parents=True, exist_ok=True)
    for path in work.glob("*.log"):
        shutil.copy(path, target / path.name)
    return relative(target)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.authz_http", description=__doc__)
    add_common(p)
    add_arguments(p)
    args = p.parse_args(argv)
    started = datetime.now(UTC)
    env_info = environment()
    before = load_average()
    section = run(args)
    print(render_table(section.rows))
    summary = {
        "started_at": started.isoformat(),
        "mode": "quick" if args.quick else "full",
        "environment": env_info,
        "load_average": {"before": before, "after": load_average()},
        "http": section.record,
    }
    out = write_results(started, "authz-http", summary)
    print(f"\nresults: {relative(out)}")
    if section.errored:
        return 2
    return 1 if section.failed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
