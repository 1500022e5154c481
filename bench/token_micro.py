"""Access-token verification cost against the bare signature check it cannot avoid.

``python -m bench.token_micro [--number N] [--repeat R]`` prints, for one ES256 token, the
median µs/op of ``cryptography``'s P-256 ``verify`` of its signature, of ``JwtCodec.decode``
(no cache: every call parses and verifies), and the median of their paired ratios
(target ≤ 1.6). Times are the thread's CPU time, so other load on the machine does not count.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from truapi.adapters.security.jwt import JwtCodec, JwtKeyFactory
from truapi.adapters.security.secret_box import SecretBox
from truapi.application.auth.authenticator import Authenticator
from truapi.domain.tokens import DEFAULT_SCOPE, AccessClaims

TARGET_RATIO = 1.6
ISSUER = "http://127.0.0.1:8000"
AUDIENCE = "truapi"


CACHE_HIT_TARGET_US = 5.0


def _per_op_us(fn: Callable[[], object], number: int) -> float:
    """CPU µs per call of ``fn``."""
    start = time.thread_time()
    for _ in range(number):
        fn()
    return (time.thread_time() - start) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=300, help="operations per repeat")
    parser.add_argument("--repeat", type=int, default=41, help="repeats (the median is kept)")
    args = parser.parse_args()

    box = SecretBox.from_settings(None, "bench-secret-key")
    key = JwtKeyFactory(box).generate("ES256", datetime.now(UTC))
    codec = JwtCodec(box, issuer=ISSUER, audience=AUDIENCE, leeway_s=30)
    codec.load_keys([key])
    now = int(time.time())
    token = codec.encode(
        AccessClaims(
            iss=ISSUER,
            sub="0190f3b0-7c1e-7a55-8f00-3d1c2b4a5e6f",
            aud=AUDIENCE,
            exp=now + 3600,
            iat=now,
            nbf=now,
            jti="0190f3b0-7c1e-7a55-8f00-3d1c2b4a5e70",
            sid="0190f3b0-7c1e-7a55-8f00-3d1c2b4a5e71",
            tid="0190f3b0-7c1e-7a55-8f00-3d1c2b4a5e72",
            scope=DEFAULT_SCOPE,
            auth_time=now,
            amr=("pwd",),
            acr="aal1",
            username="alice",
        )
    )

    private = serialization.load_der_private_key(
        box.open(key.private_key_encrypted, key.kid.encode()), password=None
    )
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    public = private.public_key()
    signing_input, _, encoded_signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(encoded_signature + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    data = signing_input.encode("ascii")
    algorithm = ec.ECDSA(hashes.SHA256())

    def bare() -> None:
        public.verify(der, data, algorithm)

    def ours() -> None:
        codec.decode(token)

    bare()
    ours()
    bare_runs: list[float] = []
    our_runs: list[float] = []
    ratios: list[float] = []
    for _ in range(args.repeat):
        # Short runs side by side, so a burst of load on the machine touches both alike.
        bare_us = _per_op_us(bare, args.number)
        our_us = _per_op_us(ours, args.number)
        bare_runs.append(bare_us)
        our_runs.append(our_us)
        ratios.append(our_us / bare_us)
    ratio = statistics.median(ratios)
    print(f"token: {len(token)} bytes, {args.repeat} repeats x {args.number} ops (median)")
    print(f"cryptography P-256 verify : {statistics.median(bare_runs):8.1f} µs/op")
    print(f"JwtCodec.decode ES256     : {statistics.median(our_runs):8.1f} µs/op")
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio                     : {ratio:8.2f}x (target ≤ {TARGET_RATIO}x) {verdict}")

    # A token seen before: the verified-token cache answers (with the revocation check).
    authenticator = Authenticator(codec, frozenset(), leeway_s=30, cache_size=10_000)
    authenticator.authenticate(token)
    hit_runs = [
        _per_op_us(lambda: authenticator.authenticate(token), args.number * 100)
        for _ in range(args.repeat)
    ]
    hit = statistics.median(hit_runs)
    verdict = "ok" if hit <= CACHE_HIT_TARGET_US else "OVER TARGET"
    target = f"(target ≤ {CACHE_HIT_TARGET_US} µs)"
    print(f"cache hit                 : {hit:8.2f} µs/op {target} {verdict}")


if __name__ == "__main__":
    main()
