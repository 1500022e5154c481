"""The in-memory data set, shared by every unit of work of one process."""

from __future__ import annotations

import asyncio
import copy
import uuid
from dataclasses import dataclass, field

from truapi.application.ports.repositories import IdempotencyRecord
from truapi.domain.groups import Group, Membership
from truapi.domain.tenants import Tenant
from truapi.domain.users import User


@dataclass
class MemoryStore:
    """All rows, by table. A unit of work edits a copy and swaps it in on commit."""

    tenants: dict[uuid.UUID, Tenant] = field(default_factory=dict)
    users: dict[uuid.UUID, User] = field(default_factory=dict)
    groups: dict[uuid.UUID, Group] = field(default_factory=dict)
    memberships: list[Membership] = field(default_factory=list)
    idempotency: dict[tuple[uuid.UUID, str, str], IdempotencyRecord] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def snapshot(self) -> MemoryStore:
        # Entities are frozen, so copying the containers is enough for isolation.
        return MemoryStore(
            tenants=dict(self.tenants),
            users=dict(self.users),
            groups=dict(self.groups),
            memberships=list(self.memberships),
            idempotency=copy.copy(self.idempotency),
            lock=self.lock,
        )

    def replace_with(self, other: MemoryStore) -> None:
        self.tenants = other.tenants
        self.users = other.users
        self.groups = other.groups
        self.memberships = other.memberships
        self.idempotency = other.idempotency
