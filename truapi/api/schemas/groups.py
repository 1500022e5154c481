"""Request and response bodies of ``/groups``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from truapi.api.schemas.users import Timestamp

_GROUP_EXAMPLE: dict[str, Any] = {
    "id": "0192f0c1-7000-7000-8000-00000000000a",
    "tenant_id": "0192f0c1-7000-7000-8000-000000000001",
    "name": "finance",
    "description": "Finance team",
    "external_id": "okta:00g1abcd",
    "created_at": "2026-12-07T09:30:00.000Z",
    "updated_at": "2026-12-07T09:30:00.000Z",
}


class GroupCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "finance", "description": "Finance team"}]},
    )

    name: str = Field(max_length=400)
    description: str = Field(default="", max_length=500)
    external_id: str | None = Field(default=None, max_length=255)


class GroupUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"description": "Finance and audit"}]}
    )

    name: str | None = Field(default=None, max_length=400)
    description: str | None = Field(default=None, max_length=500)
    external_id: str | None = Field(default=None, max_length=255)


class GroupOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_GROUP_EXAMPLE]})

    id: str
    tenant_id: str
    name: str
    description: str
    external_id: str | None
    created_at: Timestamp
    updated_at: Timestamp


class GroupPage(BaseModel):
    items: list[GroupOut]
    next_cursor: str | None


class GroupWithDepth(GroupOut):
    depth: int


class GroupDepthPage(BaseModel):
    items: list[GroupWithDepth]
    next_cursor: str | None


class MemberRefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["user", "group"]
    id: str = Field(max_length=64)


class MemberOut(BaseModel):
    type: Literal["user", "group"]
    id: str
    depth: int


class MemberPage(BaseModel):
    items: list[MemberOut]
    next_cursor: str | None


class MembersPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "members": [{"type": "user", "id": "0192f0c1-7b7a-7cc0-8f00-3c5d9a1b2e4f"}],
                    "source": "okta",
                }
            ]
        },
    )

    members: list[MemberRefIn] = Field(max_length=10_000)
    source: str | None = Field(
        default=None,
        max_length=100,
        description="The directory these members come from: only memberships carrying this "
        "source are added or removed.",
    )


class MemberRefOut(BaseModel):
    type: Literal["user", "group"]
    id: str


class Reconciled(BaseModel):
    added: list[MemberRefOut]
    removed: list[MemberRefOut]
    unchanged: int
