"""Resources: everything protected, named ``type:id``, arranged in one tree per tenant."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from truapi.domain.errors import InvalidValue

TYPE_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_ID_LENGTH = 200

TENANT = "tenant"
USER = "user"
GROUP = "group"
API_KEY = "api_key"
#: Types whose resources TruAPI makes and removes with their objects; never re-parented.
RESERVED_TYPES = frozenset({TENANT, USER, GROUP, API_KEY})


@dataclass(frozen=True, slots=True)
class ResourceName:
    """A parsed ``type:id``."""

    type: str
    id: str

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"

    @property
    def reserved(self) -> bool:
        return self.type in RESERVED_TYPES

    @classmethod
    def parse(cls, rid: str, field: str = "resource") -> ResourceName:
        """Parse and validate ``rid``; built-in types with UUID ids are put in canonical form."""
        kind, sep, ident = rid.partition(":")
        if not sep or not TYPE_RE.fullmatch(kind):
            raise InvalidValue(
                field,
                "A resource is named 'type:id'; the type is 1-32 of [a-z0-9_-], starting "
                "with a letter.",
                "invalid_resource",
            )
        if not 1 <= len(ident) <= MAX_ID_LENGTH or not _printable_without_space(ident):
            raise InvalidValue(
                field,
                "A resource id is 1-200 printable characters without whitespace.",
                "invalid_resource",
            )
        if kind in RESERVED_TYPES:
            try:
                ident = str(uuid.UUID(ident))
            except ValueError:
                raise InvalidValue(
                    field, f"A {kind} resource id is a UUID.", "invalid_resource"
                ) from None
        return cls(kind, ident)


def _printable_without_space(value: str) -> bool:
    return value.isprintable() and not any(c.isspace() for c in value)


def tenant_root(tenant_id: uuid.UUID) -> str:
    """The root resource of a tenant's tree."""
    return f"{TENANT}:{tenant_id}"


@dataclass(frozen=True, slots=True)
class Resource:
    """A registered resource. ``parent`` None means it hangs under the tenant root."""

    tenant_id: uuid.UUID
    id: str
    type: str
    parent: str | None
    owner: str | None
    created_at: datetime

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        name: ResourceName,
        parent: str | None,
        owner: str | None,
        now: datetime,
    ) -> Resource:
        return cls(
            tenant_id=tenant_id,
            id=str(name),
            type=name.type,
            parent=parent,
            owner=owner,
            created_at=now,
        )
