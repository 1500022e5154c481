"""Helpers shared by the groups API tests: groups, members, plain users, audit events, a
second tenant and access-token claims."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from tests.api.authz_support import PASSWORD, container_of
from tests.api.authz_support import other_tenant as tenant_with_admin
from tests.api.conftest import LINK_NEXT_RE, create_user
from tests.conftest import log_in
from truapi.application.authz.changes import Actor
from truapi.application.groups.service import MemberRef
from truapi.domain.groups import Group, MemberType
from truapi.domain.tenants import Tenant

#: The password every plain user of these tests gets.


async def create_group(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    """Create a group through the API, asserting 201; return its body."""
    response = await client.post("/groups", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_member(
    client: httpx.AsyncClient,
    group_id: str,
    member_type: str,
    member_id: str,
    headers: dict[str, str] | None = None,
) -> None:
    """Make ``member_id`` a direct member of ``group_id``, asserting 204."""
    response = await client.put(
        f"/groups/{group_id}/members/{member_type}/{member_id}", headers=headers
    )
    assert response.status_code == 204, response.text
    assert response.content == b""


async def nest(client: httpx.AsyncClient, parent: dict[str, Any], child: dict[str, Any]) -> None:
    """Make the group ``child`` a direct member of the group ``parent``."""
    await add_member(client, parent["id"], "group", child["id"])


@dataclass(frozen=True)
class PlainUser:
    """A user of the default tenant with no special rights, and their tokens."""

    id: str
    username: str
    tokens: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


async def plain_user(client: httpx.AsyncClient, username: str) -> PlainUser:
    """Create a user through ``client`` (an administrator's) and log them in."""
    user = await create_user(client, username, password=PASSWORD)
    tokens = await log_in(client, username, PASSWORD)
    return PlainUser(id=user["id"], username=username, tokens=tokens)


async def me_id(client: httpx.AsyncClient) -> str:
    response = await client.get("/me")
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, decoded without checking the signature."""
    segment = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return claims


async def walk_pages(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, str | int],
    headers: dict[str, str] | None = None,
) -> list[list[dict[str, Any]]]:
    """Every page of a listing, each after the first fetched from the previous page's
    ``Link: <...>; rel="next"``, which must agree with ``next_cursor``."""
    pages: list[list[dict[str, Any]]] = []
    response = await client.get(path, params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        link = response.headers.get("link")
        if cursor is None:
            assert link is None
            return pages
        assert isinstance(cursor, str)
        assert link is not None
        match = LINK_NEXT_RE.search(link)
        assert match is not None, link
        target = httpx.URL(match.group(1))
        assert target.path == path
        assert target.params["cursor"] == cursor
        assert len(pages) < 100, "pagination does not end"
        response = await client.get(str(target), headers=headers)


@dataclass(frozen=True)
class OtherTenant:
    """A second tenant with its own administrator (``gadmin``, password ``PASSWORD``),
    ``admins`` group and a ``finance`` group holding that administrator."""

    tenant: Tenant
    admins: Group
    finance: Group
    user_id: uuid.UUID


async def other_tenant(app: FastAPI, slug: str = "globex") -> OtherTenant:
    """Make a second tenant through the application's own use cases."""
    base = await tenant_with_admin(app, slug)
    container = container_of(app)
    actor = Actor(base.tenant.id, f"user:{base.user_id}")
    created_group = await container.groups.create(actor, "finance", "Globex finance")
    finance = await container.groups.get(base.tenant.id, uuid.UUID(str(created_group.view["id"])))
    await container.groups.add_member(actor, finance.id, MemberRef(MemberType.USER, base.user_id))
    return OtherTenant(
        tenant=base.tenant, admins=base.admins, finance=finance, user_id=base.user_id
    )
