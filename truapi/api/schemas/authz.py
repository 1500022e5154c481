"""Request and response bodies of ``/resources``, ``/acls``, ``/dacls`` and ``/authz``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from truapi.api.schemas.users import Timestamp

_STRICT = ConfigDict(extra="forbid")

_ENTRY_EXAMPLE: dict[str, Any] = {
    "effect": "allow",
    "principal": "group:0192f0c1-7000-7000-8000-00000000000a",
    "actions": ["read"],
}


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ENTRY_EXAMPLE]})

    effect: Literal["allow", "deny"]
    principal: str = Field(
        max_length=100,
        description="`user:<id>`, `group:<id>` (its transitive members), `api_key:<id>`, "
        "`owner` or `authenticated`.",
    )
    actions: list[str] = Field(min_length=1, max_length=64, description="Verbs, or `*`.")


class EntryOut(BaseModel):
    effect: Literal["allow", "deny"]
    principal: str
    actions: list[str]


class ResourcePut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"parent": "folder:finance", "owner": "user:0192f0c1-7b7a-7cc0-8f00-3c5d9a1b2e4f"}
            ]
        },
    )

    parent: str | None = Field(
        default=None,
        max_length=233,
        description="The parent resource; null or left out (on creation) means the tenant "
        "root. Left out on a change keeps the current parent.",
    )
    owner: str | None = Field(
        default=None, max_length=100, description="`user:<id>` or `group:<id>`, or null."
    )


class ResourceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "doc:q3-report",
                    "type": "doc",
                    "parent": "folder:finance",
                    "owner": None,
                    "created_at": "2026-12-07T09:30:00.000Z",
                }
            ]
        }
    )

    id: str
    type: str
    parent: str | None
    owner: str | None
    created_at: Timestamp


class ResourcePage(BaseModel):
    items: list[ResourceOut]
    next_cursor: str | None


class AclPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"inherit": True, "entries": [_ENTRY_EXAMPLE]}]},
    )

    inherit: bool = True
    entries: list[EntryIn] = Field(max_length=500)


class AclOut(BaseModel):
    resource: str
    inherit: bool
    entries: list[EntryOut]
    etag: str


class DaclPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "applies_to": "doc",
                    "entries": [
                        {"effect": "allow", "principal": "owner", "actions": ["read", "write"]}
                    ],
                }
            ]
        },
    )

    applies_to: str = Field(max_length=32, description="A resource type, or `*`.")
    entries: list[EntryIn] = Field(max_length=500)


class DaclOut(BaseModel):
    resource: str
    applies_to: str
    entries: list[EntryOut]


class DaclItem(BaseModel):
    applies_to: str
    entries: list[EntryOut]


class DaclsOut(BaseModel):
    resource: str
    dacls: list[DaclItem]


class CheckIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"action": "read", "resource": "doc:q3-report"}]},
    )

    principal: str | None = Field(
        default=None,
        max_length=100,
        description="Whom to check (`user:<id>` or `group:<id>`); the caller when left out. "
        "Checking someone else needs `check` on the tenant root.",
    )
    action: str = Field(max_length=64)
    resource: str = Field(max_length=233)


class MatchOut(BaseModel):
    resource: str
    source: Literal["acl", "dacl"]
    applies_to: str | None = None
    index: int
    entry: EntryOut


class CheckOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "allowed": True,
                    "decision": "inherited_allow",
                    "matched": {
                        "resource": "folder:finance",
                        "source": "acl",
                        "index": 0,
                        "entry": _ENTRY_EXAMPLE,
                    },
                }
            ]
        }
    )

    allowed: bool
    decision: Literal[
        "explicit_deny",
        "explicit_allow",
        "inherited_deny",
        "inherited_allow",
        "dacl_deny",
        "dacl_allow",
        "fallback",
    ]
    matched: MatchOut | None
    fault: str | None = Field(
        default=None,
        description="Present when stored data loops or nests too deep; the answer is then "
        "always a denial.",
    )


class CheckBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    checks: list[CheckIn] = Field(min_length=1, max_length=100)


class CheckBatchOut(BaseModel):
    results: list[CheckOut]


class EndpointOut(BaseModel):
    method: str
    path: str
    access: Literal["public", "authenticated", "permission"]
    action: str | None = None
    resource: str | None = None
    mode: str | None = None


class EndpointList(BaseModel):
    items: list[EndpointOut]


def entry_list(entries: Any) -> list[dict[str, Any]]:
    return [e.to_dict() for e in entries]
