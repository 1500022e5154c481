"""Tokens: access-token claims, refresh tokens and signing keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 (RFC 9068 §2.1 media type)
DEFAULT_SCOPE = "openid"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The claims of an RFC 9068 access token, as TruAPI issues and checks them."""

    iss: str
    sub: str
    aud: str
    exp: int
    iat: int
    nbf: int
    jti: str
    sid: str
    tid: str
    scope: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str
    username: str | None = None
    groups: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "iss": self.iss,
            "sub": self.sub,
            "aud": self.aud,
            "exp": self.exp,
            "iat": self.iat,
            "nbf": self.nbf,
            "jti": self.jti,
            "sid": self.sid,
            "tid": self.tid,
            "scope": self.scope,
            "auth_time": self.auth_time,
            "amr": list(self.amr),
            "acr": self.acr,
        }
        if self.username is not None:
            claims["username"] = self.username
        if self.groups is not None:
            claims["groups"] = list(self.groups)
        return claims


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """One link of a session's refresh chain, stored by the hash of its secret only.

    The chain of a session is its family: presenting a link already used revokes the whole
    family and the session (RFC 9700 §4.14.2)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID
    token_hash: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    replaced_by: uuid.UUID | None = None
    revoked_at: datetime | None = None


class KeyState(StrEnum):
    """Signing key life: signs (active), only verifies (retiring), gone from JWKS (retired)."""

    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A JWT signing key. ``kid`` is the RFC 7638 thumbprint of ``public_jwk``; the private
    part is stored only encrypted (``private_key_encrypted``, bound to the ``kid``)."""

    kid: str
    algorithm: str
    state: KeyState
    public_jwk: dict[str, Any]
    private_key_encrypted: bytes = field(repr=False)
    created_at: datetime
    retiring_at: datetime | None = None
    retire_after: datetime | None = None
    retired_at: datetime | None = None
