"""``/auth``: log in, the OAuth 2.0 token endpoint, refresh, log out, revoke, introspect."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData

from truapi.api.deps import JsonBody, get_container
from truapi.api.errors import count_auth_failure, domain_status
from truapi.api.guards import authenticated, public, require
from truapi.api.schemas.auth import (
    Introspection,
    LoginRequest,
    OAuthError,
    RefreshRequest,
    TokenResponse,
)
from truapi.api.schemas.problems import problem_responses
from truapi.api.security import Client, CurrentPrincipal
from truapi.application.auth.service import Login, TokenPair
from truapi.domain.errors import (
    AuthenticationFailed,
    InvalidValue,
    TooManyAttempts,
)

router = APIRouter(prefix="/auth", tags=["auth"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_MAX_FIELD = 8192


def _token_response(pair: TokenPair) -> Response:
    body = {
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "refresh_token": pair.refresh_token,
        "session_id": str(pair.session_id),
        "scope": pair.scope,
    }
    return JSONResponse(body, headers=NO_STORE)


@router.post(
    "/login",
    response_model=TokenResponse,
    summary="Log in with a password",
    dependencies=[JsonBody],
    responses={
        **problem_responses(400, 413, 415, 422, 503),
        **problem_responses(401, s401="`invalid_credentials` (the same for every cause)"),
        **problem_responses(429, s429="`too_many_attempts`, with `Retry-After`"),
    },
)
@public
async def login(body: LoginRequest, request: Request, client: Client) -> Response:
    """Start a session with a username (or email) and password.

    Wrong password, unknown user and disabled user all answer the same 401
    `invalid_credentials`. Repeated failures are throttled per account and per client address
    (429 `too_many_attempts` with `Retry-After`).
    """
    container = get_container(request)
    pair = await container.auth.login(
        Login(username=body.username, password=body.password, tenant=body.tenant), client
    )
    return _token_response(pair)


def _form_body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a form-encoded endpoint (read by hand, for RFC errors)."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    }


_TOKEN_FORM = _form_body(
    ["grant_type"],
    {
        "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
        "username": {"type": "string"},
        "password": {"type": "string", "format": "password"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
        "tenant": {"type": "string"},
    },
)


def _oauth_error(status: int, error: str, description: str, **headers: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **headers},
    )


async def _read_form(request: Request) -> FormData | None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in _FORM_TYPES:
        return None
    try:
        form = await request.form(max_files=0, max_fields=20, max_part_size=_MAX_FIELD)
    except Exception:  # malformed multipart or encoding: a bad request, never a 500
        return None
    if any(not isinstance(value, str) for value in form.values()):
        return None
    return form


def _field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value else None


@router.post(
    "/token",
    response_model=TokenResponse,
    summary="OAuth 2.0 token endpoint",
    openapi_extra=_TOKEN_FORM,
    responses={
        400: {"model": OAuthError, "description": "RFC 6749 §5.2 error (`invalid_grant`, …)"},
        429: {"model": OAuthError, "description": "`too_many_attempts`, with `Retry-After`"},
        **problem_responses(413, 503),
    },
)
@public
async def token(request: Request, client: Client) -> Response:
    """RFC 6749 token endpoint (form-encoded): `grant_type=password` (what Swagger UI's
    "Authorize" button uses) or `grant_type=refresh_token`. Errors use the RFC 6749 form
    `{"error", "error_description"}`.
    """
    form = await _read_form(request)
    if form is None:
        return _oauth_error(
            400, "invalid_request", "Send the parameters as application/x-www-form-urlencoded."
        )
    grant = _field(form, "grant_type")
    container = get_container(request)
    try:
        if grant == "password":
            username, password = _field(form, "username"), _field(form, "password")
            if username is None or password is None:
                return _oauth_error(400, "invalid_request", "username and password are required.")
            pair = await container.auth.login(
                Login(username=username, password=password, tenant=_field(form, "tenant")),
                client,
            )
        elif grant == "refresh_token":
            refresh = _field(form, "refresh_token")
            if refresh is None:
                return _oauth_error(400, "invalid_request", "refresh_token is required.")
            pair = await container.auth.refresh(refresh, client)
        elif grant is None:
            return _oauth_error(400, "invalid_request", "grant_type is required.")
        else:
            return _oauth_error(
                400, "unsupported_grant_type", "Use grant_type password or refresh_token."
            )
    except TooManyAttempts as exc:
        count_auth_failure(request, exc, "too_many_attempts")
        return _oauth_error(
            429, "too_many_attempts", exc.detail, **{"Retry-After": str(exc.retry_after)}
        )
    except (AuthenticationFailed, InvalidValue) as exc:
        count_auth_failure(request, exc, domain_status(exc)[1])
        return _oauth_error(400, "invalid_grant", exc.detail)
    return _token_response(pair)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    summary="Refresh an access token",
    dependencies=[JsonBody],
    responses={
        **problem_responses(400, 413, 415, 422, 503),
        **problem_responses(
            401,
            s401="`invalid_refresh_token`, `refresh_token_reused` (the session is revoked) or "
            "`session_revoked`",
        ),
    },
)
@public
async def refresh(body: RefreshRequest, request: Request, client: Client) -> Response:
    """Trade a refresh token for a new access and refresh token pair.

    Each refresh token is good for one use; presenting a used one again revokes its whole
    session (RFC 9700 §4.14).
    """
    pair = await get_container(request).auth.refresh(body.refresh_token, client)
    return _token_response(pair)


@router.post(
    "/logout",
    status_code=204,
    summary="Log out",
    responses=problem_responses(401, 503),
)
@authenticated
async def logout(principal: CurrentPrincipal, request: Request, client: Client) -> Response:
    """End the current session: its refresh tokens at once, its access tokens on every
    instance within `APP_REVOCATION_PROPAGATION_S`."""
    await get_container(request).auth.logout(principal, client)
    return Response(status_code=204)


@router.post(
    "/revoke",
    summary="Revoke a token (RFC 7009)",
    openapi_extra=_form_body(
        ["token"],
        {
            "token": {"type": "string"},
            "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
        },
    ),
    responses={200: {"description": "Always, whether or not the token was valid."}},
)
@public
async def revoke(request: Request, client: Client) -> Response:
    """RFC 7009 revocation: the session of a refresh or access token ends. Answers 200
    whatever the token, so nothing can be learnt from it."""
    form = await _read_form(request)
    token_value = _field(form, "token") if form is not None else None
    if token_value is not None and len(token_value) <= _MAX_FIELD:
        await get_container(request).auth.revoke_token(token_value, client)
    return Response(status_code=200, headers=NO_STORE)


@router.post(
    "/introspect",
    response_model=Introspection,
    summary="Introspect a token (RFC 7662)",
    openapi_extra=_form_body(
        ["token"], {"token": {"type": "string"}, "token_type_hint": {"type": "string"}}
    ),
    responses={
        **problem_responses(401, 413, 503),
        **problem_responses(403, s403="`forbidden`: needs `introspect` on the tenant root"),
    },
    dependencies=[require("introspect", "tenant:{tenant_id}")],
)
async def introspect(principal: CurrentPrincipal, request: Request) -> Response:
    """RFC 7662: whether a token (access or refresh) is live, with its claims. Every token
    that is not live, or belongs to another tenant, gives exactly `{"active": false}`.
    The caller needs `introspect` on its tenant root."""
    container = get_container(request)
    form = await _read_form(request)
    token_value = _field(form, "token") if form is not None else None
    result: dict[str, Any] = {"active": False}
    if token_value is not None and len(token_value) <= _MAX_FIELD:
        result = await container.auth.introspect(principal, token_value)
    return JSONResponse(result, headers=NO_STORE)
