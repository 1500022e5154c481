"""Structured logs (structlog) and Prometheus metrics."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

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


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the time of writing, so loggers cached on first use keep
    following it (a test's capture, a redirected stream)."""

    def write(self, text: str) -> int:
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


class AccessLog:
    """Writes the one access line of each request, straight to stderr.

    The lines have the shape structlog gives every other line (a JSON object, or
    ``timestamp [info] request key=value …`` on the console), but skip its general pipeline,
    which would cost more than all the rest of a ``/health/live`` request.
    """

    def __init__(self, *, json_lines: bool, level: str = "info") -> None:
        self._json = json_lines
        self._enabled = logging.getLevelNamesMapping()[level.upper()] <= logging.INFO

    def __call__(self, **fields: Any) -> None:
        if not self._enabled:
            return
        now = datetime.now(UTC)
        if self._json:
            fields["event"] = "request"
            fields["level"] = "info"
            fields["logger"] = "truapi.access"
            fields["timestamp"] = now.isoformat().replace("+00:00", "Z")
            line = json.dumps(fields, default=str)
        else:
            pairs = " ".join(f"{key}={value}" for key, value in fields.items())
            line = f"{now:%Y-%m-%d %H:%M:%S} [info     ] request {pairs}"
        sys.stderr.write(line + "\n")


class Metrics:
    """The service's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "truapi_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "truapi_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
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
        self.unexpected_errors = Counter(
            "truapi_unexpected_errors_total",
            "Requests that failed with an unexpected exception.",
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
