"""Forged, altered and foreign access tokens presented to GET /me: every one is refused with
401 ``invalid_token`` and ``WWW-Authenticate: Bearer error="invalid_token"``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from tests.api.conftest import StartApp, assert_problem, client_for, create_user
from tests.conftest import log_in
from truapi.api.app import create_app
from truapi.bootstrap import build_container
from truapi.config import Settings

INVALID_TOKEN = 'Bearer error="invalid_token"'
PASSWORD = "correct horse battery"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def encode_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, payload, signature = token.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(payload)), signature


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{encode_json(header)}.{encode_json(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def es256(header: dict[str, Any], claims: dict[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    signing_input = f"{encode_json(header)}.{encode_json(claims)}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def pem_of(jwk: dict[str, Any]) -> bytes:
    public = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def assert_refused(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == INVALID_TOKEN


async def assert_accepted(client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def token(anon_client: httpx.AsyncClient) -> str:
    """A valid access token of the administrator, checked to work."""
    value: str = (await log_in(anon_client))["access_token"]
    await assert_accepted(anon_client, value)
    return value


@pytest.fixture
async def jwk(anon_client: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The public key (from the JWKS) that signed ``token``."""
    kid = parts(token)[0]["kid"]
    keys = (await anon_client.get("/.well-known/jwks.json")).json()["keys"]
    [key] = [k for k in keys if k["kid"] == kid]
    found: dict[str, Any] = key
    return found


# --- forged algorithms and keys --------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(anon_client: httpx.AsyncClient, token: str, alg: str) -> None:
    header, claims, signature = parts(token)
    unsigned = f"{encode_json({**header, 'alg': alg})}.{encode_json(claims)}"
    await assert_refused(anon_client, f"{unsigned}.")
    await assert_refused(anon_client, f"{unsigned}.{signature}")
    without_kid = {"alg": alg, "typ": "at+jwt"}
    await assert_refused(anon_client, f"{encode_json(without_kid)}.{encode_json(claims)}.")


async def test_hs256_with_the_public_key_pem_is_refused(
    anon_client: httpx.AsyncClient, token: str, jwk: dict[str, Any]
) -> None:
    header, claims, _ = parts(token)
    pem = pem_of(jwk)
    for secret in (pem, pem.strip()):
        await assert_refused(anon_client, hs256({**header, "alg": "HS256"}, claims, secret))
        await assert_refused(anon_client, hs256({"alg": "HS256", "typ": "at+jwt"}, claims, secret))


async def test_hs256_with_the_jwk_json_is_refused(
    anon_client: httpx.AsyncClient, token: str, jwk: dict[str, Any]
) -> None:
    header, claims, _ = parts(token)
    secrets = [
        json.dumps(jwk).encode(),
        json.dumps(jwk, separators=(",", ":")).encode(),
        json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode(),
        b64url_decode(jwk["x"]) + b64url_decode(jwk["y"]),
    ]
    for secret in secrets:
        await assert_refused(anon_client, hs256({**header, "alg": "HS256"}, claims, secret))


@pytest.mark.parametrize("alg", ["ES384", "RS256", "EdDSA", "PS256", "ES256K"])
async def test_another_algorithm_on_our_key_is_refused(
    anon_client: httpx.AsyncClient, token: str, alg: str
) -> None:
    header, claims, signature = parts(token)
    await assert_refused(
        anon_client, f"{encode_json({**header, 'alg': alg})}.{encode_json(claims)}.{signature}"
    )


async def test_an_unknown_kid_is_refused(anon_client: httpx.AsyncClient, token: str) -> None:
    header, claims, signature = parts(token)
    for kid in ("nope", "", b64url(b"\0" * 32), 42, None):
        forged = f"{encode_json({**header, 'kid': kid})}.{encode_json(claims)}.{signature}"
        await assert_refused(anon_client, forged)
    no_kid = {k: v for k, v in header.items() if k != "kid"}
    await assert_refused(anon_client, f"{encode_json(no_kid)}.{encode_json(claims)}.{signature}")


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
        {"crit": ["exp"]},
        {"b64": False},
    ],
    ids=["jku", "x5u", "x5c", "crit", "b64"],
)
async def test_injected_header_members_are_refused(
    anon_client: httpx.AsyncClient, token: str, extra: dict[str, Any]
) -> None:
    header, claims, signature = parts(token)
    forged = f"{encode_json({**header, **extra})}.{encode_json(claims)}.{signature}"
    await assert_refused(anon_client, forged)


