"""RFC 9068 access tokens (JWS compact, ES256 / RS256 / EdDSA) and their signing keys.

Verification is a small strict JOSE parser of our own rather than a general JWT library: it
accepts exactly the header we issue (``alg``, ``typ``, ``kid``), ties ``alg`` to the key named
by ``kid``, and verifies with key objects loaded once, which keeps the hot path close to the
cost of the signature check itself.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from truapi.adapters.security.secret_box import SecretBox
from truapi.domain.errors import InvalidToken, KeyStoreUnreadable
from truapi.domain.tokens import ACCESS_TOKEN_TYPE, AccessClaims, KeyState, SigningKey

SUPPORTED_ALGORITHMS: Final = frozenset({"ES256", "RS256", "EdDSA"})
MAX_TOKEN_SIZE: Final = 8192
#: 2048-bit RSA: the RFC 7518 minimum and what every verifier accepts; RS256 is offered for
#: compatibility, ES256 (the default) is the stronger and faster choice.
RSA_KEY_SIZE: Final = 2048

_TYPES: Final = frozenset({ACCESS_TOKEN_TYPE, "application/" + ACCESS_TOKEN_TYPE})
_HEADER_MEMBERS: Final = frozenset({"alg", "typ", "kid"})
_B64URL_ALPHABET: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_FROM_STANDARD: Final = bytes.maketrans(b"+/", b"-_")
# Indexed by length % 4; a remainder of 1 is never valid base64 and stays an error.
_PADDING: Final = (b"", b"=", b"==", b"=")
# Characters that may end a segment of length % 4 == 2 (4 unused bits) or == 3 (2 unused bits).
_CANONICAL_LAST: Final = {2: _B64URL_ALPHABET[::16], 3: _B64URL_ALPHABET[::4]}
_REQUIRED_MEMBERS: Final = {
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
    "OKP": ("crv", "kty", "x"),
}
_PUBLIC_MEMBERS: Final = ("kty", "crv", "x", "y", "n", "e", "alg", "use", "kid")
_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())
_SHA256: Final = hashes.SHA256()
_PKCS1V15: Final = padding.PKCS1v15()

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


def _b64url(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_FROM_STANDARD).rstrip(b"=")


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return _b64url(data).decode("ascii")


def _b64url_decode(segment: bytes) -> bytes:
    """Decode one base64url segment already known to hold only URL-safe characters."""
    return binascii.a2b_base64(
        segment.translate(_TO_STANDARD) + _PADDING[len(segment) % 4], strict_mode=True
    )


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url): the required members only, sorted, compact."""
    required = {name: jwk[name] for name in _REQUIRED_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def _uint(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _public_jwk(public: PublicKey) -> dict[str, Any]:
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            # RFC 7518 §6.2.1.2: coordinates are the full field size, leading zeros kept.
            "x": b64url_encode(numbers.x.to_bytes(32, "big")),
            "y": b64url_encode(numbers.y.to_bytes(32, "big")),
        }
    if isinstance(public, rsa.RSAPublicKey):
        rsa_numbers = public.public_numbers()
        return {"kty": "RSA", "n": _uint(rsa_numbers.n), "e": _uint(rsa_numbers.e)}
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}


def _key_matches(algorithm: str, key: PrivateKey) -> bool:
    if algorithm == "ES256":
        return isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
    if algorithm == "RS256":
        return isinstance(key, rsa.RSAPrivateKey) and key.key_size >= RSA_KEY_SIZE
    return isinstance(key, ed25519.Ed25519PrivateKey)


