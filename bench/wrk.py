"""Run ``wrk`` pinned to one CPU and read its summary back as numbers."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

_MARK = "BENCH_RESULT "

# ``done`` runs once after the test and prints the summary as one JSON line.
_REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\\n',
    MARK, summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
""".replace("MARK", json.dumps(_MARK))

# Each request asks for a random id from the file given as the first script argument.
_RANDOM_IDS_LUA = """
local ids = {}
local prefix = "/"

init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  prefix = args[2]
  math.randomseed(tonumber(args[3]))
end

request = function()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and error counts."""

    requests: int
    seconds: float
    rps: float
    latency_ms: dict[str, float]
    errors: dict[str, int]

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


def write_scripts(directory: Path) -> tuple[Path, Path]:
    """Write the fixed-path and random-id Lua scripts; return their paths."""
    fixed = directory / "fixed.lua"
    fixed.write_text(_REPORT_LUA)
    random_ids = directory / "random_ids.lua"
    random_ids.write_text(_RANDOM_IDS_LUA + _REPORT_LUA)
    return fixed, random_ids


def run_wrk(
    url: str,
    *,
    script: Path,
    script_args: list[str],
    seconds: float,
    connections: int,
    cpu: int | None,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    """One ``wrk`` run with a single thread (one CPU) and ``connections`` keep-alive sockets."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "15s",
        "-s",
        str(script),
        url,
    ]
    for name, value in (headers or {}).items():
        command[1:1] = ["-H", f"{name}: {value}"]
    if script_args:
        command += ["--", *script_args]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=seconds + 60
    )
    for line in done.stdout.splitlines():
        if line.startswith(_MARK):
            raw = json.loads(line[len(_MARK) :])
            break
    else:
        raise RuntimeError(
            f"wrk gave no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    secs = raw["duration_us"] / 1e6
    return WrkResult(
        requests=raw["requests"],
        seconds=secs,
        rps=raw["requests"] / secs if secs else 0.0,
        latency_ms={k: v / 1000 for k, v in raw["latency_us"].items()},
        errors=dict(raw["errors"]),
    )
