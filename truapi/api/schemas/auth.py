"""Request and response bodies of ``/auth``, ``/me`` and the well-known documents."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from truapi.api.schemas.users import Password, Timestamp, UserOut
from truapi.domain.users import PASSWORD_MAX

_STRICT = ConfigDict(extra="forbid")


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "alice", "password": "correct horse 42"}]},
    )

    username: str = Field(min_length=1, max_length=320, description="Username or email address.")
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    tenant: str | None = Field(
        default=None, max_length=40, description="Tenant slug (default `default`)."
    )


class TokenResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9...",
                    "token_type": "Bearer",
                    "expires_in": 600,
                    "refresh_token": "trt_4wq2mZ...",
                    "session_id": "0192f0c1-7b7a-7cc0-8f00-3c5d9a1b2e4f",
                    "scope": "openid",
                }
            ]
        }
    )

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name)
    expires_in: int
    refresh_token: str
    session_id: str
    scope: str


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"refresh_token": "trt_4wq2mZ..."}]}
    )

    refresh_token: str = Field(min_length=1, max_length=4096)


class PasswordChange(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"current_password": "correct horse 42", "new_password": "battery staple 77"}
            ]
        },
    )

    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    new_password: Password


class SessionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0192f0c1-7b7a-7cc0-8f00-3c5d9a1b2e4f",
                    "user_id": "0192f0c1-7b7a-7cc0-8f00-000000000001",
                    "created_at": "2026-11-28T09:30:00.000Z",
                    "last_seen_at": "2026-11-28T09:40:00.000Z",
                    "expires_at": "2026-12-28T09:30:00.000Z",
                    "ip": "203.0.113.7",
                    "user_agent": "Mozilla/5.0",
                    "mfa_level": "aal1",
                    "current": True,
                }
            ]
        }
    )

    id: str
    user_id: str
    created_at: Timestamp
    last_seen_at: Timestamp
    expires_at: Timestamp
    ip: str | None
    user_agent: str | None
    mfa_level: Literal["aal1", "aal2"]
    current: bool


class SessionList(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None = None


class MyGroup(BaseModel):
    id: str
    name: str
    depth: int = Field(description="1 for a direct membership, more through nested groups.")


class MeOut(UserOut):
    groups: list[MyGroup] = Field(default_factory=list)
    session: SessionOut | None = None


class OAuthError(BaseModel):
    """RFC 6749 §5.2 error body of the token endpoint."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": "invalid_grant", "error_description": "The credentials are invalid."}
            ]
        }
    )

    error: str
    error_description: str | None = None


class Introspection(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "active": True,
                    "sub": "0192f0c1-7b7a-7cc0-8f00-000000000001",
                    "tid": "0192f0c1-7000-7000-8000-000000000001",
                    "scope": "openid",
                    "exp": 1795000000,
                    "iat": 1794999400,
                    "iss": "http://127.0.0.1:8000",
                    "aud": "truapi",
                    "jti": "6f1c…",
                    "sid": "0192f0c1-7b7a-7cc0-8f00-3c5d9a1b2e4f",
                    "token_type": "access_token",
                    "username": "alice",
                },
                {"active": False},
            ]
        },
    )

    active: bool


class Jwks(BaseModel):
    keys: list[dict[str, Any]]


class OpenIdConfiguration(BaseModel):
    issuer: str
    jwks_uri: str
    token_endpoint: str
    introspection_endpoint: str
    revocation_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    response_types_supported: list[str]
    subject_types_supported: list[str]
    scopes_supported: list[str]


class SigningKeyOut(BaseModel):
    kid: str
    algorithm: str
    state: Literal["active", "retiring", "retired"]
    created_at: Timestamp
    retiring_at: Timestamp | None = None
    retire_after: Timestamp | None = None
    retired_at: Timestamp | None = None


class SigningKeyList(BaseModel):
    items: list[SigningKeyOut]
