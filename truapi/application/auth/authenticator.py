"""Access token → principal, on the hot path of every authenticated request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Protocol

from truapi.application.ports.tokens import AccessTokenCodec
from truapi.domain.errors import InvalidToken
from truapi.domain.principals import CredentialKind, Principal
from truapi.domain.sessions import MfaLevel
from truapi.domain.tokens import AccessClaims

MAX_TOKEN_BYTES = 8192


class RevokedLookup(Protocol):
    """The set of sessions ended early, as the hot path asks it."""

    def __contains__(self, session_id: str) -> bool: ...


class Authenticator:
    """Verifies access tokens, remembering the ones it verified.

    A token seen before is not verified again: the cache maps the token to its principal until
    the token's ``exp`` (plus leeway), and every hit still checks the revoked-session set, so a
    logout takes effect on the next request. The cache is bounded (oldest entries go first).
    """

    def __init__(
        self,
        codec: AccessTokenCodec,
        revoked: RevokedLookup,
        *,
        leeway_s: int,
        cache_size: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._codec = codec
        self._revoked = revoked
        self._leeway = leeway_s
        self._size = cache_size
        self._now = now
        self._cache: dict[str, tuple[Principal, float, str, AccessClaims]] = {}

    def authenticate(self, token: str) -> Principal:
        """The principal of a valid, unrevoked access token; ``InvalidToken`` otherwise."""
        hit = self._cache.get(token)
        if hit is not None:
            principal, valid_until, sid, _ = hit
            if self._now() < valid_until and sid not in self._revoked:
                return principal
            self._cache.pop(token, None)
        return self._verify(token)[0]

    def verify(self, token: str) -> tuple[Principal, AccessClaims]:
        """Like ``authenticate``, with the token's claims."""
        hit = self._cache.get(token)
        if hit is not None:
            principal, valid_until, sid, claims = hit
            if self._now() < valid_until and sid not in self._revoked:
                return principal, claims
            self._cache.pop(token, None)
        return self._verify(token)

    def _verify(self, token: str) -> tuple[Principal, AccessClaims]:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("too_large")
        claims = self._codec.decode(token)
        if claims.sid in self._revoked:
            raise InvalidToken("revoked")
        try:
            principal = Principal(
                user_id=uuid.UUID(claims.sub),
                tenant_id=uuid.UUID(claims.tid),
                kind=CredentialKind.ACCESS_TOKEN,
                session_id=uuid.UUID(claims.sid),
                scopes=frozenset(claims.scope.split()),
                mfa_level=MfaLevel(claims.acr),
                token_id=claims.jti,
                expires_at=claims.exp,
            )
        except ValueError as exc:
            raise InvalidToken("claims") from exc
        if self._size:
            if len(self._cache) >= self._size:
                # Dicts keep insertion order: the first key is the oldest entry.
                self._cache.pop(next(iter(self._cache)))
            self._cache[token] = (principal, claims.exp + self._leeway, claims.sid, claims)
        return principal, claims

    def forget_sessions(self, session_ids: Iterable[str]) -> None:
        """Drop cached tokens of sessions that were just revoked."""
        gone = set(session_ids)
        if not gone or not self._cache:
            return
        for token in [t for t, (_, _, sid, _) in self._cache.items() if sid in gone]:
            self._cache.pop(token, None)

    def clear(self) -> None:
        self._cache.clear()
