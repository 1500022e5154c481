"""Helpers shared by the resources, ACL, check and endpoint-requirement API tests: plain
users, ACL and check shortcuts, audit events and a second tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from tests.api.conftest import assert_problem, create_user
from tests.conftest import log_in
from truapi.application.tenants.bootstrap import _ensure_admins_group, make_admin
from truapi.application.tenants.policy import ensure_tenant_policy
from truapi.application.users.service import CreateUser
from truapi.bootstrap import Container
from truapi.domain.audit import AuditEvent
from truapi.domain.groups import Group
from truapi.domain.tenants import ADMINS_GROUP_NAME, Tenant

#: The password every plain user of these tests gets.
PASSWORD = "violet kestrel under the pier"

JsonDict = dict[str, Any]


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


@dataclass(frozen=True)
class PlainUser:
    """A user of the default tenant with no special rights, and their access token."""

    id: str
    username: str
    access_token: str

    @property
    def principal(self) -> str:
        return f"user:{self.id}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def plain_user(client: httpx.AsyncClient, username: str) -> PlainUser:
    """Create a user through ``client`` (an administrator's) and log them in."""
    user = await create_user(client, username, password=PASSWORD)
    tokens = await log_in(client, username, PASSWORD)
    return PlainUser(id=user["id"], username=username, access_token=tokens["access_token"])


async def me(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> JsonDict:
    response = await client.get("/me", headers=headers)
    assert response.status_code == 200, response.text
    body: JsonDict = response.json()
    return body


async def root_of(client: httpx.AsyncClient) -> str:
    """The caller's tenant root, ``tenant:<tenant_id>``."""
    return f"tenant:{(await me(client))['tenant_id']}"


async def admins_group_id(client: httpx.AsyncClient) -> str:
    """The id of the tenant's ``admins`` group (the administrator is a member)."""
    groups = (await me(client))["groups"]
    return next(str(g["id"]) for g in groups if g["name"] == ADMINS_GROUP_NAME)


def entry(principal: str, *actions: str, effect: str = "allow") -> JsonDict:
    return {"effect": effect, "principal": principal, "actions": list(actions)}


def deny(principal: str, *actions: str) -> JsonDict:
    return entry(principal, *actions, effect="deny")


async def put_resource(client: httpx.AsyncClient, rid: str, **fields: Any) -> JsonDict:
    """``PUT /resources/{rid}``, asserting 200 or 201; return the resource."""
    response = await client.put(f"/resources/{rid}", json=fields)
    assert response.status_code in (200, 201), response.text
    body: JsonDict = response.json()
    return body


async def put_acl(
    client: httpx.AsyncClient, rid: str, entries: list[JsonDict], *, inherit: bool = True
) -> JsonDict:
    """Replace ``rid``'s ACL, asserting 200; return the ACL."""
    response = await client.put(f"/acls/{rid}", json={"inherit": inherit, "entries": entries})
    assert response.status_code == 200, response.text
    body: JsonDict = response.json()
    return body


async def put_dacl(
    client: httpx.AsyncClient, rid: str, applies_to: str, entries: list[JsonDict]
) -> JsonDict:
    response = await client.put(
        f"/dacls/{rid}", json={"applies_to": applies_to, "entries": entries}
    )
    assert response.status_code == 200, response.text
    body: JsonDict = response.json()
    return body


async def grant_on_root(client: httpx.AsyncClient, new: JsonDict) -> None:
    """Add ``new`` to the tenant root's ACL, keeping what is there."""
    root = await root_of(client)
    current = await client.get(f"/acls/{root}")
    assert current.status_code == 200, current.text
    body = current.json()
    await put_acl(client, root, [*body["entries"], new], inherit=body["inherit"])


async def check(
    client: httpx.AsyncClient,
    action: str,
    resource: str,
    principal: str | None = None,
    headers: dict[str, str] | None = None,
) -> JsonDict:
    """``POST /authz/check``, asserting 200; return the answer."""
    payload: JsonDict = {"action": action, "resource": resource}
    if principal is not None:
        payload["principal"] = principal
    response = await client.post("/authz/check", json=payload, headers=headers)
    assert response.status_code == 200, response.text
    body: JsonDict = response.json()
    return body


async def allowed(
    client: httpx.AsyncClient, action: str, resource: str, principal: str | None = None
) -> bool:
    answer = await check(client, action, resource, principal)
    result: bool = answer["allowed"]
    return result


def assert_forbidden(response: httpx.Response) -> None:
    assert_problem(response, 403, "forbidden")


async def create_group(client: httpx.AsyncClient, name: str) -> str:
    response = await client.post("/groups", json={"name": name})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def add_member(client: httpx.AsyncClient, group_id: str, kind: str, member: str) -> None:
    response = await client.put(f"/groups/{group_id}/members/{kind}/{member}")
    assert response.status_code == 204, response.text


async def audit_events(app: FastAPI, action: str) -> list[AuditEvent]:
    """The default tenant's audit events of ``action``, oldest first."""
    container = container_of(app)
    async with container.uow(readonly=True) as uow:
        events = await uow.audit.list_recent(container.default_tenant_id, 1000, action)
    return list(reversed(events))


@dataclass(frozen=True)
class OtherTenant:
    tenant: Tenant
    admins: Group
    user_id: uuid.UUID

    @property
    def root(self) -> str:
        return f"tenant:{self.tenant.id}"


async def other_tenant(app: FastAPI, slug: str = "globex") -> OtherTenant:
    """A second tenant, with its starting policy and an administrator, made through the
    application's own use cases."""
    container = container_of(app)
    tenant = Tenant.create(slug=slug, name="Globex", now=container.clock.now())
    async with container.uow() as uow:
        await uow.tenants.add(tenant)
        admins = await _ensure_admins_group(uow, tenant, container.clock)
        await uow.commit()
    # Its admins group may do anything on its root, as for any new tenant.
    assert await ensure_tenant_policy(container.uow, tenant)
    created = await container.users.create(
        CreateUser(
            tenant_id=tenant.id,
            username="gadmin",
            email="gadmin@globex.example",
            password=PASSWORD,
        )
    )
    user_id = uuid.UUID(str(created.view["id"]))
    user = await container.users.get(tenant.id, user_id)
    await make_admin(container.uow, container.clock, tenant, user)
    return OtherTenant(tenant=tenant, admins=admins, user_id=user_id)
