"""The in-memory data set, shared by every unit of work of one process."""

from __future__ import annotations

import asyncio
import copy
import uuid
from dataclasses import dataclass, field

from truapi.application.ports.auth_repositories import Revocation
from truapi.application.ports.repositories import IdempotencyRecord
from truapi.domain.audit import AuditEvent
from truapi.domain.groups import Group, Membership, MemberType
from truapi.domain.policy.acl import Acl, Dacl
from truapi.domain.policy.resources import Resource
from truapi.domain.sessions import Session
from truapi.domain.tenants import Tenant
from truapi.domain.tokens import RefreshToken, SigningKey
from truapi.domain.users import User

MembershipKey = tuple[uuid.UUID, uuid.UUID, MemberType, uuid.UUID]


@dataclass
class MemoryStore:
    """All rows, by table. A unit of work edits a copy and swaps it in on commit."""

    tenants: dict[uuid.UUID, Tenant] = field(default_factory=dict)
    users: dict[uuid.UUID, User] = field(default_factory=dict)
    groups: dict[uuid.UUID, Group] = field(default_factory=dict)
    #: (tenant, group, member type, member id) -> membership: the primary key of the table.
    memberships: dict[MembershipKey, Membership] = field(default_factory=dict)
    idempotency: dict[tuple[uuid.UUID, str, str], IdempotencyRecord] = field(default_factory=dict)
    sessions: dict[uuid.UUID, Session] = field(default_factory=dict)
    refresh_tokens: dict[uuid.UUID, RefreshToken] = field(default_factory=dict)
    #: token hash -> token id, the unique index refresh tokens are found by.
    refresh_token_hashes: dict[str, uuid.UUID] = field(default_factory=dict)
    revocations: dict[uuid.UUID, Revocation] = field(default_factory=dict)
    signing_keys: dict[str, SigningKey] = field(default_factory=dict)
    #: Each tenant's chain in append order; tuples, so a copy of the dict is enough.
    audit_events: dict[uuid.UUID, tuple[AuditEvent, ...]] = field(default_factory=dict)
    #: (tenant, resource id) -> resource.
    resources: dict[tuple[uuid.UUID, str], Resource] = field(default_factory=dict)
    #: (tenant, resource id) -> the resource's own ACL.
    acls: dict[tuple[uuid.UUID, str], Acl] = field(default_factory=dict)
    #: (tenant, resource id, applies_to) -> default ACL.
    dacls: dict[tuple[uuid.UUID, str, str], Dacl] = field(default_factory=dict)
    policy_versions: dict[uuid.UUID, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def snapshot(self) -> MemoryStore:
        # Entities are frozen, so copying the containers is enough for isolation.
        return MemoryStore(
            tenants=dict(self.tenants),
            users=dict(self.users),
            groups=dict(self.groups),
            memberships=dict(self.memberships),
            idempotency=copy.copy(self.idempotency),
            sessions=dict(self.sessions),
            refresh_tokens=dict(self.refresh_tokens),
            refresh_token_hashes=dict(self.refresh_token_hashes),
            revocations=dict(self.revocations),
            signing_keys=dict(self.signing_keys),
            audit_events=dict(self.audit_events),
            resources=dict(self.resources),
            acls=dict(self.acls),
            dacls=dict(self.dacls),
            policy_versions=dict(self.policy_versions),
            lock=self.lock,
        )

    def replace_with(self, other: MemoryStore) -> None:
        other.drop_orphans()
        self.tenants = other.tenants
        self.users = other.users
        self.groups = other.groups
        self.memberships = other.memberships
        self.idempotency = other.idempotency
        self.sessions = other.sessions
        self.refresh_tokens = other.refresh_tokens
        self.refresh_token_hashes = other.refresh_token_hashes
        self.revocations = other.revocations
        self.signing_keys = other.signing_keys
        self.audit_events = other.audit_events
        self.resources = other.resources
        self.acls = other.acls
        self.dacls = other.dacls
        self.policy_versions = other.policy_versions

    def session_exists(self, session: Session) -> bool:
        """Whether ``session`` still hangs on its user; the SQL schema deletes it with the
        user (ON DELETE CASCADE), here it lingers unseen until ``drop_orphans``."""
        return session.user_id in self.users

    def refresh_token_exists(self, token: RefreshToken) -> bool:
        """Whether ``token`` still hangs on an existing session (see ``session_exists``)."""
        session = self.sessions.get(token.session_id)
        return session is not None and self.session_exists(session)

    def drop_orphans(self) -> None:
        """Delete the sessions and refresh tokens whose user or session is gone."""
        if all(self.session_exists(s) for s in self.sessions.values()) and all(
            t.session_id in self.sessions for t in self.refresh_tokens.values()
        ):
            return
        self.sessions = {k: s for k, s in self.sessions.items() if self.session_exists(s)}
        self.refresh_tokens = {
            k: t for k, t in self.refresh_tokens.items() if t.session_id in self.sessions
        }
        self.refresh_token_hashes = {t.token_hash: k for k, t in self.refresh_tokens.items()}
