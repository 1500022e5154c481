"""Ports for access tokens and their signing keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from truapi.domain.tokens import AccessClaims, SigningKey


class AccessTokenCodec(Protocol):
    """Signs and strictly verifies access tokens with the loaded signing keys."""

    def load_keys(self, keys: Sequence[SigningKey]) -> None:
        """Replace the loaded keys (active and retiring). Raises ``KeyStoreUnreadable`` when a
        private part cannot be decrypted."""

    def has_key(self, kid: str) -> bool: ...

    @property
    def signing_kid(self) -> str | None:
        """The ``kid`` new tokens are signed with (the newest active key)."""

    def encode(self, claims: AccessClaims) -> str: ...

    def decode(self, token: str) -> AccessClaims:
        """Verify signature, algorithm, ``typ``, ``iss``, ``aud``, ``exp``/``nbf`` (with leeway)
        and size; raises ``InvalidToken(reason)`` on any failure."""

    def peek_kid(self, token: str) -> str | None:
        """The ``kid`` header of a well-formed token, unverified; None otherwise."""

    def jwks(self) -> dict[str, Any]:
        """``{"keys": [...]}``: the public JWK of every loaded key."""


class SigningKeyFactory(Protocol):
    """Creates new signing keys with their private part encrypted for storage."""

    def generate(self, algorithm: str, now: datetime) -> SigningKey: ...
