"""The knobs of authentication, in domain units (built from the settings by bootstrap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    issuer: str
    audience: str
    access_token_ttl: timedelta
    leeway: timedelta
    session_idle_timeout: timedelta
    session_max_age: timedelta
    anomaly_policy: Literal["off", "log", "revoke"] = "log"
    signing_algorithm: str = "ES256"

    @property
    def revocation_horizon(self) -> timedelta:
        """How long after a revocation an access token of the session could still verify."""
        return self.access_token_ttl + self.leeway
