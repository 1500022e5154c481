"""``/admin``: operator actions on the platform (signing keys)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from truapi.api.deps import get_container
from truapi.api.guards import require
from truapi.api.schemas.auth import SigningKeyList, SigningKeyOut
from truapi.api.schemas.problems import problem_responses
from truapi.api.security import CurrentPrincipal
from truapi.domain.errors import Forbidden
from truapi.domain.tokens import SigningKey
from truapi.domain.users import format_timestamp

router = APIRouter(prefix="/admin", tags=["admin"])


def key_view(key: SigningKey) -> dict[str, Any]:
    def ts(value: Any) -> str | None:
        return format_timestamp(value) if value is not None else None

    return {
        "kid": key.kid,
        "algorithm": key.algorithm,
        "state": key.state.value,
        "created_at": format_timestamp(key.created_at),
        "retiring_at": ts(key.retiring_at),
        "retire_after": ts(key.retire_after),
        "retired_at": ts(key.retired_at),
    }


def _require_platform_tenant(principal: CurrentPrincipal, request: Request) -> None:
    # Keys sign every tenant's tokens, so only the platform tenant's administrators touch them.
    if principal.tenant_id != get_container(request).default_tenant_id:
        raise Forbidden("Signing keys are managed by the platform tenant's administrators.")


@router.get(
    "/signing-keys",
    response_model=SigningKeyList,
    summary="List signing keys",
    dependencies=[require("admin", "tenant:{tenant_id}")],
    responses=problem_responses(401, 403, 503),
)
async def list_signing_keys(principal: CurrentPrincipal, request: Request) -> Response:
    """Every signing key with its state, oldest first (public information only)."""
    _require_platform_tenant(principal, request)
    keys = await get_container(request).keys.all()
    return JSONResponse({"items": [key_view(k) for k in keys]})


@router.post(
    "/signing-keys/rotate",
    response_model=SigningKeyOut,
    status_code=201,
    summary="Rotate the signing key",
    dependencies=[require("admin", "tenant:{tenant_id}")],
    responses=problem_responses(401, 403, 503),
)
async def rotate_signing_key(principal: CurrentPrincipal, request: Request) -> Response:
    """Make a new active key. The previous one keeps verifying (and stays in the JWKS) until
    every token it signed has expired, then is retired."""
    _require_platform_tenant(principal, request)
    container = get_container(request)
    key = await container.keys.rotate(container.default_tenant_id, actor=principal.subject)
    return JSONResponse(key_view(key), status_code=201)
