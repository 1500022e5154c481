"""``/resources``, ``/acls`` and ``/dacls``: the tenant's resource tree and who may do what
on it. Each route needs ``admin`` on the resource or on the tenant root."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from truapi.api.deps import JsonBody, get_container
from truapi.api.guards import require_admin
from truapi.api.paging import DEFAULT, Cursor, Limit, page_response
from truapi.api.schemas.authz import (
    AclOut,
    AclPut,
    DaclOut,
    DaclPut,
    DaclsOut,
    EntryIn,
    ResourceOut,
    ResourcePage,
    ResourcePut,
)
from truapi.api.schemas.problems import problem_responses
from truapi.api.security import Client, CurrentPrincipal
from truapi.application.authz.changes import Actor
from truapi.application.authz.resources import UNSET, PutResource, acl_etag, resource_etag
from truapi.domain.errors import Forbidden, InvalidValue
from truapi.domain.policy.acl import Acl, AclEntry, Dacl, parse_applies_to
from truapi.domain.policy.resources import TYPE_RE, Resource, ResourceName
from truapi.domain.users import format_timestamp

resources_router = APIRouter(prefix="/resources", tags=["authorization"])
acls_router = APIRouter(prefix="/acls", tags=["authorization"])
dacls_router = APIRouter(prefix="/dacls", tags=["authorization"])

IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="Apply only if the ETag still matches.")
]
Rid = Annotated[
    str,
    Path(description="A resource name `type:id`, such as `doc:q3-report` (the id may hold `/`)."),
]
_ERRORS = problem_responses(401, 403, 422, 503)
_NOT_FOUND = problem_responses(404, s404="`resource_not_found`")


def resource_view(resource: Resource) -> dict[str, Any]:
    return {
        "id": resource.id,
        "type": resource.type,
        "parent": resource.parent,
        "owner": resource.owner,
        "created_at": format_timestamp(resource.created_at),
    }


def acl_view(acl: Acl) -> dict[str, Any]:
    return {
        "resource": acl.resource,
        "inherit": acl.inherit,
        "entries": [e.to_dict() for e in acl.entries],
        "etag": acl_etag(acl),
    }


def dacl_view(dacl: Dacl) -> dict[str, Any]:
    return {"applies_to": dacl.applies_to, "entries": [e.to_dict() for e in dacl.entries]}


def entries_of(entries: list[EntryIn]) -> list[AclEntry]:
    return [
        AclEntry.create(e.effect, e.principal, e.actions, f"entries.{i}")
        for i, e in enumerate(entries)
    ]


def _actor(principal: CurrentPrincipal, client: Client) -> Actor:
    return Actor(principal.tenant_id, principal.subject, client)


# -- resources -----------------------------------------------------------------------------


@resources_router.put(
    "/{rid:path}",
    response_model=ResourceOut,
    summary="Register or change a resource",
    dependencies=[JsonBody, require_admin("{rid}")],
    responses={
        201: {"description": "Registered", "model": ResourceOut},
        **problem_responses(400, 401, 403, 412, 413, 415, 422, 503),
        **problem_responses(404, s404="`resource_not_found` (the parent)"),
        **problem_responses(409, s409="`resource_cycle` or `hierarchy_too_deep`"),
    },
)
async def put_resource(
    rid: Rid,
    body: ResourcePut,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    """Register `rid` (201) or change its parent or owner (200). Left-out fields keep their
    value; `null` clears it. Built-in types (`tenant`, `user`, `group`, `api_key`) answer
    422 `reserved_resource_type`."""
    fields = body.model_fields_set
    container = get_container(request)
    if "parent" in fields and body.parent is not None:
        # Placing a resource under another one changes what that subtree holds: the caller
        # must administer the new parent too.
        parent = str(ResourceName.parse(body.parent, "parent"))
        if not await container.authorizer.may_administer(
            principal.tenant_id, principal.subject, parent
        ):
            raise Forbidden("Moving a resource needs 'admin' on its new parent too.")
    command = PutResource(
        name=ResourceName.parse(rid),
        parent=body.parent if "parent" in fields else UNSET,
        owner=body.owner if "owner" in fields else UNSET,
        if_match=if_match,
    )
    resource, created = await container.resources.put(_actor(principal, client), command)
    return JSONResponse(
        resource_view(resource),
        status_code=201 if created else 200,
        headers={"ETag": resource_etag(resource)},
    )


@resources_router.get(
    "/{rid:path}",
    response_model=ResourceOut,
    summary="Get a resource",
    dependencies=[require_admin("{rid}")],
    responses={**_ERRORS, **_NOT_FOUND},
)
async def get_resource(rid: Rid, principal: CurrentPrincipal, request: Request) -> Response:
    """A registered resource, or the built-in resource of an existing user, group or the
    tenant itself."""
    resource = await get_container(request).resources.get(
        principal.tenant_id, ResourceName.parse(rid)
    )
    return JSONResponse(resource_view(resource), headers={"ETag": resource_etag(resource)})


@resources_router.delete(
    "/{rid:path}",
    status_code=204,
    summary="Delete a resource",
    dependencies=[require_admin("{rid}")],
    responses={
        **_ERRORS,
        **_NOT_FOUND,
        **problem_responses(412),
        **problem_responses(409, s409="`resource_has_children` (without `cascade=true`)"),
    },
)
async def delete_resource(
    rid: Rid,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    cascade: Annotated[
        bool, Query(description="Also remove every descendant with its ACLs.")
    ] = False,
    if_match: IfMatch = None,
) -> Response:
    """Remove the resource with its ACL and default ACLs."""
    await get_container(request).resources.delete(
        _actor(principal, client), ResourceName.parse(rid), cascade=cascade, if_match=if_match
    )
    return Response(status_code=204)


@resources_router.get(
    "",
    response_model=ResourcePage,
    summary="List resources",
    dependencies=[require_admin("{parent}")],
    responses={**problem_responses(400, 401, 403, 422, 503, s400="`invalid_cursor`"), **_NOT_FOUND},
)
async def list_resources(
    principal: CurrentPrincipal,
    request: Request,
    type: Annotated[
        str | None, Query(max_length=32, description="Only resources of this type.")
    ] = None,
    parent: Annotated[
        str | None,
        Query(
            max_length=233,
            description="Children of this resource; the tenant root's when left out.",
        ),
    ] = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> Response:
    """Direct children of `parent`, ordered by id. Needs `admin` on `parent` (or on the
    tenant root)."""
    container = get_container(request)
    if type is not None and not TYPE_RE.fullmatch(type):
        raise InvalidValue("type", "A resource type is 1-32 of [a-z0-9_-].", "invalid_resource")
    parent_name = ResourceName.parse(parent, "parent") if parent is not None else None
    page = await container.resources.children(
        principal.tenant_id, parent_name, type, limit=limit, cursor=cursor
    )
    return page_response(request, [resource_view(r) for r in page.items], page.next_cursor)


# -- ACLs ----------------------------------------------------------------------------------


@acls_router.get(
    "/{rid:path}",
    response_model=AclOut,
    summary="Get a resource's ACL",
    dependencies=[require_admin("{rid}")],
    responses={**_ERRORS, **_NOT_FOUND},
)
async def get_acl(rid: Rid, principal: CurrentPrincipal, request: Request) -> Response:
    """The ordered entries and `inherit`, with an `ETag`; a resource without an ACL answers
    `inherit: true` and no entries."""
    acl = await get_container(request).resources.get_acl(
        principal.tenant_id, ResourceName.parse(rid)
    )
    return JSONResponse(acl_view(acl), headers={"ETag": acl_etag(acl)})


@acls_router.put(
    "/{rid:path}",
    response_model=AclOut,
    summary="Replace a resource's ACL",
    dependencies=[JsonBody, require_admin("{rid}")],
    responses={
        **problem_responses(400, 401, 403, 412, 413, 415, 422, 503),
        **problem_responses(
            404, s404="`resource_not_found` (a built-in object that does not exist)"
        ),
    },
)
async def put_acl(
    rid: Rid,
    body: AclPut,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    """Replace the whole list (order matters: within one list, deny wins over allow, and the
    answer names the entry's position). An unknown resource is registered under the tenant
    root."""
    acl = await get_container(request).resources.put_acl(
        _actor(principal, client),
        ResourceName.parse(rid),
        inherit=body.inherit,
        entries=entries_of(body.entries),
        if_match=if_match,
    )
    return JSONResponse(acl_view(acl), headers={"ETag": acl_etag(acl)})


@acls_router.delete(
    "/{rid:path}",
    status_code=204,
    summary="Delete a resource's ACL",
    dependencies=[require_admin("{rid}")],
    responses={**_ERRORS, **_NOT_FOUND, **problem_responses(412)},
)
async def delete_acl(
    rid: Rid,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    """Remove the resource's own entries; it then inherits again."""
    await get_container(request).resources.delete_acl(
        _actor(principal, client), ResourceName.parse(rid), if_match=if_match
    )
    return Response(status_code=204)


# -- default ACLs --------------------------------------------------------------------------


@dacls_router.get(
    "/{rid:path}",
    response_model=DaclsOut,
    summary="Get a resource's default ACLs",
    dependencies=[require_admin("{rid}")],
    responses={**_ERRORS, **_NOT_FOUND},
)
async def get_dacls(rid: Rid, principal: CurrentPrincipal, request: Request) -> Response:
    """The default ACLs this resource holds for its descendants, one per `applies_to`."""
    name = ResourceName.parse(rid)
    dacls = await get_container(request).resources.get_dacls(principal.tenant_id, name)
    return JSONResponse({"resource": str(name), "dacls": [dacl_view(d) for d in dacls]})


@dacls_router.put(
    "/{rid:path}",
    response_model=DaclOut,
    summary="Set a default ACL",
    dependencies=[JsonBody, require_admin("{rid}")],
    responses={
        **problem_responses(400, 401, 403, 413, 415, 422, 503),
        **problem_responses(
            404, s404="`resource_not_found` (a built-in object that does not exist)"
        ),
    },
)
async def put_dacl(
    rid: Rid, body: DaclPut, principal: CurrentPrincipal, client: Client, request: Request
) -> Response:
    """Replace the default entries for resources of type `applies_to` (or `*`) at and below
    this resource."""
    dacl = await get_container(request).resources.put_dacl(
        _actor(principal, client),
        ResourceName.parse(rid),
        parse_applies_to(body.applies_to),
        entries_of(body.entries),
    )
    return JSONResponse({"resource": dacl.resource, **dacl_view(dacl)})


@dacls_router.delete(
    "/{rid:path}",
    status_code=204,
    summary="Delete a default ACL",
    dependencies=[require_admin("{rid}")],
    responses={**_ERRORS, **_NOT_FOUND},
)
async def delete_dacl(
    rid: Rid,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    applies_to: Annotated[str, Query(max_length=32, description="A resource type, or `*`.")],
) -> Response:
    """Remove the default ACL for `applies_to` (nothing happens when there is none)."""
    await get_container(request).resources.delete_dacl(
        _actor(principal, client), ResourceName.parse(rid), parse_applies_to(applies_to)
    )
    return Response(status_code=204)
