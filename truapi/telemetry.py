"""Structured logs (structlog) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import sys
import time
from bisect import bisect_left
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import prometheus_client.metrics
import structlog
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import Metric

_SECRET_KEYS = frozenset(
    {
        "password",
        "new_password",
        "current_password",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "authorization",
        "api_key",
        "code",
        "totp",
        "key",
    }
)


def _drop_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Last line of defence: a field named like a secret is never written."""
    for name in _SECRET_KEYS.intersection(event):
        event[name] = "[redacted]"
    return event


#: The id of the request being served: every log line written while it runs carries it.
request_id_var: ContextVar[str | None] = ContextVar("truapi_request_id", default=None)


def _add_request_id(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = request_id_var.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the time of writing, so loggers cached on first use keep
    following it (a test's capture, a redirected stream)."""

    def write(self, text: str) -> int:
        _stderr_batch.flush()  # access lines made before this one come first
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, json_logs: bool, level: str = "info") -> None:
    """Set up structlog once: JSON lines in production, readable console lines otherwise."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_request_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.format_exc_info if json_logs else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )


class _StderrBatch:
    """Lines bound for stderr, written a batch at a time.

    Writing each access line on its own costs a system call per request; under load one batch
    holds hundreds of lines. A batch is written at most ``_FLUSH_AFTER_S`` after its first
    line, when it reaches ``_FLUSH_AT_CHARS``, before any other log line (so stderr keeps the
    order lines were made in), when the app shuts down and at exit. A stream without a file
    descriptor (an in-memory capture) has no system call to save: lines go straight to it.
    """

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._chars = 0
        self._stream: Any = None
        self._batching = False
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        atexit.register(self.flush)

    def write(self, line: str) -> None:
        stream = sys.stderr
        if stream is not self._stream:
            self.flush()
            self._stream = stream
            self._batching = _has_fileno(stream)
        if not self._batching:
            stream.write(line)
            return
        self._lines.append(line)
        self._chars += len(line)
        if self._chars >= _FLUSH_AT_CHARS:
            self.flush()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        # A timer left on a loop that has since closed never fires: schedule on this one.
        if self._timer_loop is not loop:
            self._timer_loop = loop
            loop.call_later(_FLUSH_AFTER_S, self._on_timer, loop)

    def _on_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer_loop is loop:
            self._timer_loop = None
        self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        # Swapped, not cleared: a line added meanwhile from another thread is never lost.
        lines, self._lines = self._lines, []
        self._chars = 0
        stream = self._stream if self._stream is not None else sys.stderr
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):  # closed at interpreter exit: nowhere left to write
            pass


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


_FLUSH_AFTER_S = 0.1
_FLUSH_AT_CHARS = 64 * 1024
_stderr_batch = _StderrBatch()


class _SecondStamp:
    """The current time formatted to the second, formatted again only when the second changes."""

    def __init__(self, fmt: str) -> None:
        self._fmt = fmt
        self._second = -1
        self._text = ""

    def __call__(self, second: int) -> str:
        if second != self._second:
            self._text = time.strftime(self._fmt, time.gmtime(second))
            self._second = second
        return self._text


class AccessLog:
    """Writes the one access line of each request to stderr.

    The lines have the shape structlog gives every other line (a JSON object, or
    ``timestamp [info] request key=value …`` on the console), but skip its general pipeline,
    which would cost more than all the rest of a ``/health/live`` request.
    """

    def __init__(self, *, json_lines: bool, level: str = "info") -> None:
        self._json = json_lines
        self._enabled = logging.getLevelNamesMapping()[level.upper()] <= logging.INFO
        self._stamp = _SecondStamp("%Y-%m-%dT%H:%M:%S" if json_lines else "%Y-%m-%d %H:%M:%S")

    def __call__(
        self,
        *,
        method: str,
        route: str,
        path: str,
        status: int,
        duration_ms: float,
        tenant: str | None,
        principal: str | None,
        request_id: str | None,
    ) -> None:
        if not self._enabled:
            return
        second, micros = divmod(int(time.time() * 1_000_000), 1_000_000)
        if self._json:
            # As ``datetime.isoformat`` writes it: no fraction at all on a whole second.
            fraction = f".{micros:06d}Z" if micros else "Z"
            fields = {
                "method": method,
                "route": route,
                "path": path,
                "status": status,
                "duration_ms": duration_ms,
                "tenant": tenant,
                "principal": principal,
                "request_id": request_id,
                "event": "request",
                "level": "info",
                "logger": "truapi.access",
                "timestamp": self._stamp(second) + fraction,
            }
            line = json.dumps(fields, default=str) + "\n"
        else:
            line = (
                f"{self._stamp(second)} [info     ] request method={method} route={route} "
                f"path={path} status={status} duration_ms={duration_ms} tenant={tenant} "
                f"principal={principal} request_id={request_id}\n"
            )
        _stderr_batch.write(line)

    @staticmethod
    def flush() -> None:
        """Write out the access lines not written yet (the app is stopping)."""
        _stderr_batch.flush()


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: The ``le`` label of each bucket, written as the Prometheus client writes it.
_LE = (*(repr(bound) for bound in _LATENCY_BUCKETS), "+Inf")


class _RequestMetrics:
    """Request counts and latency histograms, counted in plain dicts and turned into
    Prometheus families only when scraped.

    ``Counter`` and ``Histogram`` take a lock on every update, which costs a few percent of a
    small request; every update here happens on the event loop's thread. The exposition is
    the one those classes give (``_total``, ``_bucket``, ``_count``, ``_sum``, ``_created``).
    """

    REQUESTS = "truapi_http_requests"
    LATENCY = "truapi_http_request_duration_seconds"
    REQUESTS_HELP = "HTTP requests by route template, method and status."
    LATENCY_HELP = "HTTP request latency by route template and method."

    def __init__(self) -> None:
        # (method, route, status) -> [count, created]
        self.requests: dict[tuple[str, str, int], list[float]] = {}
        # (method, route) -> [sum, created, count in each bucket (not cumulative), +Inf last]
        self.latency: dict[tuple[str, str], list[float]] = {}

    def describe(self) -> list[Metric]:
        return [
            Metric(self.REQUESTS, self.REQUESTS_HELP, "counter"),
            Metric(self.LATENCY, self.LATENCY_HELP, "histogram"),
        ]

    def collect(self) -> list[Metric]:
        created = getattr(prometheus_client.metrics, "_use_created", True)
        requests = Metric(self.REQUESTS, self.REQUESTS_HELP, "counter")
        for (method, route, status), (count, since) in list(self.requests.items()):
            labels = {"method": method, "route": route, "status": str(status)}
            requests.add_sample(self.REQUESTS + "_total", labels, count)
            if created:
                requests.add_sample(self.REQUESTS + "_created", labels, since)
        latency = Metric(self.LATENCY, self.LATENCY_HELP, "histogram")
        for (method, route), values in list(self.latency.items()):
            labels = {"method": method, "route": route}
            total = 0.0
            for le, count in zip(_LE, values[2:], strict=True):
                total += count
                latency.add_sample(self.LATENCY + "_bucket", {**labels, "le": le}, total)
            latency.add_sample(self.LATENCY + "_count", labels, total)
            latency.add_sample(self.LATENCY + "_sum", labels, values[0])
            if created:
                latency.add_sample(self.LATENCY + "_created", labels, values[1])
        return [requests, latency]


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._http = _RequestMetrics()
        self.registry.register(self._http)
        self.auth_failures = Counter(
            "truapi_auth_failures_total",
            "Authentication failures by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.authz_decisions = Counter(
            "truapi_authz_decisions_total",
            "Authorization decisions by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self._decision_children: dict[str, Any] = {}
        self.authz_denials = Counter(
            "truapi_authz_endpoint_denials_total",
            "Endpoint requests a requirement denied (or, in audit mode, would have denied).",
            ["endpoint", "mode"],
            registry=self.registry,
        )
        self.unexpected_errors = Counter(
            "truapi_unexpected_errors_total",
            "Requests that failed with an unexpected exception.",
            registry=self.registry,
        )

    def count_decision(self, decision: str) -> None:
        """Count one authorization decision (the labelled child looked up once per value)."""
        child = self._decision_children.get(decision)
        if child is None:
            child = self._decision_children[decision] = self.authz_decisions.labels(decision)
        child.inc()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency (called on the event loop's thread only)."""
        counted = self._http.requests.get((method, route, status))
        if counted is None:
            self._http.requests[(method, route, status)] = [1, time.time()]
        else:
            counted[0] += 1
        histogram = self._http.latency.get((method, route))
        if histogram is None:
            histogram = [0.0, time.time()] + [0] * (len(_LATENCY_BUCKETS) + 1)
            self._http.latency[(method, route)] = histogram
        histogram[0] += seconds
        # Prometheus buckets are upper bounds, inclusive: the first bound >= seconds.
        histogram[2 + bisect_left(_LATENCY_BUCKETS, seconds)] += 1
