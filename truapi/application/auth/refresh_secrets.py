"""Refresh-token secrets: high-entropy, opaque, and stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets

REFRESH_TOKEN_PREFIX = "trt_"  # noqa: S105 (a prefix, not a secret)
_MAX_LENGTH = 256


def new_refresh_secret() -> tuple[str, str]:
    """A fresh refresh token and the hash under which it is stored."""
    secret = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, hash_refresh_secret(secret)


def hash_refresh_secret(secret: str) -> str:
    # 256 random bits need no salt or stretching: a plain digest cannot be brute-forced.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_refresh_token(value: str) -> bool:
    return value.startswith(REFRESH_TOKEN_PREFIX) and len(value) <= _MAX_LENGTH
