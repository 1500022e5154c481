"""``/.well-known``: the JWKS and the discovery document other services configure from."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from truapi.api.deps import get_container
from truapi.api.guards import public
from truapi.api.schemas.auth import Jwks, OpenIdConfiguration

router = APIRouter(prefix="/.well-known", tags=["discovery"])


@router.get(
    "/jwks.json",
    response_model=Jwks,
    summary="Public signing keys (JWKS)",
    responses={200: {"content": {"application/json": {"example": {"keys": [{"kty": "EC"}]}}}}},
)
@public
async def jwks(request: Request) -> Response:
    """Every public key that can still verify a live access token (RFC 7517)."""
    container = get_container(request)
    max_age = container.settings.jwks_max_age
    return JSONResponse(
        container.codec.jwks(), headers={"Cache-Control": f"public, max-age={max_age}"}
    )


@router.get(
    "/openid-configuration",
    response_model=OpenIdConfiguration,
    summary="Discovery document",
)
@public
async def openid_configuration(request: Request) -> Response:
    """Where the keys and the token, introspection and revocation endpoints are, all under
    `APP_ISSUER`."""
    container = get_container(request)
    issuer = container.settings.issuer.rstrip("/")
    document = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/auth/token",
        "introspection_endpoint": f"{issuer}/auth/introspect",
        "revocation_endpoint": f"{issuer}/auth/revoke",
        "grant_types_supported": ["password", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "introspection_endpoint_auth_methods_supported": ["bearer"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "id_token_signing_alg_values_supported": [container.settings.jwt_algorithm],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "scopes_supported": ["openid"],
    }
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})
