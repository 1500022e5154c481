"""Tenants: isolated spaces of users, groups and policies."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from truapi.domain.errors import InvalidValue
from truapi.domain.ids import new_id

DEFAULT_TENANT_SLUG = "default"
ADMINS_GROUP_NAME = "admins"
_SLUG_RE = re.compile(r"[a-z0-9-]{2,40}")


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: uuid.UUID
    slug: str
    name: str
    status: TenantStatus
    created_at: datetime

    @classmethod
    def create(cls, *, slug: str, name: str, now: datetime) -> Tenant:
        if not _SLUG_RE.fullmatch(slug):
            raise InvalidValue("slug", "must be 2-40 characters of a-z, 0-9 and '-'")
        return cls(id=new_id(), slug=slug, name=name, status=TenantStatus.ACTIVE, created_at=now)
