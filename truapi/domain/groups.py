"""Groups of users and of other groups, with memberships that may come from a directory."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from truapi.domain.errors import InvalidValue
from truapi.domain.ids import new_id
from truapi.domain.users import format_timestamp

MAX_NAME = 100
MAX_DESCRIPTION = 500
MAX_EXTERNAL_ID = 255
MAX_SOURCE = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
SOURCE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


class MemberType(StrEnum):
    USER = "user"
    GROUP = "group"


def group_name(value: str) -> str:
    """NFKC-normalised (so look-alike spellings are one name), trimmed, 1-100 characters,
    no control characters."""
    name = unicodedata.normalize("NFKC", value).strip()
    if not 1 <= len(name) <= MAX_NAME or _CONTROL.search(name):
        raise InvalidValue("name", "A group name is 1-100 characters without control characters.")
    return name


def group_name_key(name: str) -> str:
    """What makes two names the same name (case is ignored)."""
    return name.lower()


def _description(value: str) -> str:
    if len(value) > MAX_DESCRIPTION or _CONTROL.sub("", value.replace("\n", "")) != value.replace(
        "\n", ""
    ):
        raise InvalidValue(
            "description", "A description is at most 500 characters without control characters."
        )
    return value


def _external_id(value: str | None) -> str | None:
    if value is not None and (not 1 <= len(value) <= MAX_EXTERNAL_ID or _CONTROL.search(value)):
        raise InvalidValue(
            "external_id", "external_id is 1-255 characters without control characters."
        )
    return value


def membership_source(value: str | None) -> str | None:
    """An identity-provider name such as ``okta`` or ``ldap:corp``."""
    if value is not None and not SOURCE_RE.fullmatch(value):
        raise InvalidValue(
            "source", "source is 1-100 of [A-Za-z0-9._:-], starting with a letter or digit."
        )
    return value


@dataclass(frozen=True, slots=True)
class Group:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    external_id: str | None = None

    def public_view(self) -> dict[str, Any]:
        """The group as the API shows it."""
        return {
            "id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "name": self.name,
            "description": self.description,
            "external_id": self.external_id,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        }

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        name: str,
        now: datetime,
        description: str = "",
        external_id: str | None = None,
    ) -> Group:
        return cls(
            id=new_id(),
            tenant_id=tenant_id,
            name=group_name(name),
            description=_description(description),
            created_at=now,
            updated_at=now,
            external_id=_external_id(external_id),
        )

    def changed(
        self,
        *,
        now: datetime,
        name: str | None = None,
        description: str | None = None,
        external_id: str | None = None,
        clear_external_id: bool = False,
    ) -> Group:
        """A copy with the given fields replaced and ``updated_at`` moved on."""
        return dataclasses.replace(
            self,
            name=group_name(name) if name is not None else self.name,
            description=_description(description) if description is not None else self.description,
            external_id=None
            if clear_external_id
            else (_external_id(external_id) if external_id is not None else self.external_id),
            updated_at=now,
        )


@dataclass(frozen=True, slots=True)
class Membership:
    tenant_id: uuid.UUID
    group_id: uuid.UUID
    member_type: MemberType
    member_id: uuid.UUID
    created_at: datetime
    source: str | None = None


@dataclass(frozen=True, slots=True)
class MemberAt:
    """A member found by a transitive listing, at its smallest depth (1 = direct)."""

    member_type: MemberType
    member_id: uuid.UUID
    depth: int
