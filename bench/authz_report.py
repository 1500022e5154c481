"""The authorization benchmark's table, verdicts and results file, shared by its three parts
(``bench.authz_micro``, ``bench.authz_http``, ``bench.authz_scale``)."""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.servers import ROOT

RESULTS_DIR = Path(__file__).resolve().parent / "results"

PASS, MISS, ERROR, SKIP, NONE = "PASS", "MISS", "ERROR", "SKIP", "-"


@dataclass(frozen=True)
class Row:
    """One line of the table; every cell is text already."""

    part: str
    measurement: str
    value: str  # p50 for latencies, median for rates
    p95: str = NONE
    runs: str = NONE  # each round's figure, or a sample count
    ratio: str = NONE
    target: str = NONE
    result: str = NONE


@dataclass
class Section:
    """What one part of the benchmark found: its rows and its JSON record."""

    name: str
    rows: list[Row] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the part could not run to the end

    @property
    def failed(self) -> int:
        return sum(r.result == MISS for r in self.rows)

    @property
    def errored(self) -> int:
        return sum(r.result == ERROR for r in self.rows) + (self.error is not None)


_HEADERS = ("part", "measurement", "p50 / median", "p95", "runs", "ratio", "target", "result")
_RIGHT = {2, 3}


def render_table(rows: Sequence[Row]) -> str:
    cells = [
        (r.part, r.measurement, r.value, r.p95, r.runs, r.ratio, r.target, r.result) for r in rows
    ]
    widths = [max(len(c[i]) for c in [_HEADERS, *cells]) for i in range(len(_HEADERS))]

    def line(values: tuple[str, ...]) -> str:
        parts = [
            v.rjust(widths[i]) if i in _RIGHT else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(_HEADERS), rule, *(line(c) for c in cells)])


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method: a value that was seen."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def verdict(passed: bool | None) -> str:
    return NONE if passed is None else PASS if passed else MISS


def us(value_ns: float) -> str:
    return f"{value_ns / 1000:,.2f} µs"


def ms(value_s: float) -> str:
    return f"{value_s * 1000:,.2f} ms"


def spread(values: Sequence[float]) -> float:
    """(largest - smallest) / median: how much the rounds disagree."""
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle else 0.0


def write_results(started: datetime, suffix: str, summary: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}-{suffix}.json"
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return out


def relative(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
