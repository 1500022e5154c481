"""Access-token codec: round trips, key handling, and the attacks verification must refuse."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truapi.adapters.security.jwt import (
    MAX_TOKEN_SIZE,
    JwtCodec,
    JwtKeyFactory,
    PrivateKey,
    jwk_thumbprint,
)
from truapi.adapters.security.secret_box import SecretBox
from truapi.domain.errors import InvalidToken, KeyStoreUnreadable
from truapi.domain.tokens import AccessClaims, KeyState, SigningKey

ISSUER = "https://id.example.test"
AUDIENCE = "truapi"
LEEWAY = 30
NOW = 1_750_000_000
T0 = datetime(2025, 1, 1, tzinfo=UTC)
ALGORITHMS = ["ES256", "RS256", "EdDSA"]

Signer = Callable[[bytes], bytes]


class Clock:
    def __init__(self) -> None:
        self.now: float = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def box() -> SecretBox:
    return SecretBox([b"E" * 32])


@pytest.fixture(scope="module")
def keys(box: SecretBox) -> dict[str, SigningKey]:
    factory = JwtKeyFactory(box)
    return {alg: factory.generate(alg, T0) for alg in ALGORITHMS}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_codec(box: SecretBox, clock: Clock) -> Callable[..., JwtCodec]:
    def make(*signing_keys: SigningKey, **options: Any) -> JwtCodec:
        codec = JwtCodec(
            box, issuer=ISSUER, audience=AUDIENCE, leeway_s=LEEWAY, now=clock, **options
        )
        codec.load_keys(signing_keys)
        return codec

    return make


@pytest.fixture
def es(make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey]) -> JwtCodec:
    return make_codec(keys["ES256"])


def claims(**changes: Any) -> AccessClaims:
    base = AccessClaims(
        iss=ISSUER,
        sub="0190f3b0-7c1e-7a55-8f00-3d1c2b4a5e6f",
        aud=AUDIENCE,
        exp=NOW + 600,
        iat=NOW,
        nbf=NOW,
        jti="0190f3b0-7c1e-7a55-8f00-3d1c2b4a5e70",
        sid="0190f3b0-7c1e-7a55-8f00-3d1c2b4a5e71",
        tid="0190f3b0-7c1e-7a55-8f00-3d1c2b4a5e72",
        scope="openid",
        auth_time=NOW - 5,
        amr=("pwd",),
        acr="aal1",
    )
    return dataclasses.replace(base, **changes)


def payload(**changes: Any) -> dict[str, Any]:
    """Valid claims as a dict; a change to ``...`` (Ellipsis) removes that claim."""
    body = claims().as_dict()
    for name, value in changes.items():
        if value is ...:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def private_key(box: SecretBox, key: SigningKey) -> PrivateKey:
    der = box.open(key.private_key_encrypted, key.kid.encode())
    loaded = serialization.load_der_private_key(der, password=None)
    assert isinstance(
        loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    )
    return loaded


def jose_signer(private: PrivateKey) -> Signer:
    """A correct JWS signer for the key (raw R||S for ECDSA)."""

    def sign(data: bytes) -> bytes:
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if isinstance(private, rsa.RSAPrivateKey):
            return private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return private.sign(data)

    return sign


def hmac_sha256(secret: bytes, data: bytes) -> bytes:
    return hmac.digest(secret, data, "sha256")


def forge(header: dict[str, Any] | str, body: dict[str, Any] | str, sign: Signer) -> str:
    """A compact JWS with exactly this header and payload (pre-encoded when given as str)."""
    encoded_header = header if isinstance(header, str) else b64json(header)
    encoded_body = body if isinstance(body, str) else b64json(body)
    signing_input = f"{encoded_header}.{encoded_body}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


@pytest.fixture
def es_sign(box: SecretBox, keys: dict[str, SigningKey]) -> Signer:
    return jose_signer(private_key(box, keys["ES256"]))


@pytest.fixture
def es_header(keys: dict[str, SigningKey]) -> dict[str, Any]:
    return {"alg": "ES256", "typ": "at+jwt", "kid": keys["ES256"].kid}


def reason(codec: JwtCodec, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        codec.decode(token)
    return caught.value.reason


def segments(token: str) -> list[bytes]:
    return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]


# --- keys -------------------------------------------------------------------------------


def test_rfc_7638_example_thumbprint() -> None:
    # RFC 7638 §3.1, with "alg" and "kid", which the thumbprint must ignore.
    jwk = {
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
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    ("alg", "members"),
    [
        ("ES256", {"kty": "EC", "crv": "P-256"}),
        ("RS256", {"kty": "RSA", "e": "AQAB"}),
        ("EdDSA", {"kty": "OKP", "crv": "Ed25519"}),
    ],
)
def test_generated_key_shape(
    keys: dict[str, SigningKey], box: SecretBox, alg: str, members: dict[str, str]
) -> None:
    key = keys[alg]
    assert key.algorithm == alg
    assert key.state is KeyState.ACTIVE
    assert key.created_at == T0
    jwk = key.public_jwk
    assert jwk.items() >= {**members, "alg": alg, "use": "sig", "kid": key.kid}.items()
    assert not {"d", "p", "q", "dp", "dq", "qi"} & jwk.keys()
    assert key.kid == jwk_thumbprint(jwk)
    assert len(base64.urlsafe_b64decode(key.kid + "=")) == 32
    if alg == "ES256":
        assert len(jwk["x"]) == len(jwk["y"]) == 43  # 32 bytes, leading zeros kept
    if alg == "RS256":
        private = private_key(box, key)
        assert isinstance(private, rsa.RSAPrivateKey)
        assert private.key_size == 2048


def test_private_part_is_sealed_to_its_kid(keys: dict[str, SigningKey], box: SecretBox) -> None:
    key = keys["ES256"]
    der = box.open(key.private_key_encrypted, key.kid.encode())
    assert der not in key.private_key_encrypted
    serialization.load_der_private_key(der, password=None)  # PKCS#8 DER
    with pytest.raises(KeyStoreUnreadable):
        box.open(key.private_key_encrypted, keys["EdDSA"].kid.encode())


def test_unsupported_algorithm_is_refused(box: SecretBox) -> None:
    with pytest.raises(ValueError, match="unsupported"):
        JwtKeyFactory(box).generate("HS256", T0)


def test_allowed_algorithms_must_be_supported(box: SecretBox) -> None:
    for allowed in (frozenset({"HS256"}), frozenset(), frozenset({"ES256", "none"})):
        with pytest.raises(ValueError, match="allowed_algorithms"):
            JwtCodec(box, issuer=ISSUER, audience=AUDIENCE, leeway_s=0, allowed_algorithms=allowed)


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_round_trip(
    make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey], alg: str
) -> None:
    codec = make_codec(keys[alg])
    for original in (claims(), claims(username="alice", amr=("pwd", "otp"), acr="aal2")):
        token = codec.encode(original)
        assert codec.decode(token) == original
        header = json.loads(segments(token)[0])
        assert header == {"alg": alg, "typ": "at+jwt", "kid": keys[alg].kid}
        assert codec.peek_kid(token) == keys[alg].kid


def test_accepts_media_type_forms_of_typ_and_any_member_order(
    es: JwtCodec, es_sign: Signer, keys: dict[str, SigningKey]
) -> None:
    kid = keys["ES256"].kid
    for typ in ("application/at+jwt", "AT+JWT", "Application/At+Jwt"):
        assert es.decode(forge({"kid": kid, "typ": typ, "alg": "ES256"}, payload(), es_sign))


def test_audience_may_be_a_list(es: JwtCodec, es_sign: Signer, es_header: dict[str, Any]) -> None:
    token = forge(es_header, payload(aud=["other", AUDIENCE]), es_sign)
    assert es.decode(token).aud == AUDIENCE


def test_extra_claims_are_ignored(es: JwtCodec, es_sign: Signer, es_header: dict[str, Any]) -> None:
    token = forge(es_header, payload(client_id="cli", cnf={"jkt": "x"}), es_sign)
    assert es.decode(token) == claims()


# --- attacks on the header --------------------------------------------------------------


def test_alg_none_unsigned(es: JwtCodec, keys: dict[str, SigningKey]) -> None:
    header = {"alg": "none", "typ": "at+jwt", "kid": keys["ES256"].kid}
    unsigned = f"{b64json(header)}.{b64json(payload())}."
    assert reason(es, unsigned) == "malformed"
    assert reason(es, unsigned + "AAAA") == "algorithm"
    header_no_kid = {"alg": "none", "typ": "at+jwt"}
    assert reason(es, f"{b64json(header_no_kid)}.{b64json(payload())}.AAAA") == "kid"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_hs256_signed_with_the_public_key(
    make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey], box: SecretBox, alg: str
) -> None:
    key = keys[alg]
    codec = make_codec(key)
    pem = (
        private_key(box, key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    for secret in (pem, json.dumps(key.public_jwk).encode(), json.dumps(codec.jwks()).encode()):
        token = forge(header, payload(), functools.partial(hmac_sha256, secret))
        assert reason(codec, token) == "algorithm"


def test_rs256_token_for_an_es256_kid(
    es: JwtCodec, keys: dict[str, SigningKey], box: SecretBox
) -> None:
    rsa_sign = jose_signer(private_key(box, keys["RS256"]))
    header = {"alg": "RS256", "typ": "at+jwt", "kid": keys["ES256"].kid}
    assert reason(es, forge(header, payload(), rsa_sign)) == "algorithm"


@pytest.mark.parametrize(
    "alg", ["ES384", "ES512", "PS256", "es256", "EdDSA", "", None, 1, ["ES256"]]
)
def test_other_algorithm_names_for_an_es256_kid(
    es: JwtCodec, es_sign: Signer, keys: dict[str, SigningKey], alg: Any
) -> None:
    header = {"alg": alg, "typ": "at+jwt", "kid": keys["ES256"].kid}
    assert reason(es, forge(header, payload(), es_sign)) == "algorithm"


@pytest.mark.parametrize("kid", ["unknown", "", None, 7, ["x"], {"k": 1}])
def test_unknown_or_non_string_kid(es: JwtCodec, es_sign: Signer, kid: Any) -> None:
    header = {"alg": "ES256", "typ": "at+jwt", "kid": kid}
    assert reason(es, forge(header, payload(), es_sign)) == "kid"


def test_missing_kid(es: JwtCodec, es_sign: Signer) -> None:
    assert reason(es, forge({"alg": "ES256", "typ": "at+jwt"}, payload(), es_sign)) == "kid"


def test_missing_alg(es: JwtCodec, es_sign: Signer, keys: dict[str, SigningKey]) -> None:
    header = {"typ": "at+jwt", "kid": keys["ES256"].kid}
    assert reason(es, forge(header, payload(), es_sign)) == "algorithm"


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("jku", "https://attacker.example/jwks.json"),
        ("x5u", "https://attacker.example/cert.pem"),
        ("jwk", {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
        ("x5c", ["MIIB"]),
        ("crit", ["exp"]),
        ("b64", False),
        ("cty", "JWT"),
        ("zip", "DEF"),
    ],
)
def test_injected_header_members_are_refused_even_with_a_valid_signature(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any], member: str, value: Any
) -> None:
    token = forge({**es_header, member: value}, payload(), es_sign)
    assert reason(es, token) == "header"


def test_embedded_jwk_of_the_attackers_own_key_is_refused(es: JwtCodec) -> None:
    attacker = ec.generate_private_key(ec.SECP256R1())
    numbers = attacker.public_key().public_numbers()
    embedded = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(numbers.x.to_bytes(32, "big")),
        "y": b64(numbers.y.to_bytes(32, "big")),
    }
    embedded_kid = jwk_thumbprint(embedded)
    token = forge(
        {"alg": "ES256", "typ": "at+jwt", "kid": embedded_kid, "jwk": embedded},
        payload(),
        jose_signer(attacker),
    )
    assert reason(es, token) == "header"


@pytest.mark.parametrize(
    "typ", ["JWT", "jwt", "at+JWS", "application/jwt", "", None, 1, ["at+jwt"]]
)
def test_wrong_typ(es: JwtCodec, es_sign: Signer, keys: dict[str, SigningKey], typ: Any) -> None:
    header = {"alg": "ES256", "typ": typ, "kid": keys["ES256"].kid}
    assert reason(es, forge(header, payload(), es_sign)) == "type"


def test_missing_typ(es: JwtCodec, es_sign: Signer, keys: dict[str, SigningKey]) -> None:
    header = {"alg": "ES256", "kid": keys["ES256"].kid}
    assert reason(es, forge(header, payload(), es_sign)) == "type"


@pytest.mark.parametrize("header", [[], "at+jwt", 1, None, True])
def test_non_object_header(es: JwtCodec, es_sign: Signer, header: Any) -> None:
    token = forge(b64json(header), payload(), es_sign)
    assert reason(es, token) == "malformed"


def test_header_in_utf16_is_refused(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any]
) -> None:
    token = forge(b64(json.dumps(es_header).encode("utf-16")), payload(), es_sign)
    assert reason(es, token) == "malformed"


# --- attacks on the signature and the payload --------------------------------------------


def test_tampered_payload(es: JwtCodec, es_sign: Signer, es_header: dict[str, Any]) -> None:
    token = forge(es_header, payload(), es_sign)
    head, _, signature = token.split(".")
    escalated = b64json(payload(scope="openid admin", sub="someone-else"))
    assert reason(es, f"{head}.{escalated}.{signature}") == "signature"


def test_tampered_header(es: JwtCodec, es_sign: Signer, es_header: dict[str, Any]) -> None:
    token = forge(es_header, payload(), es_sign)
    _, body, signature = token.split(".")
    other = b64json({**es_header, "typ": "application/at+jwt"})
    assert reason(es, f"{other}.{body}.{signature}") == "signature"


def test_every_single_character_change_is_refused(es: JwtCodec) -> None:
    token = es.encode(claims())
    alphabet = "AZaz09-_"
    for position in range(0, len(token), 7):
        if token[position] == ".":
            continue
        for replacement in alphabet:
            if replacement != token[position]:
                changed = token[:position] + replacement + token[position + 1 :]
                with pytest.raises(InvalidToken):
                    es.decode(changed)


def test_non_canonical_signature_encoding_is_refused(es: JwtCodec) -> None:
    token = es.encode(claims())
    # 64 bytes → 86 characters; the last one carries 4 unused bits that must be zero.
    last = token[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(last) | 1]
    assert twin != last
    assert segments(token[:-1] + twin)[2] == segments(token)[2]
    assert reason(es, token[:-1] + twin) == "malformed"


def test_der_encoded_es256_signature(
    es: JwtCodec, box: SecretBox, keys: dict[str, SigningKey], es_header: dict[str, Any]
) -> None:
    private = private_key(box, keys["ES256"])
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    token = forge(es_header, payload(), lambda data: private.sign(data, ec.ECDSA(hashes.SHA256())))
    assert reason(es, token) == "signature"


@pytest.mark.parametrize("length", [0, 1, 32, 63, 65, 128])
def test_wrong_es256_signature_length(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any], length: int
) -> None:
    token = forge(es_header, payload(), es_sign)
    signature = segments(token)[2]
    wrong = (signature * 3)[:length]
    head, body, _ = token.split(".")
    expected = "malformed" if length == 0 else "signature"
    assert reason(es, f"{head}.{body}.{b64(wrong)}") == expected


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_wrong_signature_length_other_algorithms(
    make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey], alg: str
) -> None:
    codec = make_codec(keys[alg])
    token = codec.encode(claims())
    head, body, _ = token.split(".")
    signature = segments(token)[2]
    for wrong in (signature[:-1], signature + b"\x00", b"\x00" * len(signature)):
        assert reason(codec, f"{head}.{body}.{b64(wrong)}") == "signature"


def test_zero_ecdsa_signature(es: JwtCodec, es_header: dict[str, Any]) -> None:
    assert reason(es, forge(es_header, payload(), lambda _data: b"\x00" * 64)) == "signature"


def test_signature_by_another_key_of_the_same_algorithm(
    es: JwtCodec, es_header: dict[str, Any]
) -> None:
    other = jose_signer(ec.generate_private_key(ec.SECP256R1()))
    assert reason(es, forge(es_header, payload(), other)) == "signature"


@pytest.mark.parametrize(
    "body",
    [
        b64(b"not json"),
        b64(b"\xff\xfe"),
        b64json([1, 2]),
        b64json("claims"),
        b64json(None),
        b64json(42),
        b64(b"[" * 2500 + b"]" * 2500),  # deeper than the recursion limit
        b64(b'{"iss": "x"'),
    ],
)
def test_non_json_or_non_object_payload(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any], body: str
) -> None:
    assert reason(es, forge(es_header, body, es_sign)) == "malformed"


# --- claims -----------------------------------------------------------------------------


def test_expiry_honours_the_leeway(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any], clock: Clock
) -> None:
    token = forge(es_header, payload(exp=NOW), es_sign)
    clock.now = NOW + LEEWAY - 1
    assert es.decode(token).exp == NOW
    clock.now = NOW + LEEWAY
    assert reason(es, token) == "expired"
    clock.now = NOW + 3600
    assert reason(es, token) == "expired"


def test_not_before_honours_the_leeway(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any]
) -> None:
    assert es.decode(forge(es_header, payload(nbf=NOW + LEEWAY), es_sign))
    assert reason(es, forge(es_header, payload(nbf=NOW + LEEWAY + 1), es_sign)) == "not_yet_valid"
    assert reason(es, forge(es_header, payload(iat=NOW + 3600), es_sign)) == "not_yet_valid"


def test_fractional_clock(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any], clock: Clock
) -> None:
    token = forge(es_header, payload(exp=NOW + 1), es_sign)
    clock.now = NOW + 1 + LEEWAY - 0.5
    assert es.decode(token)
    clock.now = NOW + 1 + LEEWAY + 0.5
    assert reason(es, token) == "expired"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"iss": "https://evil.example"}, "issuer"),
        ({"iss": ISSUER + "/"}, "issuer"),
        ({"iss": ...}, "issuer"),
        ({"iss": [ISSUER]}, "issuer"),
        ({"aud": "other"}, "audience"),
        ({"aud": ["other"]}, "audience"),
        ({"aud": []}, "audience"),
        ({"aud": ...}, "audience"),
        ({"aud": {AUDIENCE: 1}}, "audience"),
        ({"exp": ...}, "claims"),
        ({"exp": float(NOW + 600)}, "claims"),
        ({"exp": str(NOW + 600)}, "claims"),
        ({"exp": True}, "claims"),
        ({"exp": None}, "claims"),
        ({"iat": ...}, "claims"),
        ({"nbf": ...}, "claims"),
        ({"nbf": False}, "claims"),
        ({"sub": ...}, "claims"),
        ({"sub": ""}, "claims"),
        ({"sub": 1}, "claims"),
        ({"jti": ...}, "claims"),
        ({"sid": ...}, "claims"),
        ({"tid": ...}, "claims"),
        ({"tid": None}, "claims"),
        ({"scope": ...}, "claims"),
        ({"scope": ["openid"]}, "claims"),
        ({"auth_time": ...}, "claims"),
        ({"auth_time": "now"}, "claims"),
        ({"amr": ...}, "claims"),
        ({"amr": "pwd"}, "claims"),
        ({"amr": ["pwd", 1]}, "claims"),
        ({"acr": ...}, "claims"),
        ({"acr": 1}, "claims"),
        ({"username": 1}, "claims"),
    ],
)
def test_claims_are_checked(
    es: JwtCodec,
    es_sign: Signer,
    es_header: dict[str, Any],
    changes: dict[str, Any],
    expected: str,
) -> None:
    assert reason(es, forge(es_header, payload(**changes), es_sign)) == expected


def test_far_future_expiry_is_just_a_big_integer(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any]
) -> None:
    assert es.decode(forge(es_header, payload(exp=10**300), es_sign)).exp == 10**300


# --- shape and size ---------------------------------------------------------------------


def test_size_cap(es: JwtCodec, es_sign: Signer, es_header: dict[str, Any]) -> None:
    def token_with(padding_chars: int) -> str:
        return forge(es_header, payload(pad="p" * padding_chars), es_sign)

    near = next(
        t
        for n in range(5000, 6200)
        if len(t := token_with(n)) in (MAX_TOKEN_SIZE - 1, MAX_TOKEN_SIZE)
    )
    assert es.decode(near)
    over = token_with(6200)
    assert len(over) > MAX_TOKEN_SIZE
    assert reason(es, over) == "too_large"
    assert reason(es, "a" * (MAX_TOKEN_SIZE + 1)) == "too_large"
    assert es.peek_kid(over) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "a.b",
        "a..c",
        ".b.c",
        "a.b.",
        "a.b.c.d",
        "a.b.c.d.e",
        "eyJ+.eyJ/.abc=",
        "abc.def.ghi=",
        "abc def.ghi.jkl",
        "abc.def.ghi\n",
        "é.b.c",
        "a.b.c\x00",
        "a.b.c",
        "aaaaa.bbbbb.ccccc",
        "Bearer a.b.c",
    ],
)
def test_structurally_broken_tokens(es: JwtCodec, token: str) -> None:
    assert reason(es, token) == "malformed"
    assert es.peek_kid(token) is None


def test_extra_segments_around_a_valid_token(es: JwtCodec) -> None:
    token = es.encode(claims())
    for broken in (token + ".", "." + token, token + ".e30", token.replace(".", "..", 1)):
        assert reason(es, broken) == "malformed"


def test_non_string_input(es: JwtCodec) -> None:
    for value in (None, b"a.b.c", 1):
        assert reason(es, value) == "malformed"  # type: ignore[arg-type]
        assert es.peek_kid(value) is None  # type: ignore[arg-type]


def test_peek_kid(es: JwtCodec, es_sign: Signer) -> None:
    foreign = forge({"alg": "ES256", "kid": "someone-elses"}, payload(), es_sign)
    assert es.peek_kid(foreign) == "someone-elses"
    assert es.peek_kid(forge({"alg": "ES256", "kid": 3}, payload(), es_sign)) is None
    assert es.peek_kid(forge({"alg": "ES256"}, payload(), es_sign)) is None


# --- key sets and rotation --------------------------------------------------------------


def test_jwks_holds_only_public_members(
    make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey]
) -> None:
    codec = make_codec(*keys.values())
    published = codec.jwks()
    assert {k["kid"] for k in published["keys"]} == {k.kid for k in keys.values()}
    for jwk in published["keys"]:
        assert jwk.keys() <= {"kty", "crv", "x", "y", "n", "e", "alg", "use", "kid"}
        assert jwk["use"] == "sig"
    published["keys"][0]["kid"] = "mutated"
    assert "mutated" not in {k["kid"] for k in codec.jwks()["keys"]}


def test_signing_kid_is_the_newest_active_key(
    make_codec: Callable[..., JwtCodec], box: SecretBox
) -> None:
    factory = JwtKeyFactory(box)
    old = factory.generate("ES256", T0)
    new = factory.generate("EdDSA", T0 + timedelta(days=1))
    newest_retiring = dataclasses.replace(
        factory.generate("ES256", T0 + timedelta(days=2)), state=KeyState.RETIRING
    )
    codec = make_codec(new, newest_retiring, old)
    assert codec.signing_kid == new.kid
    assert json.loads(segments(codec.encode(claims()))[0])["kid"] == new.kid


def test_rotation_retiring_key_verifies_but_does_not_sign(
    make_codec: Callable[..., JwtCodec], box: SecretBox
) -> None:
    factory = JwtKeyFactory(box)
    old = factory.generate("ES256", T0)
    codec = make_codec(old)
    old_token = codec.encode(claims())

    new = factory.generate("ES256", T0 + timedelta(hours=1))
    retiring = dataclasses.replace(old, state=KeyState.RETIRING)
    codec.load_keys([retiring, new])
    assert codec.signing_kid == new.kid
    assert codec.decode(old_token) == claims()
    assert codec.peek_kid(codec.encode(claims())) == new.kid
    assert {k["kid"] for k in codec.jwks()["keys"]} == {old.kid, new.kid}
    assert codec.has_key(old.kid)

    # Retired: gone whether it is left out of the list or listed as retired.
    for loaded in ([new], [dataclasses.replace(old, state=KeyState.RETIRED), new]):
        codec.load_keys(loaded)
        assert reason(codec, old_token) == "kid"
        assert not codec.has_key(old.kid)
        assert [k["kid"] for k in codec.jwks()["keys"]] == [new.kid]


def test_only_retiring_keys_verify_but_cannot_sign(
    make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey]
) -> None:
    codec = make_codec(keys["ES256"])
    token = codec.encode(claims())
    codec.load_keys([dataclasses.replace(keys["ES256"], state=KeyState.RETIRING)])
    assert codec.signing_kid is None
    assert codec.decode(token)
    with pytest.raises(RuntimeError):
        codec.encode(claims())


def test_no_keys(box: SecretBox) -> None:
    codec = JwtCodec(box, issuer=ISSUER, audience=AUDIENCE, leeway_s=0)
    assert codec.jwks() == {"keys": []}
    assert codec.signing_kid is None
    with pytest.raises(RuntimeError):
        codec.encode(claims())
    assert reason(codec, "eyJhbGciOiJFUzI1NiJ9.e30.AAAA") == "kid"


def test_disallowed_algorithm_keys_are_not_loaded(
    make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey]
) -> None:
    rs_token = make_codec(keys["RS256"]).encode(claims())
    codec = make_codec(*keys.values(), allowed_algorithms=frozenset({"ES256"}))
    assert reason(codec, rs_token) == "kid"
    assert [k["alg"] for k in codec.jwks()["keys"]] == ["ES256"]


def test_key_sealed_under_another_box_is_unreadable(
    make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey]
) -> None:
    foreign = JwtKeyFactory(SecretBox([b"F" * 32])).generate("ES256", T0 + timedelta(days=1))
    codec = make_codec(keys["ES256"])
    with pytest.raises(KeyStoreUnreadable) as caught:
        codec.load_keys([keys["ES256"], foreign])
    assert foreign.kid in str(caught.value)
    # A failed reload keeps the keys that were loaded.
    assert codec.signing_kid == keys["ES256"].kid
    with pytest.raises(KeyStoreUnreadable):
        codec.load_keys([dataclasses.replace(foreign, state=KeyState.RETIRING)])
    codec.load_keys([dataclasses.replace(foreign, state=KeyState.RETIRED)])  # never opened


def test_private_part_swapped_between_keys_is_unreadable(
    make_codec: Callable[..., JwtCodec], keys: dict[str, SigningKey]
) -> None:
    swapped = dataclasses.replace(
        keys["ES256"], private_key_encrypted=keys["EdDSA"].private_key_encrypted
    )
    with pytest.raises(KeyStoreUnreadable):
        make_codec(swapped)


def test_private_part_that_does_not_match_its_kid_is_unreadable(
    make_codec: Callable[..., JwtCodec], box: SecretBox, keys: dict[str, SigningKey]
) -> None:
    kid = keys["ES256"].kid
    other = ec.generate_private_key(ec.SECP256R1())
    der = other.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    resealed = dataclasses.replace(keys["ES256"], private_key_encrypted=box.seal(der, kid.encode()))
    with pytest.raises(KeyStoreUnreadable, match="does not match"):
        make_codec(resealed)
    garbage = dataclasses.replace(keys["ES256"], private_key_encrypted=box.seal(b"x", kid.encode()))
    with pytest.raises(KeyStoreUnreadable, match="not a valid"):
        make_codec(garbage)
    mislabelled = dataclasses.replace(keys["ES256"], algorithm="EdDSA")
    with pytest.raises(KeyStoreUnreadable, match="not a EdDSA key"):
        make_codec(mislabelled)


# --- fuzzing ----------------------------------------------------------------------------

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def assert_only_invalid_token(codec: JwtCodec, token: str) -> None:
    with contextlib.suppress(InvalidToken):
        codec.decode(token)
    kid = codec.peek_kid(token)
    assert kid is None or isinstance(kid, str)


@FUZZ
@given(token=st.text(max_size=300))
def test_fuzz_arbitrary_text(es: JwtCodec, token: str) -> None:
    assert_only_invalid_token(es, token)


@FUZZ
@given(
    token=st.lists(
        st.text(
            alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.",
            max_size=120,
        ),
        min_size=1,
        max_size=5,
    ).map(".".join)
)
def test_fuzz_base64ish_text(es: JwtCodec, token: str) -> None:
    assert_only_invalid_token(es, token)


@FUZZ
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "typ", "kid", "jku", "crit"]), json_values, max_size=4
    ),
    body=json_values,
    signature=st.binary(max_size=80),
)
def test_fuzz_structured_tokens(
    es: JwtCodec, keys: dict[str, SigningKey], header: dict[str, Any], body: Any, signature: bytes
) -> None:
    if header.get("kid") == "ours":
        header["kid"] = keys["ES256"].kid
    with pytest.raises(InvalidToken):
        es.decode(f"{b64json(header)}.{b64json(body)}.{b64(signature)}")


@FUZZ
@given(body=st.dictionaries(st.sampled_from(sorted(payload())), json_values, max_size=13))
def test_fuzz_signed_claims(
    es: JwtCodec, es_sign: Signer, es_header: dict[str, Any], body: dict[str, Any]
) -> None:
    # Validly signed, arbitrary claims: either accepted as a whole or refused as InvalidToken.
    merged = {**payload(), **body}
    try:
        decoded = es.decode(forge(es_header, merged, es_sign))
    except InvalidToken:
        return
    assert (decoded.sub, decoded.jti, decoded.exp) == (merged["sub"], merged["jti"], merged["exp"])
