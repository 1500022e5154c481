"""Table definitions. Every tenant-owned table carries ``tenant_id``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite stores naive text, so we restore the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Byte order on PostgreSQL too, so sorting by username matches SQLite and the memory adapter.
_USERNAME_TYPE = String(32).with_variant(String(32, collation="C"), "postgresql")


def _ordered_string(length: int) -> String:
    """A string compared in code-point order on every engine (byte order on PostgreSQL, as
    SQLite and Python compare), so listings sorted by it agree across adapters."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


#: ``type:id`` with a type of at most 32 and an id of at most 200 characters.
RESOURCE_ID_LENGTH = 233
#: ``api_key:<uuid>`` is the longest principal (44 characters); room to spare.
PRINCIPAL_LENGTH = 80
#: A resource type, or ``*``.
APPLIES_TO_LENGTH = 32

tenants = Table(
    "tenants",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(40), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("username", _USERNAME_TYPE, nullable=False),
    Column("email", String(254), nullable=False),
    Column("display_name", String(100), nullable=False),
    # Lower-cased "username\nemail\ndisplay name": one column for the ``q`` substring search,
    # folded in Python so SQLite (ASCII-only lower()) and PostgreSQL agree.
    Column("search_key", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("mfa_enabled", Boolean, nullable=False, default=False),
    Column("password_hash", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "username"),
    UniqueConstraint("tenant_id", "email"),
    Index("ix_users_tenant_created", "tenant_id", "created_at", "id"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    # Group names are unique per tenant regardless of case; listings are sorted by this key.
    Column("name_key", _ordered_string(100), nullable=False),
    Column("description", String(500), nullable=False, default=""),
    # Lower-cased name and description joined by a character neither can hold: the ``q``
    # substring search, folded in Python so SQLite (ASCII-only lower()) and PostgreSQL agree.
    Column("search_key", Text, nullable=False),
    Column("external_id", String(255), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "name_key"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("group_id", Uuid, primary_key=True),
    Column("member_type", String(8), primary_key=True),
    Column("member_id", Uuid, primary_key=True),
    Column("source", String(100), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
    Index("ix_group_members_member", "tenant_id", "member_type", "member_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("scope", String(100), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("auth_time", UTCDateTime, nullable=False),
    Column("mfa_level", String(8), nullable=False),
    Column("amr", JSON, nullable=False),
    Column("ip", String(45), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_reason", String(64), nullable=True),
    # user_id leads: deleting a user (or a whole tenant's users) makes the foreign key look
    # sessions up by user_id alone; the per-user queries match both columns, so they use it too.
    Index("ix_sessions_user_tenant", "user_id", "tenant_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    # No foreign key to users: a token goes with its session, which goes with its user.
    Column("user_id", Uuid, nullable=False),
    Column(
        "session_id",
        Uuid,
        ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("used_at", UTCDateTime, nullable=True),
    Column("replaced_by", Uuid, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Index("ix_refresh_tokens_tenant_user", "tenant_id", "user_id"),
)

# No foreign key to sessions: a revocation must outlive the session it ends, until the last
# access token of that session has expired.
session_revocations = Table(
    "session_revocations",
    metadata,
    Column("session_id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("revoked_at", UTCDateTime, nullable=False, index=True),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# Platform-wide, not tenant-owned: one issuer signs every tenant's tokens and publishes one
# JWKS, so keys belong to no tenant (the ``tid`` claim says whose a token is).
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("private_key_encrypted", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("retiring_at", UTCDateTime, nullable=True),
    Column("retire_after", UTCDateTime, nullable=True),
    Column("retired_at", UTCDateTime, nullable=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    # Position in the tenant's chain: the order events were linked in, whatever their ``at``.
    Column("seq", BigInteger, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(300), nullable=True),
    Column("outcome", String(16), nullable=False),
    Column("ip", String(45), nullable=True),
    Column("request_id", String(128), nullable=True),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("tenant_id", "seq"),
    Index("ix_audit_events_tenant_at", "tenant_id", "at"),
)

# The latest link of each tenant's chain. Appends lock this row, so two writers of one tenant
# can never link after the same event.
audit_chain_heads = Table(
    "audit_chain_heads",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)


# Registered resources. ``parent`` is a plain name (no foreign key): a parent may be an
# unregistered resource, and the use cases keep the tree free of cycles.
resources = Table(
    "resources",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("id", _ordered_string(RESOURCE_ID_LENGTH), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("parent", _ordered_string(RESOURCE_ID_LENGTH), nullable=True),
    Column("owner", String(PRINCIPAL_LENGTH), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    # Children of a parent in id order (listings, has_children, walking a subtree down).
    Index("ix_resources_tenant_parent", "tenant_id", "parent", "id"),
)

# A resource's own ACL; it may exist before (or without) the resource's registration.
acls = Table(
    "acls",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("resource", _ordered_string(RESOURCE_ID_LENGTH), primary_key=True),
    Column("inherit", Boolean, nullable=False),
    Column("version", BigInteger, nullable=False),
)

acl_entries = Table(
    "acl_entries",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("resource", _ordered_string(RESOURCE_ID_LENGTH), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("effect", String(8), nullable=False),
    Column("principal", String(PRINCIPAL_LENGTH), nullable=False),
    Column("actions", JSON, nullable=False),
    ForeignKeyConstraint(
        ["tenant_id", "resource"], ["acls.tenant_id", "acls.resource"], ondelete="CASCADE"
    ),
)

# Default ACLs: one per (resource, applies_to).
dacls = Table(
    "dacls",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("resource", _ordered_string(RESOURCE_ID_LENGTH), primary_key=True),
    Column("applies_to", _ordered_string(APPLIES_TO_LENGTH), primary_key=True),
)

dacl_entries = Table(
    "dacl_entries",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("resource", _ordered_string(RESOURCE_ID_LENGTH), primary_key=True),
    Column("applies_to", _ordered_string(APPLIES_TO_LENGTH), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("effect", String(8), nullable=False),
    Column("principal", String(PRINCIPAL_LENGTH), nullable=False),
    Column("actions", JSON, nullable=False),
    ForeignKeyConstraint(
        ["tenant_id", "resource", "applies_to"],
        ["dacls.tenant_id", "dacls.resource", "dacls.applies_to"],
        ondelete="CASCADE",
    ),
)

# Each tenant's policy version. Bumping it locks the row, which serialises a tenant's policy
# changes on PostgreSQL (SQLite writers are serialised already).
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("tenant_id", Uuid, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("version", BigInteger, nullable=False),
)
