"""RFC 9457 problem details: one table from exceptions to status and stable ``code``."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from truapi.domain import errors as d

log = structlog.get_logger("truapi.errors")

PROBLEM_JSON = "application/problem+json"

#: Domain error → (HTTP status, stable code). Subclasses are looked up along their MRO.
DOMAIN_ERRORS: dict[type[d.DomainError], tuple[int, str]] = {
    d.UserNotFound: (404, "user_not_found"),
    d.TenantNotFound: (404, "tenant_not_found"),
    d.UsernameTaken: (409, "username_taken"),
    d.EmailTaken: (409, "email_taken"),
    d.TenantSlugTaken: (409, "tenant_slug_taken"),
    d.GroupNameTaken: (409, "group_name_taken"),
    d.VersionMismatch: (412, "precondition_failed"),
    d.IdempotencyKeyReused: (422, "idempotency_key_reused"),
    d.IdempotencyInProgress: (409, "idempotency_in_progress"),
    d.InvalidCursor: (400, "invalid_cursor"),
    d.PasswordTooCommon: (422, "password_too_common"),
    d.InvalidCurrentPassword: (422, "invalid_current_password"),
    d.InvalidCredentials: (401, "invalid_credentials"),
    d.InvalidToken: (401, "invalid_token"),
    d.InvalidRefreshToken: (401, "invalid_refresh_token"),
    d.RefreshTokenReused: (401, "refresh_token_reused"),
    d.SessionRevoked: (401, "session_revoked"),
    d.Unauthenticated: (401, "unauthenticated"),
    d.TooManyAttempts: (429, "too_many_attempts"),
    d.Forbidden: (403, "forbidden"),
    d.SessionNotFound: (404, "session_not_found"),
    d.GroupNotFound: (404, "group_not_found"),
    d.MemberNotFound: (404, "member_not_found"),
    d.ResourceNotFound: (404, "resource_not_found"),
    d.GroupCycle: (409, "group_cycle"),
    d.ResourceCycle: (409, "resource_cycle"),
    d.HierarchyTooDeep: (409, "hierarchy_too_deep"),
    d.ResourceHasChildren: (409, "resource_has_children"),
    d.ReservedResourceType: (422, "reserved_resource_type"),
    d.GroupProtected: (409, "group_protected"),
    d.KeyStoreUnreadable: (503, "service_unavailable"),
    d.InvalidValue: (422, "validation_error"),
    d.NotFound: (404, "not_found"),
    d.Conflict: (409, "conflict"),
}

#: Status → code for errors raised as plain HTTP exceptions (Starlette's 404/405, body limits).
STATUS_CODES: dict[int, str] = {
    400: "malformed_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}

TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiError(StarletteHTTPException):
    """An HTTP error with its own stable ``code`` (raised by the web layer itself)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.code = code
        self.extra = extra or {}


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str,
    request_id: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:truapi:error:{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
        "request_id": request_id,
    }
    if extra:
        body.update(extra)
    return body


def request_id_of(scope: Any) -> str:
    state = scope.get("state") or {}
    return str(state.get("request_id", ""))


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body = problem_body(
        status,
        code,
        detail,
        instance=request.url.path,
        request_id=request_id_of(request.scope),
        extra=extra,
    )
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def domain_status(error: d.DomainError) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[cls]
    return 400, "bad_request"


def count_auth_failure(request: Request, error: d.DomainError, code: str) -> None:
    """Count a refused authentication by reason (bounded: codes and token-check reasons)."""
    if not isinstance(error, d.AuthenticationFailed | d.TooManyAttempts):
        return
    reason = f"{code}.{error.reason}" if isinstance(error, d.InvalidToken) else code
    container = getattr(request.app.state, "container", None)
    if container is not None:
        container.metrics.auth_failures.labels(reason).inc()


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, d.DomainError)
    status, code = domain_status(exc)
    count_auth_failure(request, exc, code)
    extra = None
    if isinstance(exc, d.InvalidValue):
        extra = {"errors": [{"loc": ["body", exc.field], "message": exc.detail, "type": exc.kind}]}
        # "must be 3-32 characters long" needs its field; a full sentence stands alone.
        detail = exc.detail if exc.detail[:1].isupper() else f"{exc.field} {exc.detail}"
    else:
        detail = exc.detail
    return problem_response(request, status, code, detail, headers=_auth_headers(exc), extra=extra)


def _auth_headers(exc: d.DomainError) -> dict[str, str] | None:
    if isinstance(exc, d.TooManyAttempts):
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, d.InvalidToken):
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    if isinstance(exc, d.AuthenticationFailed):
        return {"WWW-Authenticate": "Bearer"}
    return None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or STATUS_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and not isinstance(exc, ApiError):
        detail = "No route matches this path."
    elif exc.status_code == 405 and not isinstance(exc, ApiError):
        detail = f"Method {request.method} is not allowed on this path."
    elif exc.status_code == 400 and not isinstance(exc, ApiError):
        detail = "The request body could not be decoded."
    return problem_response(
        request,
        exc.status_code,
        code,
        detail,
        headers=dict(exc.headers) if exc.headers else None,
        extra=getattr(exc, "extra", None),
    )


def _clean_loc(loc: Any) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def _clean_message(message: str) -> str:
    # pydantic prefixes messages of ValueErrors raised by our own validators.
    return message.removeprefix("Value error, ")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(err.get("type") == "json_invalid" for err in raw):
        return problem_response(
            request, 400, "malformed_request", "The request body is not valid JSON."
        )
    errors = [
        {
            "loc": _clean_loc(err.get("loc", ())),
            "message": _clean_message(str(err.get("msg", "invalid value"))),
            "type": str(err.get("type", "value_error")),
        }
        for err in raw
    ]
    return problem_response(
        request,
        422,
        "validation_error",
        "The request did not pass validation.",
        extra={"errors": errors},
    )


def exception_container(app: FastAPI) -> None:
    """Install every error handler, so each 4xx leaves as problem+json with a ``code``.

    Unexpected exceptions (500) and an unreachable database (503) are answered by
    ``RequestContextMiddleware``, which sees every exception that escapes these handlers.
    """
    app.add_exception_handler(d.DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
