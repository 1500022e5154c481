"""Interoperability: independent JOSE libraries verify our tokens from the JWKS alone, agree
on our key ids, and sign tokens our codec accepts."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwcrypto import jwk as jwcrypto_jwk  # type: ignore[import-untyped]
from jwcrypto import jwt as jwcrypto_jwt

from truapi.adapters.security.jwt import JwtCodec, JwtKeyFactory, jwk_thumbprint
from truapi.adapters.security.secret_box import SecretBox
from truapi.domain.errors import InvalidToken
from truapi.domain.tokens import AccessClaims, SigningKey

ISSUER = "https://id.example.test"
AUDIENCE = "truapi"
ALGORITHMS = ["ES256", "RS256", "EdDSA"]

RFC_7638_KEY = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC_7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.fixture(scope="module")
def box() -> SecretBox:
    return SecretBox([b"I" * 32])


@pytest.fixture(scope="module")
def keys(box: SecretBox) -> dict[str, SigningKey]:
    factory = JwtKeyFactory(box)
    now = datetime.now(UTC)
    return {alg: factory.generate(alg, now) for alg in ALGORITHMS}


@pytest.fixture(scope="module")
def codec(box: SecretBox, keys: dict[str, SigningKey]) -> JwtCodec:
    codec = JwtCodec(box, issuer=ISSUER, audience=AUDIENCE, leeway_s=30)
    codec.load_keys(list(keys.values()))
    return codec


def live_claims(**extra: Any) -> AccessClaims:
    now = int(time.time())
    return AccessClaims(
        iss=ISSUER,
        sub="user-1",
        aud=AUDIENCE,
        exp=now + 600,
        iat=now,
        nbf=now,
        jti="jti-1",
        sid="sid-1",
        tid="tid-1",
        scope="openid",
        auth_time=now,
        amr=("pwd", "otp"),
        acr="aal2",
        **extra,
    )


def codec_for(box: SecretBox, key: SigningKey) -> JwtCodec:
    codec = JwtCodec(box, issuer=ISSUER, audience=AUDIENCE, leeway_s=30)
    codec.load_keys([key])
    return codec


def private_pem(box: SecretBox, key: SigningKey) -> bytes:
    der = box.open(key.private_key_encrypted, key.kid.encode())
    private = serialization.load_der_private_key(der, password=None)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_rfc_7638_example_agrees_with_jwcrypto() -> None:
    assert jwk_thumbprint(RFC_7638_KEY) == RFC_7638_THUMBPRINT
    assert jwcrypto_jwk.JWK(**RFC_7638_KEY).thumbprint() == RFC_7638_THUMBPRINT


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_kid_is_the_thumbprint_jwcrypto_computes(keys: dict[str, SigningKey], alg: str) -> None:
    key = keys[alg]
    assert jwcrypto_jwk.JWK(**key.public_jwk).thumbprint() == key.kid


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_jwcrypto_verifies_our_tokens_from_the_jwks_alone(
    box: SecretBox, codec: JwtCodec, keys: dict[str, SigningKey], alg: str
) -> None:
    claims = live_claims(username="alice")
    token = codec_for(box, keys[alg]).encode(claims)
    keyset = jwcrypto_jwk.JWKSet.from_json(json.dumps(codec.jwks()))
    assert all(not k.has_private for k in keyset["keys"])

    verified = jwcrypto_jwt.JWT(jwt=token, key=keyset, algs=[alg], expected_type="JWS")
    assert json.loads(verified.claims) == claims.as_dict()
    assert json.loads(verified.header) == {"alg": alg, "typ": "at+jwt", "kid": keys[alg].kid}


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_verifies_our_tokens_from_the_jwks_alone(
    box: SecretBox, codec: JwtCodec, keys: dict[str, SigningKey], alg: str
) -> None:
    claims = live_claims()
    token = codec_for(box, keys[alg]).encode(claims)
    keyset = pyjwt.PyJWKSet.from_dict(codec.jwks())
    verified = pyjwt.decode(
        token,
        keyset[keys[alg].kid].key,
        algorithms=[alg],
        audience=AUDIENCE,
        issuer=ISSUER,
    )
    assert verified == claims.as_dict()


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_we_verify_tokens_jwcrypto_signs(
    box: SecretBox, codec: JwtCodec, keys: dict[str, SigningKey], alg: str
) -> None:
    key = keys[alg]
    claims = live_claims()
    token = jwcrypto_jwt.JWT(
        header={"alg": alg, "typ": "at+jwt", "kid": key.kid}, claims=claims.as_dict()
    )
    token.make_signed_token(jwcrypto_jwk.JWK.from_pem(private_pem(box, key)))
    assert codec.decode(token.serialize()) == claims


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_we_verify_tokens_pyjwt_signs(
    box: SecretBox, codec: JwtCodec, keys: dict[str, SigningKey], alg: str
) -> None:
    key = keys[alg]
    claims = live_claims()
    token = pyjwt.encode(
        claims.as_dict(),
        private_pem(box, key),
        algorithm=alg,
        headers={"kid": key.kid, "typ": "at+jwt"},
    )
    assert codec.decode(token) == claims
    # pyjwt's default "typ": "JWT" is not an access token.
    plain_jwt = pyjwt.encode(
        claims.as_dict(), private_pem(box, key), algorithm=alg, headers={"kid": key.kid}
    )
    with pytest.raises(InvalidToken) as caught:
        codec.decode(plain_jwt)
    assert caught.value.reason == "type"
