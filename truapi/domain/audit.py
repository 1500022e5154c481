"""Audit events: an append-only, per-tenant hash chain of security-relevant facts."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from truapi.domain.ids import new_id
from truapi.domain.users import format_timestamp, truncate_to_millis

GENESIS_HASH = "0" * 64
SYSTEM = "system"
ANONYMOUS = "anonymous"


class AuditAction:
    """Stable event names."""

    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGOUT = "logout"
    REFRESH_TOKEN_REUSED = "refresh_token.reused"  # noqa: S105 (an event name)
    SESSION_REVOKED = "session.revoked"
    SESSION_ANOMALY = "session.anomaly"
    PASSWORD_CHANGED = "password.changed"  # noqa: S105 (an event name)
    SIGNING_KEY_ROTATED = "signing_key.rotated"
    SIGNING_KEY_RETIRED = "signing_key.retired"
    RESOURCE_CREATED = "resource.created"
    RESOURCE_CHANGED = "resource.changed"
    RESOURCE_DELETED = "resource.deleted"
    ACL_CHANGED = "acl.changed"
    ACL_DELETED = "acl.deleted"
    DACL_CHANGED = "dacl.changed"
    DACL_DELETED = "dacl.deleted"
    GROUP_CREATED = "group.created"
    GROUP_CHANGED = "group.changed"
    GROUP_DELETED = "group.deleted"
    MEMBER_ADDED = "group.member_added"
    MEMBER_REMOVED = "group.member_removed"
    MEMBERS_RECONCILED = "group.members_reconciled"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One fact. ``hash``/``prev_hash`` are filled in by the store when it appends the event
    to its tenant's chain (see ``chained``)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    at: datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    ip: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = ""
    hash: str = ""

    @classmethod
    def record(
        cls,
        *,
        tenant_id: uuid.UUID,
        at: datetime,
        actor: str,
        action: str,
        target: str | None = None,
        outcome: str = "success",
        ip: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        return cls(
            id=new_id(),
            tenant_id=tenant_id,
            at=truncate_to_millis(at),
            actor=actor,
            action=action,
            target=target,
            outcome=outcome,
            ip=ip,
            request_id=request_id,
            details=dict(details or {}),
        )

    def canonical(self) -> dict[str, Any]:
        """Every field but ``hash``, as the chain hashes it."""
        return {
            "id": str(self.id),
            "tenant_id": str(self.tenant_id),
            "at": format_timestamp(self.at),
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "outcome": self.outcome,
            "ip": self.ip,
            "request_id": self.request_id,
            "details": self.details,
            "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        text = json.dumps(
            self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def chained(self, prev_hash: str) -> AuditEvent:
        """This event linked after the event whose hash is ``prev_hash``."""
        linked = replace(self, prev_hash=prev_hash)
        return replace(linked, hash=linked.compute_hash())

    def public_view(self) -> dict[str, Any]:
        return {**self.canonical(), "hash": self.hash}