class JwtKeyFactory:
    """Generates signing keys; the private part is PKCS#8 DER sealed with the ``kid`` as aad."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def generate(self, algorithm: str, now: datetime) -> SigningKey:
        private: PrivateKey
        if algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
        elif algorithm == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            raise ValueError(f"unsupported signing algorithm {algorithm!r}")
        jwk = _public_jwk(private.public_key())
        kid = jwk_thumbprint(jwk)
        jwk.update(alg=algorithm, use="sig", kid=kid)
        der = private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return SigningKey(
            kid=kid,
            algorithm=algorithm,
            state=KeyState.ACTIVE,
            public_jwk=jwk,
            private_key_encrypted=self._box.seal(der, kid.encode("utf-8")),
            created_at=now,
        )


@dataclass(frozen=True, slots=True)
class _LoadedKey:
    kid: str
    algorithm: str
    private: PrivateKey
    public: PublicKey
    jwk: dict[str, Any]
    verify: Callable[[bytes, bytes], bool]
    header: str
    """The encoded protected header tokens from this key start with."""


@dataclass(frozen=True, slots=True)
class _KeyRing:
    by_kid: dict[str, _LoadedKey]
    by_header: dict[bytes, _LoadedKey]
    """Keys by the exact encoded header we issue, so our own tokens skip header parsing."""
    signer: _LoadedKey | None
    jwks: tuple[dict[str, Any], ...]


_EMPTY = _KeyRing(by_kid={}, by_header={}, signer=None, jwks=())


def _sign(key: _LoadedKey, data: bytes) -> bytes:
    private = key.private
    if isinstance(private, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(private.sign(data, _ECDSA_SHA256))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(data, _PKCS1V15, _SHA256)
    return private.sign(data)


def _verifier(public: PublicKey) -> Callable[[bytes, bytes], bool]:
    """A ``verify(signature, signing_input)`` bound to one key, chosen once at load time."""
    if isinstance(public, ec.EllipticCurvePublicKey):

        def verify_es256(signature: bytes, data: bytes) -> bool:
            # JWS carries raw R||S (RFC 7518 §3.4); a DER signature here is malformed.
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            try:
                public.verify(der, data, _ECDSA_SHA256)
            except (InvalidSignature, ValueError):
                return False
            return True

        return verify_es256
    if isinstance(public, rsa.RSAPublicKey):
        size = (public.key_size + 7) // 8

        def verify_rs256(signature: bytes, data: bytes) -> bool:
            if len(signature) != size:
                return False
            try:
                public.verify(signature, data, _PKCS1V15, _SHA256)
            except (InvalidSignature, ValueError):
                return False
            return True

        return verify_rs256

    def verify_eddsa(signature: bytes, data: bytes) -> bool:
        if len(signature) != 64:
            return False
        try:
            public.verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    return verify_eddsa


class JwtCodec:
    """Issues and strictly verifies access tokens with preloaded signing keys."""

    def __init__(
        self,
        box: SecretBox,
        *,
        issuer: str,
        audience: str,
        leeway_s: int,
        allowed_algorithms: frozenset[str] | None = None,
        now: Callable[[], float] | None = None,
    ) -> None:
        allowed = SUPPORTED_ALGORITHMS if allowed_algorithms is None else allowed_algorithms
        if not allowed or not allowed <= SUPPORTED_ALGORITHMS:
            raise ValueError(
                f"allowed_algorithms must be a subset of {sorted(SUPPORTED_ALGORITHMS)}"
            )
        self._box = box
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s
        self._allowed = allowed
        self._now = now or time.time
        self._ring = _EMPTY

    def load_keys(self, keys: Sequence[SigningKey]) -> None:
        """Replace the loaded keys with the active and retiring ones of ``keys``.

        Keys whose algorithm is not allowed are left out. Raises ``KeyStoreUnreadable`` when a
        private part cannot be decrypted or does not match its ``kid``."""
        loaded: list[tuple[SigningKey, _LoadedKey]] = []
        for key in keys:
            if key.state is KeyState.RETIRED or key.algorithm not in self._allowed:
                continue
            loaded.append((key, self._load(key)))
        loaded.sort(key=lambda pair: (pair[0].created_at, pair[0].kid), reverse=True)
        signer = next((lk for sk, lk in loaded if sk.state is KeyState.ACTIVE), None)
        # One attribute swap, so a concurrent decode sees either the old ring or the new one.
        self._ring = _KeyRing(
            by_kid={lk.kid: lk for _, lk in loaded},
            by_header={lk.header.encode("ascii"): lk for _, lk in loaded},
            signer=signer,
            jwks=tuple(lk.jwk for _, lk in loaded),
        )

    def _load(self, key: SigningKey) -> _LoadedKey:
        try:
            der = self._box.open(key.private_key_encrypted, key.kid.encode("utf-8"))
        except KeyStoreUnreadable as exc:
            raise KeyStoreUnreadable(
                f"Signing key {key.kid} cannot be decrypted with the configured encryption "
                "keys (APP_ENCRYPTION_KEYS, or APP_SECRET_KEY when that is unset)."
            ) from exc
        try:
            private = serialization.load_der_private_key(der, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyStoreUnreadable(f"Signing key {key.kid} is not a valid private key.") from exc
        if not isinstance(
            private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
        ) or not _key_matches(key.algorithm, private):
            raise KeyStoreUnreadable(f"Signing key {key.kid} is not a {key.algorithm} key.")
        public = private.public_key()
        jwk = _public_jwk(public)
        if jwk_thumbprint(jwk) != key.kid:
            raise KeyStoreUnreadable(f"Signing key {key.kid} does not match its kid.")
        jwk.update(alg=key.algorithm, use="sig", kid=key.kid)
        header = json.dumps(
            {"alg": key.algorithm, "typ": ACCESS_TOKEN_TYPE, "kid": key.kid},
            separators=(",", ":"),
        )
        return _LoadedKey(
            kid=key.kid,
            algorithm=key.algorithm,
            private=private,
            public=public,
            jwk=jwk,
            verify=_verifier(public),
            header=b64url_encode(header.encode("utf-8")),
        )

    def has_key(self, kid: str) -> bool:
        return kid in self._ring.by_kid

    @property
    def signing_kid(self) -> str | None:
        signer = self._ring.signer
        return signer.kid if signer is not None else None

    def encode(self, claims: AccessClaims) -> str:
        signer = self._ring.signer
        if signer is None:
            raise RuntimeError("no active signing key is loaded")
        payload = json.dumps(claims.as_dict(), separators=(",", ":")).encode("utf-8")
        signing_input = f"{signer.header}.{b64url_encode(payload)}"
        signature = _sign(signer, signing_input.encode("ascii"))
        return f"{signing_input}.{b64url_encode(signature)}"

    def peek_kid(self, token: str) -> str | None:
        try:
            raw, first, _ = _split(token)
            key = self._ring.by_header.get(raw[:first])
            if key is not None:
                return key.kid
            kid = _json_object(raw[:first]).get("kid")
        except InvalidToken:
            return None
        return kid if type(kid) is str else None

    def decode(self, token: str) -> AccessClaims:
        raw, first, second = _split(token)
        ring = self._ring
        key = ring.by_header.get(raw[:first])
        if key is None:
            key = _key_for(_json_object(raw[:first]), ring)
        encoded_signature = raw[second + 1 :]
        try:
            signature = _b64url_decode(encoded_signature)
        except binascii.Error:
            raise InvalidToken("malformed") from None
        # Non-zero unused bits in the last character would spell one signature several ways.
        canonical = _CANONICAL_LAST.get(len(encoded_signature) % 4)
        if canonical is not None and encoded_signature[-1] not in canonical:
            raise InvalidToken("malformed")
        if not key.verify(signature, raw[:second]):
            raise InvalidToken("signature")
        return self._claims(_json_object(raw[first + 1 : second]))

    def _claims(self, c: dict[str, Any]) -> AccessClaims:
        get = c.get
        if get("iss") != self._issuer:
            raise InvalidToken("issuer")
        aud = get("aud")
        if aud != self._audience and not (type(aud) is list and self._audience in aud):
            raise InvalidToken("audience")
        # type() rather than isinstance(): bool is an int, and a float exp is another claim.
        exp, iat, nbf = get("exp"), get("iat"), get("nbf")
        if type(exp) is not int or type(iat) is not int or type(nbf) is not int:
            raise InvalidToken("claims")
        now = self._now()
        if exp <= now - self._leeway:
            raise InvalidToken("expired")
        if nbf > now + self._leeway or iat > now + self._leeway:
            raise InvalidToken("not_yet_valid")
        sub, jti, sid, tid = get("sub"), get("jti"), get("sid"), get("tid")
        scope, acr, auth_time, amr = get("scope"), get("acr"), get("auth_time"), get("amr")
        username = get("username")
        if (
            type(sub) is not str
            or type(jti) is not str
            or type(sid) is not str
            or type(tid) is not str
            or not (sub and jti and sid and tid)
            or type(scope) is not str
            or type(acr) is not str
            or type(auth_time) is not int
            or type(amr) is not list
            or not all(type(method) is str for method in amr)
            or (username is not None and type(username) is not str)
        ):
            raise InvalidToken("claims")
        return AccessClaims(
            iss=self._issuer,
            sub=sub,
            aud=self._audience,
            exp=exp,
            iat=iat,
            nbf=nbf,
            jti=jti,
            sid=sid,
            tid=tid,
            scope=scope,
            auth_time=auth_time,
            amr=tuple(amr),
            acr=acr,
            username=username,
        )

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {name: jwk[name] for name in _PUBLIC_MEMBERS if name in jwk}
                for jwk in self._ring.jwks
            ]
        }


def _split(token: str) -> tuple[bytes, int, int]:
    """The token as bytes and the positions of its two dots, if it is compact JWS at all."""
    if type(token) is not str:
        raise InvalidToken("malformed")
    if len(token) > MAX_TOKEN_SIZE:
        raise InvalidToken("too_large")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken("malformed") from None
    # Deleting the alphabet must leave exactly the two dots (a regex costs 4x as much).
    if raw.translate(None, _B64URL_ALPHABET) != b"..":
        raise InvalidToken("malformed")
    first, second = raw.index(b"."), raw.rindex(b".")
    if first == 0 or second == first + 1 or second == len(raw) - 1:
        raise InvalidToken("malformed")
    return raw, first, second


def _json_object(segment: bytes) -> dict[str, Any]:
    try:
        # Decoded here rather than by json.loads, which would also take UTF-16 and UTF-32.
        value = json.loads(_b64url_decode(segment).decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidToken("malformed") from None
    if type(value) is not dict:
        raise InvalidToken("malformed")
    return value


def _key_for(header: dict[str, Any], ring: _KeyRing) -> _LoadedKey:
    """The loaded key a parsed header names, if the header is exactly one we accept."""
    if header.keys() != _HEADER_MEMBERS:
        raise InvalidToken(_header_problem(header))
    kid = header["kid"]
    key = ring.by_kid.get(kid) if type(kid) is str else None
    if key is None:
        raise InvalidToken("kid")
    if header["alg"] != key.algorithm:
        raise InvalidToken("algorithm")
    typ = header["typ"]
    if type(typ) is not str or typ.lower() not in _TYPES:
        raise InvalidToken("type")
    return key


def _header_problem(header: dict[str, Any]) -> str:
    if not header.keys() <= _HEADER_MEMBERS:
        # jku, x5u, jwk, x5c, crit, b64 and anything else we never issue.
        return "header"
    if "alg" not in header:
        return "algorithm"
    if "kid" not in header:
        return "kid"
    return "type"
