"""Authorization benchmark: in-process decisions, HTTP checks on SQLite and PostgreSQL, and
PostgreSQL at scale, each judged against its target (``make bench-authz``; see
``bench/AUTHZ.md``)."""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench import authz_http, authz_micro, authz_scale
from bench.authz_report import (
    ERROR,
    NONE,
    Row,
    Section,
    load_average,
    relative,
    render_table,
    write_results,
)
from bench.run import environment, log

PARTS: dict[str, tuple[str, Callable[[argparse.Namespace, Callable[[str], None]], Section]]] = {
    "micro": ("in-process", authz_micro.run),
    "http": ("HTTP", authz_http.run),
    "scale": ("PostgreSQL scale", authz_scale.run),
}
NOISY_SPREAD = 0.25


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.authz", description=__doc__)
    authz_http.add_common(p)
    p.add_argument(
        "--only",
        default=",".join(PARTS),
        help="comma-separated parts to run: micro, http, scale (default: all three)",
    )
    authz_micro.add_arguments(p)
    authz_http.add_arguments(p)
    authz_scale.add_arguments(p)
    args = p.parse_args(argv)
    args.parts = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown or not args.parts:
        p.error(f"--only takes {', '.join(PARTS)}; got {args.only!r}")
    return args


def run_part(name: str, args: argparse.Namespace) -> Section:
    """One part; a part that fails is reported as an error and the others still run."""
    label, run = PARTS[name]
    log(f"--- {label}")
    try:
        return run(args, log)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        message = f"{type(exc).__name__}: {exc}"
        return Section(
            name,
            rows=[Row(label, "the part did not finish", NONE, runs=message[:80], result=ERROR)],
            record={"error": message},
            error=message,
        )


def noisy(sections: list[Section]) -> list[str]:
    """Measurements whose rounds or runs disagreed by more than NOISY_SPREAD of the median."""
    found: list[str] = []
    for section in sections:
        found += section.record.get("noisy", [])
        for record in section.record.get("scenarios", []):
            if record.get("spread", 0) > NOISY_SPREAD and len(record.get("runs", [])) > 1:
                found.append(record["label"])
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = datetime.now(UTC)
    env_info = environment()
    before = load_average()
    if before[0] > 0.5:
        log(f"warning: load average {before[0]:.2f} before start; other work skews figures")
    t0 = time.monotonic()
    sections = [run_part(name, args) for name in args.parts]
    rows = [row for section in sections for row in section.rows]
    mode = "quick" if args.quick else "full"
    print()
    print(
        f"TruAPI authorization benchmark ({mode}, {', '.join(args.parts)}): "
        f"in-process latencies per call (p50, p95), HTTP rates as medians of the runs, "
        f"PostgreSQL latencies per call (p50, p95)"
    )
    print(render_table(rows))
    shaky = noisy(sections)
    if shaky:
        print(
            f"\nnoisy (rounds differ by more than {NOISY_SPREAD:.0%} of the median; "
            f"the machine was busy): {', '.join(shaky)}"
        )
    failed = sum(s.failed for s in sections)
    errored = sum(s.errored for s in sections)
    summary: dict[str, Any] = {
        "started_at": started.isoformat(),
        "mode": mode,
        "seconds": round(time.monotonic() - t0, 1),
        "options": {k: v for k, v in vars(args).items() if k != "parts"},
        "environment": env_info,
        "load_average": {"before": before, "after": load_average()},
        **{s.name: s.record for s in sections},
        "noisy": shaky,
        "passed": not failed and not errored,
    }
    out = write_results(started, "authz" if not args.quick else "authz-quick", summary)
    print(f"\nresults: {relative(out)}")
    if errored:
        print(f"{errored} part(s) or row(s) had errors: their figures are not valid")
        return 2
    if failed:
        print(f"{failed} target(s) missed" + (" (not failed: quick run)" if args.quick else ""))
        return 0 if args.quick else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
