"""Groups of users. The full model (nesting, sources, ACLs) grows on this."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from truapi.domain.ids import new_id


class MemberType(StrEnum):
    USER = "user"
    GROUP = "group"


@dataclass(frozen=True, slots=True)
class Group:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    external_id: str | None = None

    @classmethod
    def create(
        cls, *, tenant_id: uuid.UUID, name: str, now: datetime, description: str = ""
    ) -> Group:
        return cls(
            id=new_id(),
            tenant_id=tenant_id,
            name=name,
            description=description,
            created_at=now,
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
