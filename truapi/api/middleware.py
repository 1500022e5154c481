"""One pure-ASGI middleware: request id, body limit, access log, metrics, last-resort 500.

Pure ASGI on purpose: ``BaseHTTPMiddleware`` costs more than half the throughput.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from contextvars import Token
from typing import Any

import structlog
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from truapi.api.errors import PROBLEM_JSON, ApiError, problem_body
from truapi.telemetry import AccessLog, Metrics, request_id_var

error_log = structlog.get_logger("truapi.errors")

_REQUEST_ID_RE = re.compile(rb"[A-Za-z0-9._-]{1,128}")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

ErrorReporter = Callable[[BaseException, dict[str, object]], None]


class PayloadTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, "payload_too_large", f"The request body exceeds the limit of {limit} bytes."
        )


_CLOSE = [(b"connection", b"close")]
_UNAVAILABLE = ApiError(
    503,
    "service_unavailable",
    "A required dependency (the database) is unavailable; retry shortly.",
)


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None,
        access_log: AccessLog,
        max_body_bytes: int,
        report_error: ErrorReporter,
        is_unavailable: Callable[[BaseException], bool],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.max_body = max_body_bytes
        self.report_error = report_error
        self.is_unavailable = is_unavailable

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            if scope["type"] == "lifespan":
                self.access_log.flush()  # the app has stopped: the server exits next
            return
        started_at = time.perf_counter()
        root_path = scope.get("root_path", "")  # routing into a mount rewrites it
        request_id = b""
        content_length = -1
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _REQUEST_ID_RE.fullmatch(value):
                    request_id = value
            elif name == b"content-length":
                content_length = int(value) if value.isdigit() else -2
        if not request_id:
            request_id = os.urandom(16).hex().encode()
        rid = request_id.decode()
        scope.setdefault("state", {})["request_id"] = rid
        rid_token = request_id_var.set(rid)
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id)]
            await send(message)

        app_receive = receive
        if scope["method"] in _BODY_METHODS:
            if content_length > self.max_body:
                # The unread body would be taken for the next request: close the connection.
                await self._send_problem(
                    send_with_id, scope, rid, PayloadTooLarge(self.max_body), _CLOSE
                )
                self._finish(scope, status, started_at, root_path, rid_token)
                return
            if content_length == -2:
                await self._send_problem(
                    send_with_id,
                    scope,
                    rid,
                    ApiError(400, "malformed_request", "Content-Length is not a number."),
                    _CLOSE,
                )
                self._finish(scope, status, started_at, root_path, rid_token)
                return
            app_receive = self._limited(receive)
        try:
            await self.app(scope, app_receive, send_with_id)
        except Exception as exc:
            if self.is_unavailable(exc):
                # Not a bug: the database is unreachable. Say so, and recover by itself.
                error_log.warning("dependency.unavailable", error=type(exc).__name__)
                if not response_started:
                    await self._send_problem(
                        send_with_id, scope, rid, _UNAVAILABLE, headers=[(b"retry-after", b"1")]
                    )
                return
            context: dict[str, object] = {
                "request_id": rid,
                "method": scope["method"],
                "path": scope["path"],
            }
            error_log.error("request.unhandled_exception", exc_info=exc)
            if self.metrics is not None:
                self.metrics.unexpected_errors.inc()
            self.report_error(exc, context)
            if not response_started:
                await self._send_problem(
                    send_with_id,
                    scope,
                    rid,
                    ApiError(500, "internal_error", "An unexpected error occurred."),
                )
        finally:
            self._finish(scope, status, started_at, root_path, rid_token)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body

        async def receive_limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(limit)
            return message

        return receive_limited

    async def _send_problem(
        self,
        send: Send,
        scope: Scope,
        rid: str,
        error: ApiError,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        body = json.dumps(
            problem_body(
                error.status_code,
                error.code,
                str(error.detail),
                instance=scope["path"],
                request_id=rid,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.status_code,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    *(headers or ()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _finish(
        self,
        scope: Scope,
        status: int,
        started_at: float,
        root_path: str,
        rid_token: Token[str | None],
    ) -> None:
        elapsed = time.perf_counter() - started_at
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or _template_of(scope, root_path)
        method = scope["method"]
        if self.metrics is not None:
            self.metrics.observe(method, template, status, elapsed)
        state = scope.get("state") or {}
        self.access_log(
            method=method,
            route=template,
            path=scope["path"],
            status=status,
            duration_ms=round(elapsed * 1000, 3),
            tenant=state.get("tenant"),
            principal=state.get("principal"),
            request_id=state.get("request_id"),
        )
        request_id_var.reset(rid_token)


def _template_of(scope: Scope, root_path: str) -> str:
    """The template of a route FastAPI does not record in the scope (``/openapi.json``,
    mounts such as the docs assets), so metrics never carry a raw path; else ``<unmatched>``.
    """
    router: Any = scope.get("router")
    if router is None:
        return "<unmatched>"
    probe = {"type": "http", "path": scope["path"], "root_path": root_path, "method": "GET"}
    for candidate in getattr(router, "routes", ()):
        match, _ = candidate.matches(probe)
        if match is Match.FULL:
            return str(getattr(candidate, "path", "<unmatched>"))
    return "<unmatched>"
