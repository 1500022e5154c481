"""The principal: who a request acts as, resolved once per request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from truapi.domain.sessions import MfaLevel


class CredentialKind(StrEnum):
    ACCESS_TOKEN = "access_token"  # noqa: S105 (a kind, not a secret)
    API_KEY = "api_key"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    kind: CredentialKind
    session_id: uuid.UUID | None
    scopes: frozenset[str]
    mfa_level: MfaLevel
    token_id: str | None = None
    expires_at: int | None = None

    @property
    def subject(self) -> str:
        return f"user:{self.user_id}"
