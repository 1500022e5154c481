"""POST /auth/introspect (RFC 7662), the JWKS, the discovery document, and how the OpenAPI
document declares bearer authentication."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.conftest import MakeClient, assert_problem, client_for, create_user
from tests.conftest import ADMIN_USERNAME, log_in
from tests.jose_checks import b64url_decode, verifies
from truapi.api.app import create_app
from truapi.bootstrap import build_container
from truapi.config import Settings

PASSWORD = "correct horse battery"
ISSUER = "https://id.example.test"
#: The members of an active access or refresh token's introspection (CONTRACT §4).
ACTIVE_FIELDS = {
    "active",
    "sub",
    "tid",
    "scope",
    "exp",
    "iat",
    "iss",
    "aud",
    "jti",
    "sid",
    "token_type",
    "username",
}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def jose_header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = json.loads(b64url_decode(token.split(".")[0]))
    return header


def jose_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(b64url_decode(token.split(".")[1]))
    return claims


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def introspect(client: httpx.AsyncClient, token: str, **extra: str) -> dict[str, Any]:
    """Introspect as the client's caller, asserting 200 and ``no-store``; return the body."""
    response = await client.post("/auth/introspect", data={"token": token, **extra})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


class ShiftedClock:
    """The real clock moved by a fixed offset."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def client_in_the_past(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[httpx.AsyncClient]:
    """A client to a second instance on the same database whose clock is an hour behind, so
    the tokens it issues are long expired everywhere else."""
    container = build_container(make_settings(), clock=ShiftedClock(timedelta(hours=-1)))
    app = create_app(container=container)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield await stack.enter_async_context(client_for(app))


# --- POST /auth/introspect: live tokens ------------------------------------------------------


async def test_a_live_access_token(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "bob", password=PASSWORD)
    tokens = await log_in(client, "bob", PASSWORD)
    body = await introspect(client, tokens["access_token"])
    assert set(body) == ACTIVE_FIELDS | {"groups"}, body
    assert body["groups"] == []
    claims = jose_claims(tokens["access_token"])
    assert body["active"] is True
    assert body["token_type"] == "access_token"
    assert body["sub"] == user["id"] == claims["sub"]
    assert body["tid"] == user["tenant_id"] == claims["tid"]
    assert body["sid"] == tokens["session_id"] == claims["sid"]
    assert body["username"] == "bob"
    assert body["scope"] == tokens["scope"]
    for name in ("iss", "aud", "jti", "exp", "iat"):
        assert body[name] == claims[name], name
    assert body["iss"] == "http://127.0.0.1:8000"
    assert body["exp"] - body["iat"] == 600


async def test_a_live_refresh_token(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "bob", password=PASSWORD)
    tokens = await log_in(client, "bob", PASSWORD)
    body = await introspect(client, tokens["refresh_token"], token_type_hint="refresh_token")
    assert set(body) == ACTIVE_FIELDS, body
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["sub"] == user["id"]
    assert body["tid"] == user["tenant_id"]
    assert body["sid"] == tokens["session_id"]
    assert body["username"] == "bob"
    assert body["iss"] == "http://127.0.0.1:8000"
    assert isinstance(body["exp"], int)
    assert isinstance(body["iat"], int)
    assert body["exp"] > body["iat"]
    # Introspection does not spend the refresh token.
    refreshed = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text


async def test_a_wrong_type_hint_does_not_hide_a_live_token(client: httpx.AsyncClient) -> None:
    tokens = await log_in(client)
    body = await introspect(client, tokens["access_token"], token_type_hint="refresh_token")
    assert body["active"] is True
    assert body["username"] == ADMIN_USERNAME


# --- POST /auth/introspect: anything else is exactly {"active": false} -----------------------


@pytest.mark.parametrize(
    "token",
    ["garbage", "", "a.b.c", "trt_unknown", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "x" * 9000],
    ids=["garbage", "empty", "dots", "refresh-like", "jws-like", "huge"],
)
async def test_junk_is_inactive(client: httpx.AsyncClient, token: str) -> None:
    assert await introspect(client, token) == {"active": False}


async def test_no_token_at_all_is_inactive(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/introspect", data={"token_type_hint": "access_token"})
    assert response.status_code == 200, response.text
    assert response.json() == {"active": False}


async def test_a_logged_out_sessions_tokens_are_inactive(client: httpx.AsyncClient) -> None:
    tokens = await log_in(client)
    assert (await client.post("/auth/logout", headers=bearer(tokens))).status_code == 204
    assert await introspect(client, tokens["access_token"]) == {"active": False}
    assert await introspect(client, tokens["refresh_token"]) == {"active": False}


async def test_a_used_refresh_token_is_inactive(client: httpx.AsyncClient) -> None:
    tokens = await log_in(client)
    rotated = await client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    assert await introspect(client, tokens["refresh_token"]) == {"active": False}
    # Its successor is the live one.
    assert (await introspect(client, rotated.json()["refresh_token"]))["active"] is True


async def test_a_revoked_refresh_token_is_inactive(client: httpx.AsyncClient) -> None:
    tokens = await log_in(client)
    revoked = await client.post("/auth/revoke", data={"token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    assert await introspect(client, tokens["refresh_token"]) == {"active": False}
    assert await introspect(client, tokens["access_token"]) == {"active": False}


async def test_a_token_with_a_flipped_signature_character_is_inactive(
    client: httpx.AsyncClient,
) -> None:
    tokens = await log_in(client)
    head, payload, signature = tokens["access_token"].split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    assert await introspect(client, f"{head}.{payload}.{flipped}") == {"active": False}


async def test_a_deleted_users_tokens_are_inactive(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "bob", password=PASSWORD)
    tokens = await log_in(client, "bob", PASSWORD)
    assert (await client.delete(f"/users/{user['id']}")).status_code == 204
    assert await introspect(client, tokens["refresh_token"]) == {"active": False}
    assert await introspect(client, tokens["access_token"]) == {"active": False}


async def test_a_disabled_users_tokens_are_inactive(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "bob", password=PASSWORD)
    tokens = await log_in(client, "bob", PASSWORD)
    response = await client.patch(f"/users/{user['id']}", json={"status": "disabled"})
    assert response.status_code == 200, response.text
    assert await introspect(client, tokens["refresh_token"]) == {"active": False}
    assert await introspect(client, tokens["access_token"]) == {"active": False}


async def test_an_expired_access_token_is_inactive(
    client: httpx.AsyncClient, client_in_the_past: httpx.AsyncClient
) -> None:
    old = await log_in(client_in_the_past)
    claims = jose_claims(old["access_token"])
    assert claims["exp"] < datetime.now(UTC).timestamp() - 60 * 30
    assert await introspect(client, old["access_token"]) == {"active": False}


# --- POST /auth/introspect: who may call it --------------------------------------------------


async def test_introspection_needs_credentials(anon_client: httpx.AsyncClient) -> None:
    tokens = await log_in(anon_client)
    response = await anon_client.post("/auth/introspect", data={"token": tokens["access_token"]})
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    assert tokens["access_token"] not in response.text


async def test_introspection_is_for_administrators_only(client: httpx.AsyncClient) -> None:
    await create_user(client, "bob", password=PASSWORD)
    bob = await log_in(client, "bob", PASSWORD)
    for token in (bob["access_token"], bob["refresh_token"], "garbage"):
        response = await client.post("/auth/introspect", data={"token": token}, headers=bearer(bob))
        assert_problem(response, 403, "forbidden")
        assert "active" not in response.json()


# --- GET /.well-known/jwks.json --------------------------------------------------------------


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint of an EC public key."""
    canonical = json.dumps(
        {name: jwk[name] for name in ("crv", "kty", "x", "y")},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_jwks_lists_public_keys_only(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert re.fullmatch(r"public, max-age=\d+", response.headers["cache-control"])
    body = response.json()
    assert set(body) == {"keys"}
    assert body["keys"]
    for jwk in body["keys"]:
        assert {"kid", "kty", "alg", "use"} <= set(jwk), jwk
        assert jwk["use"] == "sig"
        assert jwk["kty"] == "EC"
        assert jwk["alg"] == "ES256"
        assert jwk["crv"] == "P-256"
        assert not PRIVATE_MEMBERS & set(jwk), jwk
        assert jwk["kid"] == thumbprint(jwk)
    assert len({jwk["kid"] for jwk in body["keys"]}) == len(body["keys"])


async def test_jwks_verifies_the_tokens_we_issue(anon_client: httpx.AsyncClient) -> None:
    tokens = await log_in(anon_client)
    header = jose_header(tokens["access_token"])
    assert header["alg"] == "ES256"
    assert header["typ"] == "at+jwt"
    keys = (await anon_client.get("/.well-known/jwks.json")).json()["keys"]
    [jwk] = [k for k in keys if k["kid"] == header["kid"]]
    assert verifies(jwk, tokens["access_token"])
    head, _, signature = tokens["access_token"].split(".")
    other = (await log_in(anon_client))["access_token"].split(".")[1]
    assert not verifies(jwk, f"{head}.{other}.{signature}")


async def test_jwks_needs_no_credentials_and_ignores_bad_ones(
    anon_client: httpx.AsyncClient,
) -> None:
    response = await anon_client.get(
        "/.well-known/jwks.json", headers={"Authorization": "Bearer garbage"}
    )
    assert response.status_code == 200


# --- GET /.well-known/openid-configuration ---------------------------------------------------


async def test_discovery_document_is_built_on_the_issuer(make_client: MakeClient) -> None:
    client = await make_client(issuer=ISSUER)
    response = await client.get("/.well-known/openid-configuration")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["issuer"] == ISSUER
    assert doc["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert doc["token_endpoint"] == f"{ISSUER}/auth/token"
    assert doc["introspection_endpoint"] == f"{ISSUER}/auth/introspect"
    assert doc["revocation_endpoint"] == f"{ISSUER}/auth/revoke"
    assert {"password", "refresh_token"} <= set(doc["grant_types_supported"])
    assert isinstance(doc["token_endpoint_auth_methods_supported"], list)
    assert doc["token_endpoint_auth_methods_supported"]
    assert doc["id_token_signing_alg_values_supported"] == ["ES256"]
    # Tokens carry the same issuer, and the JWKS is where the document says.
    tokens = await log_in(client)
    assert jose_claims(tokens["access_token"])["iss"] == ISSUER
    assert (await introspect(client, tokens["access_token"]))["iss"] == ISSUER
    jwks_path = doc["jwks_uri"].removeprefix(ISSUER)
    assert (await client.get(jwks_path)).status_code == 200


async def test_discovery_document_default_issuer(anon_client: httpx.AsyncClient) -> None:
    doc = (await anon_client.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == "http://127.0.0.1:8000"
    assert doc["token_endpoint"] == "http://127.0.0.1:8000/auth/token"


async def test_discovery_follows_the_signing_algorithm(make_client: MakeClient) -> None:
    client = await make_client(jwt_algorithm="EdDSA")
    doc = (await client.get("/.well-known/openid-configuration")).json()
    assert doc["id_token_signing_alg_values_supported"] == ["EdDSA"]
    tokens = await log_in(client)
    header = jose_header(tokens["access_token"])
    assert header["alg"] == "EdDSA"
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert header["kid"] in {k["kid"] for k in keys if k["alg"] == "EdDSA"}


# --- OpenAPI: Swagger UI's "Authorize" -------------------------------------------------------


async def test_openapi_declares_the_oauth2_password_flow(anon_client: httpx.AsyncClient) -> None:
    spec = (await anon_client.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    password_schemes = {
        name: scheme
        for name, scheme in schemes.items()
        if scheme.get("type") == "oauth2" and "password" in scheme.get("flows", {})
    }
    assert password_schemes, schemes
    [(name, scheme)] = password_schemes.items()
    assert scheme["flows"]["password"]["tokenUrl"] == "/auth/token"
    me = spec["paths"]["/me"]["get"]
    assert {name: []} in me["security"]
    # The token endpoint and the public documents ask for nothing.
    assert "security" not in spec["paths"]["/auth/token"]["post"]
    assert "security" not in spec["paths"]["/.well-known/jwks.json"]["get"]