async def test_an_embedded_jwk_of_the_attackers_key_is_refused(
    anon_client: httpx.AsyncClient, token: str
) -> None:
    header, claims, _ = parts(token)
    mine = ec.generate_private_key(ec.SECP256R1())
    embedded = public_jwk(mine)
    # Signed correctly, but with a key the token carries itself.
    await assert_refused(anon_client, es256({**header, "jwk": embedded}, claims, mine))
    await assert_refused(
        anon_client, es256({"alg": "ES256", "typ": "at+jwt", "jwk": embedded}, claims, mine)
    )


async def test_a_token_signed_by_another_key_under_our_kid_is_refused(
    anon_client: httpx.AsyncClient, token: str
) -> None:
    header, claims, _ = parts(token)
    await assert_refused(
        anon_client, es256(header, claims, ec.generate_private_key(ec.SECP256R1()))
    )


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+JWT+x", "id_token", "", None])
async def test_a_wrong_typ_is_refused(
    anon_client: httpx.AsyncClient, token: str, typ: str | None
) -> None:
    header, claims, signature = parts(token)
    forged = f"{encode_json({**header, 'typ': typ})}.{encode_json(claims)}.{signature}"
    await assert_refused(anon_client, forged)


# --- altered tokens --------------------------------------------------------------------------


async def test_a_tampered_payload_is_refused(client: httpx.AsyncClient) -> None:
    bob = await create_user(client, "bob", password=PASSWORD)
    token = (await log_in(client))["access_token"]
    _, claims, signature = parts(token)
    for change in (
        {"sub": bob["id"]},
        {"sub": str(uuid.uuid4())},
        {"exp": claims["exp"] + 3600},
        {"scope": "openid admin"},
        {"acr": "aal2"},
    ):
        forged = f"{token.split('.')[0]}.{encode_json({**claims, **change})}.{signature}"
        await assert_refused(client, forged)
    # Re-encoding the same claims differently is a different signing input too.
    spaced = b64url(json.dumps(claims, indent=1).encode())
    await assert_refused(client, f"{token.split('.')[0]}.{spaced}.{signature}")
    await assert_accepted(client, token)


