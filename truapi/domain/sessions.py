"""Sessions: one login of one user, the thing access and refresh tokens hang on."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from truapi.domain.ids import new_id
from truapi.domain.users import truncate_to_millis


class MfaLevel(StrEnum):
    """Authenticator assurance level reached by the login (NIST SP 800-63B)."""

    AAL1 = "aal1"
    AAL2 = "aal2"


class RevocationReason(StrEnum):
    LOGOUT = "logout"
    REVOKED = "revoked"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a secret)
    USER_DISABLED = "user_disabled"
    USER_DELETED = "user_deleted"
    REFRESH_REUSED = "refresh_token_reused"
    ANOMALY = "anomaly"


@dataclass(frozen=True, slots=True)
class Session:
    """A login. Live while not revoked, not past ``expires_at`` (absolute lifetime) and
    refreshed at least once every idle timeout (``last_seen_at`` moves on each refresh)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    auth_time: datetime
    mfa_level: MfaLevel
    amr: tuple[str, ...]
    ip: str | None = None
    user_agent: str | None = None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None

    @classmethod
    def start(
        cls,
        *,
        tenant_id: uuid.UUID,
        user_id: uuid.UUID,
        now: datetime,
        max_age: timedelta,
        amr: tuple[str, ...] = ("pwd",),
        mfa_level: MfaLevel = MfaLevel.AAL1,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> Session:
        now = truncate_to_millis(now)
        return cls(
            id=new_id(),
            tenant_id=tenant_id,
            user_id=user_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_age,
            auth_time=now,
            mfa_level=mfa_level,
            amr=amr,
            ip=ip,
            user_agent=user_agent[:512] if user_agent else None,
        )

    def is_live(self, now: datetime, idle_timeout: timedelta) -> bool:
        return (
            self.revoked_at is None
            and now < self.expires_at
            and now < self.last_seen_at + idle_timeout
        )

    def seen(self, now: datetime, *, ip: str | None, user_agent: str | None) -> Session:
        return replace(
            self,
            last_seen_at=truncate_to_millis(now),
            ip=ip if ip is not None else self.ip,
            user_agent=user_agent[:512] if user_agent else self.user_agent,
        )


def same_network(a: str | None, b: str | None) -> bool:
    """Whether two client addresses share a /24 (IPv4) or /48 (IPv6); unknowns match."""
    if not a or not b:
        return True
    try:
        first, second = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return a == b
    if first.version != second.version:
        return False
    prefix = 24 if first.version == 4 else 48
    return ipaddress.ip_network(f"{a}/{prefix}", strict=False) == ipaddress.ip_network(
        f"{b}/{prefix}", strict=False
    )


_UA_FAMILIES = (
    ("edg", "edge"),
    ("opr", "opera"),
    ("chrome", "chrome"),
    ("firefox", "firefox"),
    ("safari", "safari"),
    ("curl", "curl"),
    ("python", "python"),
    ("okhttp", "okhttp"),
    ("node", "node"),
    ("go-http-client", "go"),
    ("java", "java"),
)


def user_agent_family(user_agent: str | None) -> str:
    """A coarse client family ("chrome", "curl", …): versions change, families rarely do."""
    if not user_agent:
        return ""
    lowered = user_agent.lower()
    for marker, family in _UA_FAMILIES:
        if marker in lowered:
            return family
    return lowered.split("/", 1)[0].strip()[:40]


def is_anomalous(session: Session, ip: str | None, user_agent: str | None) -> bool:
    """A refresh from another network *and* another client family than the session's."""
    return not same_network(session.ip, ip) and user_agent_family(
        session.user_agent
    ) != user_agent_family(user_agent)
