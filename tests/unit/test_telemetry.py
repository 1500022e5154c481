"""Access lines batched on their way to stderr, and request metrics counted without locks."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
import structlog
from prometheus_client import generate_latest

from truapi import telemetry
from truapi.telemetry import AccessLog, Metrics, configure_logging, request_id_var


@pytest.fixture
def stderr_file(tmp_path: Path) -> Iterator[IO[str]]:
    """A stderr backed by a real file, as a server's is (test captures have no descriptor)."""
    with (tmp_path / "stderr.log").open("w+", encoding="utf-8") as stream:
        yield stream


@contextmanager
def stderr_to(stream: IO[str]) -> Iterator[None]:
    """``sys.stderr`` replaced inside the test itself: pytest's capture resets it per phase."""
    saved, sys.stderr = sys.stderr, stream
    try:
        yield
    finally:
        telemetry._stderr_batch.flush()
        sys.stderr = saved


def written(stream: IO[str]) -> list[str]:
    stream.seek(0)
    return stream.read().splitlines()


def log_request(access: AccessLog, request_id: str = "r1", status: int = 200) -> None:
    access(
        method="GET",
        route="/users/{user_id}",
        path="/users/1",
        status=status,
        duration_ms=1.5,
        tenant="t1",
        principal=None,
        request_id=request_id,
    )


async def test_access_lines_wait_for_the_flush_timer(stderr_file: IO[str]) -> None:
    access = AccessLog(json_lines=False)
    with stderr_to(stderr_file):
        log_request(access, "r1")
        log_request(access, "r2")
        assert written(stderr_file) == []
        # The flush timer was set before this sleep's, so it has fired when the sleep ends.
        await asyncio.sleep(telemetry._FLUSH_AFTER_S * 2)
        lines = written(stderr_file)
    assert len(lines) == 2
    assert lines[0].endswith(
        "[info     ] request method=GET route=/users/{user_id} path=/users/1 status=200 "
        "duration_ms=1.5 tenant=t1 principal=None request_id=r1"
    )
    assert "request_id=r2" in lines[1]


async def test_a_full_batch_is_written_at_once(stderr_file: IO[str]) -> None:
    access = AccessLog(json_lines=True)
    count = telemetry._FLUSH_AT_CHARS // 200 + 1
    with stderr_to(stderr_file):
        for i in range(count):
            log_request(access, f"r{i}")
        lines = written(stderr_file)
    assert lines, "a batch past the size threshold is written without waiting"
    assert [json.loads(line)["request_id"] for line in lines] == [
        f"r{i}" for i in range(len(lines))
    ]


async def test_other_log_lines_keep_their_order_after_access_lines(
    stderr_file: IO[str],
) -> None:
    configure_logging(json_logs=True)
    token = request_id_var.set("req-9")
    try:
        with stderr_to(stderr_file):
            log_request(AccessLog(json_lines=True), "before")
            structlog.get_logger("t").warning("something.happened")
    finally:
        request_id_var.reset(token)
        structlog.reset_defaults()
    first, second = (json.loads(line) for line in written(stderr_file))
    assert (first["event"], first["request_id"]) == ("request", "before")
    assert (second["event"], second["request_id"]) == ("something.happened", "req-9")


def test_lines_written_outside_an_event_loop_are_not_held(stderr_file: IO[str]) -> None:
    with stderr_to(stderr_file):
        log_request(AccessLog(json_lines=False))
        assert len(written(stderr_file)) == 1


def test_the_shutdown_flush_writes_what_is_held(stderr_file: IO[str]) -> None:
    async def serve() -> None:
        log_request(AccessLog(json_lines=False))

    with stderr_to(stderr_file):
        asyncio.run(serve())  # its loop closes before the flush timer fires
        assert written(stderr_file) == []
        AccessLog.flush()
        assert len(written(stderr_file)) == 1


def test_json_timestamps_are_written_as_isoformat_writes_them(
    stderr_file: IO[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    access = AccessLog(json_lines=True)
    with stderr_to(stderr_file):
        for now in (1_800_000_000.0, 1_800_000_000.25):
            monkeypatch.setattr(time, "time", lambda now=now: now)
            log_request(access)
    stamps = [json.loads(line)["timestamp"] for line in written(stderr_file)]
    assert stamps == ["2027-01-15T08:00:00Z", "2027-01-15T08:00:00.250000Z"]


def test_disabled_below_info(stderr_file: IO[str]) -> None:
    with stderr_to(stderr_file):
        log_request(AccessLog(json_lines=False, level="warning"))
        AccessLog.flush()
    assert written(stderr_file) == []


def test_latency_buckets_include_their_upper_bound() -> None:
    metrics = Metrics()
    for seconds in (0.001, 0.0010001, 7.0):
        metrics.observe("GET", "/x", 200, seconds)
    metrics.observe("GET", "/x", 404, 0.2)
    text = generate_latest(metrics.registry).decode()

    def value(sample: str) -> float:
        (line,) = [line for line in text.splitlines() if line.startswith(sample + " ")]
        return float(line.rsplit(" ", 1)[1])

    bucket = 'truapi_http_request_duration_seconds_bucket{le="%s",method="GET",route="/x"}'
    assert value(bucket % "0.001") == 1
    assert value(bucket % "0.0025") == 2
    assert value(bucket % "0.25") == 3
    assert value(bucket % "5.0") == 3
    assert value(bucket % "+Inf") == 4
    labels = '{method="GET",route="/x"}'
    assert value("truapi_http_request_duration_seconds_count" + labels) == 4
    assert value("truapi_http_request_duration_seconds_sum" + labels) == pytest.approx(7.2020001)
    assert value('truapi_http_requests_total{method="GET",route="/x",status="200"}') == 3
    assert value('truapi_http_requests_total{method="GET",route="/x",status="404"}') == 1
    assert 'truapi_http_requests_created{method="GET",route="/x",status="200"}' in text
    assert "truapi_http_request_duration_seconds_created" + labels in text
