"""The results table printed at the end of a run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    scenario: str
    median_rps: float
    runs: list[float]
    p99_ms: float
    cpu_pct: float
    ratio: str
    target: str
    result: str


_HEADERS = ("scenario", "median rps", "runs (rps)", "p99 ms", "cpu %", "ratio", "target", "result")
_RIGHT = {1, 3, 4}


def render_table(rows: list[Row]) -> str:
    """A plain-text table; the numeric columns are right-aligned."""
    cells = [
        (
            r.scenario,
            f"{r.median_rps:,.0f}",
            " ".join(f"{v:,.0f}" for v in r.runs),
            f"{r.p99_ms:.1f}",
            f"{r.cpu_pct:.0f}",
            r.ratio,
            r.target,
            r.result,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [_HEADERS, *cells]) for i in range(len(_HEADERS))]

    def line(values: tuple[str, ...]) -> str:
        parts = [
            v.rjust(widths[i]) if i in _RIGHT else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(_HEADERS), rule, *(line(c) for c in cells)])
