"""The user entity and the rules that keep usernames, emails and display names sane."""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from truapi.domain.errors import InvalidValue
from truapi.domain.ids import new_id

USERNAME_MIN = 3
USERNAME_MAX = 32
EMAIL_MAX = 254
DISPLAY_NAME_MAX = 100
PASSWORD_MIN = 8
PASSWORD_MAX = 256

_USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
# Bidirectional overrides and isolates can make one name look like another.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


def normalize_username(raw: str) -> str:
    """NFKC-normalise and lower-case a username, then check its shape (CONTRACT §3)."""
    value = unicodedata.normalize("NFKC", raw).lower()
    if not USERNAME_MIN <= len(value) <= USERNAME_MAX:
        raise InvalidValue(
            "username", f"must be {USERNAME_MIN}-{USERNAME_MAX} characters long", "string_length"
        )
    if not _USERNAME_RE.fullmatch(value):
        raise InvalidValue(
            "username",
            "may contain only a-z, 0-9, '.', '_' and '-', and must start with a letter or digit",
            "string_pattern_mismatch",
        )
    return value


def normalize_email(raw: str) -> str:
    """Lower-case an already syntax-checked address, with its domain in Unicode form."""
    value = unicodedata.normalize("NFC", raw.strip())
    local, sep, domain = value.rpartition("@")
    # IDNA maps compatibility forms (full-width letters and dots) to their plain forms, so a
    # full-width spelling of "example.com" names the same domain as "example.com".
    domain = unicodedata.normalize("NFKC", domain)
    if (
        not sep
        or not local
        or not domain
        or "@" in domain
        or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in local + domain)
    ):
        raise InvalidValue("email", "is not a valid email address", "value_error")
    labels = []
    for label in domain.split("."):
        if label.lower().startswith("xn--"):
            try:
                # The codec only recognises a lower-case ACE prefix ("XN--" would stay as is).
                label = label.lower().encode("ascii").decode("idna")
            except UnicodeError as exc:
                raise InvalidValue("email", "has an invalid domain", "value_error") from exc
        labels.append(label)
    value = f"{local}@{'.'.join(labels)}".lower()
    if len(value) > EMAIL_MAX:
        raise InvalidValue("email", f"must be at most {EMAIL_MAX} characters", "string_length")
    return value


def normalize_display_name(raw: str) -> str:
    """Trim a display name and refuse control and bidirectional-override characters."""
    value = unicodedata.normalize("NFC", raw).strip()
    if not 1 <= len(value) <= DISPLAY_NAME_MAX:
        raise InvalidValue(
            "display_name",
            f"must be 1-{DISPLAY_NAME_MAX} characters after trimming",
            "string_length",
        )
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI_CONTROLS:
            raise InvalidValue("display_name", "must not contain control characters", "value_error")
    return value


def check_password_length(password: str) -> None:
    """Length is the only composition rule (NIST SP 800-63B)."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidValue(
            "password", f"must be {PASSWORD_MIN}-{PASSWORD_MAX} characters long", "string_length"
        )


@dataclass(frozen=True, slots=True)
class User:
    """A person (or robot) who can authenticate in one tenant."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    username: str
    email: str
    display_name: str
    status: UserStatus
    created_at: datetime
    updated_at: datetime
    mfa_enabled: bool = False
    password_hash: str | None = field(default=None, repr=False)
    version: int = 1

    @classmethod
    def register(
        cls,
        *,
        tenant_id: uuid.UUID,
        username: str,
        email: str,
        now: datetime,
        display_name: str | None = None,
        status: UserStatus = UserStatus.ACTIVE,
        password_hash: str | None = None,
    ) -> User:
        """Create a new user from raw input, normalising and checking every field."""
        name = normalize_username(username)
        now = truncate_to_millis(now)
        return cls(
            id=new_id(),
            tenant_id=tenant_id,
            username=name,
            email=normalize_email(email),
            display_name=normalize_display_name(display_name if display_name is not None else name),
            status=status,
            created_at=now,
            updated_at=now,
            password_hash=password_hash,
        )

    def with_changes(
        self,
        *,
        now: datetime,
        email: str | None = None,
        display_name: str | None = None,
        status: UserStatus | None = None,
    ) -> User:
        """Return this user with the given fields changed and a new version."""
        return replace(
            self,
            email=normalize_email(email) if email is not None else self.email,
            display_name=(
                normalize_display_name(display_name)
                if display_name is not None
                else self.display_name
            ),
            status=status if status is not None else self.status,
            updated_at=truncate_to_millis(now),
            version=self.version + 1,
        )

    @property
    def etag(self) -> str:
        return user_etag(self.id, self.version)

    def public_view(self) -> dict[str, Any]:
        """The user as clients see it: never the password hash."""
        return {
            "id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "username": self.username,
            "email": self.email,
            "display_name": self.display_name,
            "status": self.status.value,
            "mfa_enabled": self.mfa_enabled,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        }


def user_etag(user_id: uuid.UUID, version: int) -> str:
    """The strong entity tag of one version of a user."""
    return f'"{user_id.hex[:12]}-{version}"'


def truncate_to_millis(value: datetime) -> datetime:
    """Timestamps keep millisecond precision, the precision they are shown with."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix and millisecond precision."""
    if value.tzinfo is None:
        raise ValueError("naive datetime has no defined instant")
    utc = value.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"
