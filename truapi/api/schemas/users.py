"""Request and response bodies of ``/users``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from truapi.domain.errors import InvalidValue
from truapi.domain.users import (
    PASSWORD_MAX,
    PASSWORD_MIN,
    UserStatus,
    normalize_display_name,
    normalize_email,
    normalize_username,
)


def _domain_rule(rule: Callable[[str], str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            return rule(value)
        except InvalidValue as exc:
            raise ValueError(exc.detail) from None

    return check


def _email(value: str) -> str:
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return _domain_rule(normalize_email)(checked.normalized)


Username = Annotated[str, Field(max_length=256), AfterValidator(_domain_rule(normalize_username))]
Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
DisplayName = Annotated[
    str, Field(max_length=400), AfterValidator(_domain_rule(normalize_display_name))
]
#: RFC 3339 in UTC with ``Z``, millisecond precision (rendered by the domain).
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Password = Annotated[str, Field(min_length=PASSWORD_MIN, max_length=PASSWORD_MAX)]

_USER_EXAMPLE: dict[str, Any] = {
    "id": "0192f0c1-7b7a-7cc0-8f00-3c5d9a1b2e4f",
    "tenant_id": "0192f0c1-7000-7000-8000-000000000001",
    "username": "alice",
    "email": "alice@example.com",
    "display_name": "Alice Liddell",
    "status": "active",
    "mfa_enabled": False,
    "created_at": "2026-11-28T09:30:00.000Z",
    "updated_at": "2026-11-28T09:30:00.000Z",
}


class UserCreate(BaseModel):
    """A new user. ``username`` and ``email`` are normalised (NFKC, lower case)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "alice",
                    "email": "alice@example.com",
                    "display_name": "Alice Liddell",
                    "password": "correct horse battery staple",
                }
            ]
        },
    )

    username: Username
    email: Email
    display_name: DisplayName | None = None
    password: Password | None = None
    status: UserStatus = UserStatus.ACTIVE


class UserUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"display_name": "Alice L.", "status": "disabled"}]},
    )

    email: Email | None = None
    display_name: DisplayName | None = None
    status: UserStatus | None = None


class UserOut(BaseModel):
    """A user as clients see it. Never a password hash."""

    model_config = ConfigDict(json_schema_extra={"examples": [_USER_EXAMPLE]})

    id: str
    tenant_id: str
    username: str
    email: str
    display_name: str
    status: UserStatus
    mfa_enabled: bool
    created_at: Timestamp
    updated_at: Timestamp


class UserPage(BaseModel):
    """One page of users; pass ``next_cursor`` as ``cursor`` to get the next one."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_USER_EXAMPLE], "next_cursor": None}]}
    )

    items: list[UserOut]
    next_cursor: str | None
