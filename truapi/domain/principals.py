"""The principal: who a request acts as, resolved once per request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
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
    #: ``user:<id>``, as ACL entries and audit events name the principal (made once: a
    #: principal is cached with its token and asked for this several times a request).
    subject: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subject", f"user:{self.user_id}")