async def test_a_der_encoded_signature_is_refused(
    anon_client: httpx.AsyncClient, token: str
) -> None:
    head, payload, signature = token.split(".")
    raw = b64url_decode(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    await assert_refused(anon_client, f"{head}.{payload}.{b64url(der)}")


@pytest.mark.parametrize(
    "cut", [lambda s: s[:-4], lambda s: s[:43], lambda s: s[:1], lambda s: s + "AAAA"]
)
async def test_a_truncated_or_padded_signature_is_refused(
    anon_client: httpx.AsyncClient, token: str, cut: Callable[[str], str]
) -> None:
    head, payload, signature = token.split(".")
    await assert_refused(anon_client, f"{head}.{payload}.{cut(signature)}")


async def test_a_flipped_signature_character_is_refused(
    anon_client: httpx.AsyncClient, token: str
) -> None:
    head, payload, signature = token.split(".")
    for index in (0, 20, 42, 80):
        char = "A" if signature[index] != "A" else "B"
        flipped = signature[:index] + char + signature[index + 1 :]
        await assert_refused(anon_client, f"{head}.{payload}.{flipped}")


async def test_a_padded_or_non_canonical_encoding_is_refused(
    anon_client: httpx.AsyncClient, token: str
) -> None:
    head, payload, signature = token.split(".")
    await assert_refused(anon_client, f"{head}.{payload}.{signature}==")
    standard = signature.replace("-", "+").replace("_", "/")
    if standard != signature:
        await assert_refused(anon_client, f"{head}.{payload}.{standard}")
    await assert_refused(anon_client, f"{head}.{payload}.{signature}.{signature}")
    await assert_refused(anon_client, f"{head} .{payload}.{signature}")


@pytest.mark.parametrize("size", [8 * 1024 + 1, 64 * 1024])
async def test_an_oversized_authorization_header_is_invalid_not_a_crash(
    anon_client: httpx.AsyncClient, token: str, size: int
) -> None:
    huge = "Bearer " + (token + "A" * size)[:size]
    response = await anon_client.get("/me", headers={"Authorization": huge})
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == INVALID_TOKEN


@pytest.mark.parametrize(
    "value",
    ["Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtZm9yLXRlc3Rz", "Bearer", "Bearer ", "Token abc", ""],
    ids=["basic", "bearer-alone", "bearer-space", "other-scheme", "empty"],
)
async def test_no_bearer_token_is_unauthenticated(
    anon_client: httpx.AsyncClient, value: str
) -> None:
    response = await anon_client.get("/me", headers={"Authorization": value})
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_the_scheme_name_is_case_insensitive(
    anon_client: httpx.AsyncClient, token: str
) -> None:
    response = await anon_client.get("/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200, response.text


async def test_a_valid_token_of_basic_auth_scheme_is_not_accepted(
    anon_client: httpx.AsyncClient, token: str
) -> None:
    response = await anon_client.get("/me", headers={"Authorization": f"Basic {token}"})
    assert_problem(response, 401, "unauthenticated")


# --- tokens across instances -----------------------------------------------------------------


async def test_another_instance_on_the_same_database_accepts_the_token(
    start_app: StartApp,
) -> None:
    first, second = await start_app(), await start_app()
    async with client_for(first) as a, client_for(second) as b:
        tokens = await log_in(a)
        body = await assert_accepted(b, tokens["access_token"])
        assert body["session"]["id"] == tokens["session_id"]
        jwks_a = (await a.get("/.well-known/jwks.json")).json()
        jwks_b = (await b.get("/.well-known/jwks.json")).json()
        assert jwks_a == jwks_b


async def test_a_token_from_another_database_is_refused(
    start_app: StartApp, tmp_path: Path
) -> None:
    ours = await start_app()
    foreign = await start_app(database_url=f"sqlite+aiosqlite:///{tmp_path / 'foreign.db'}")
    async with client_for(ours) as a, client_for(foreign) as b:
        stranger = (await log_in(b))["access_token"]
        await assert_accepted(b, stranger)
        await assert_refused(a, stranger)
        await assert_refused(a, stranger)
        mine = (await log_in(a))["access_token"]
        await assert_refused(b, mine)


async def test_another_issuer_or_audience_on_shared_keys_is_refused(
    start_app: StartApp,
) -> None:
    ours = await start_app()
    other_issuer = await start_app(issuer="https://other.example.test")
    other_audience = await start_app(jwt_audience="someone-else")
    async with client_for(ours) as a:
        for app in (other_issuer, other_audience):
            async with client_for(app) as other:
                token = (await log_in(other))["access_token"]
                await assert_accepted(other, token)
                # Signed with the very key ``ours`` verifies with, but not for it.
                await assert_refused(a, token)


class ShiftedClock:
    """The real clock moved by a fixed offset."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
async def shifted_client(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[[timedelta], Any]]:
    """Clients to further instances on the same database whose clocks are off by an offset."""
    async with AsyncExitStack() as stack:

        async def make(offset: timedelta) -> httpx.AsyncClient:
            container = build_container(make_settings(), clock=ShiftedClock(offset))
            app = create_app(container=container)
            await stack.enter_async_context(app.router.lifespan_context(app))
            return await stack.enter_async_context(client_for(app))

        yield make


@pytest.mark.parametrize(
    "offset",
    [timedelta(hours=-1), timedelta(seconds=-(600 + 45)), timedelta(minutes=5)],
    ids=["expired-long-ago", "expired-beyond-leeway", "not-yet-valid"],
)
async def test_expired_and_future_tokens_are_refused(
    anon_client: httpx.AsyncClient,
    shifted_client: Callable[[timedelta], Any],
    offset: timedelta,
) -> None:
    other = await shifted_client(offset)
    token = (await log_in(other))["access_token"]
    await assert_refused(anon_client, token)


async def test_expired_within_leeway_is_still_accepted(
    anon_client: httpx.AsyncClient, shifted_client: Callable[[timedelta], Any]
) -> None:
    other = await shifted_client(timedelta(seconds=-(600 + 10)))
    token = (await log_in(other))["access_token"]
    await assert_accepted(anon_client, token)
