"""Settings: environment variables prefixed ``APP_`` and an optional ``.env`` file."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from truapi.application.authz.endpoints import parse_overrides

#: Secrets that ship with the code. Fine on a laptop; refused under ``APP_ENV=production``.
DEV_SECRET_KEY = "dev-only-secret-key-change-me-in-production"  # noqa: S105 (refused in prod)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every setting of the service. Built once (in ``bootstrap``) and passed explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="APP_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///./truapi.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    redis_url: str | None = None
    auto_migrate: bool = True

    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)

    bootstrap_admin_username: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    bootstrap_admin_email: str | None = None

    issuer: str = "http://127.0.0.1:8000"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    docs_enabled: bool | None = None
    metrics_enabled: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    argon2_time_cost: int = Field(default=2, ge=1, le=20)
    argon2_memory_cost_kib: int = Field(default=19_456, ge=8192, le=4_194_304)
    argon2_parallelism: int = Field(default=1, ge=1, le=16)
    argon2_max_concurrency: int = Field(default=4, ge=1, le=64)

    encryption_keys: SecretStr | None = None
    jwt_algorithm: Literal["ES256", "RS256", "EdDSA"] = "ES256"
    jwt_audience: str = "truapi"
    jwt_leeway_s: int = Field(default=30, ge=0, le=300)
    access_token_ttl: int = Field(default=600, ge=30, le=86_400)
    jwks_max_age: int = Field(default=300, ge=0, le=86_400)
    token_cache_size: int = Field(default=10_000, ge=0, le=1_000_000)
    session_idle_timeout: int = Field(default=1800, ge=60)
    session_max_age: int = Field(default=2_592_000, ge=300)
    session_anomaly_policy: Literal["off", "log", "revoke"] = "log"
    revocation_propagation_s: int = Field(default=1, ge=1, le=60)

    login_throttle_free_failures: int = Field(default=5, ge=1, le=1000)
    login_throttle_client_free_failures: int = Field(default=50, ge=1, le=100_000)
    login_throttle_delay_s: int = Field(default=60, ge=1, le=86_400)
    login_throttle_max_delay_s: int = Field(default=900, ge=1, le=86_400)
    login_throttle_reset_s: int = Field(default=43_200, ge=60, le=2_592_000)
    trusted_proxies: str = ""

    authz_mode: Literal["enforce", "audit", "off"] = "enforce"
    authz_endpoint_overrides: str = ""
    authz_fallback: Literal["deny", "allow"] = "deny"
    authz_max_depth: int = Field(default=32, ge=2, le=256)
    authz_cache_size: int = Field(default=100_000, ge=1, le=10_000_000)
    token_groups_max: int = Field(default=32, ge=0, le=1000)

    @field_validator("authz_endpoint_overrides")
    @classmethod
    def _overrides_are_valid(cls, value: str) -> str:
        parse_overrides(value)
        return value

    @model_validator(mode="after")
    def _refuse_development_secrets(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            secret = self.secret_key.get_secret_value()
            if secret == DEV_SECRET_KEY or len(secret) < 32:
                raise ValueError(
                    "APP_SECRET_KEY must be set to a random value of at least 32 characters "
                    "when APP_ENV=production (the development default is refused)"
                )
            if (
                self.bootstrap_admin_password is not None
                and len(self.bootstrap_admin_password.get_secret_value()) < 12
            ):
                raise ValueError(
                    "APP_BOOTSTRAP_ADMIN_PASSWORD must be at least 12 characters "
                    "when APP_ENV=production"
                )
        return self

    @property
    def docs_on(self) -> bool:
        if self.docs_enabled is not None:
            return self.docs_enabled
        return self.env is not Environment.PRODUCTION

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.env is Environment.PRODUCTION
        return self.log_format == "json"
