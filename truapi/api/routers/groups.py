"""``/groups`` and ``/users/{id}/groups``: groups, their (nested) members, and directory
reconciliation."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from truapi.api.deps import IdempotencyKey, JsonBody, get_container
from truapi.api.guards import require
from truapi.api.paging import DEFAULT, Cursor, Limit, page_response
from truapi.api.schemas.groups import (
    GroupCreate,
    GroupDepthPage,
    GroupOut,
    GroupPage,
    GroupUpdate,
    MemberPage,
    MembersPut,
    Reconciled,
)
from truapi.api.schemas.problems import problem_responses
from truapi.api.security import Client, CurrentPrincipal
from truapi.application.authz.changes import Actor
from truapi.application.groups.service import GroupChanges, MemberRef, group_etag
from truapi.application.preconditions import IdempotentRequest
from truapi.domain.errors import InvalidValue
from truapi.domain.groups import Group, MemberType

router = APIRouter(prefix="/groups", tags=["groups"])
user_groups_router = APIRouter(prefix="/users", tags=["groups"])

IfMatch = Annotated[
    str | None, Header(alias="If-Match", description="Apply only if the group's ETag matches.")
]
Transitive = Annotated[
    bool, Query(description="Include members (or groups) reached through nested groups.")
]
_GROUP_404 = problem_responses(404, s404="`group_not_found`")


def group_view(group: Group) -> dict[str, Any]:
    return group.public_view()


def _actor(principal: CurrentPrincipal, client: Client) -> Actor:
    return Actor(principal.tenant_id, principal.subject, client)


def _member(member_type: str, member_id: str, field: str) -> MemberRef:
    try:
        return MemberRef(MemberType(member_type), uuid.UUID(member_id))
    except ValueError:
        raise InvalidValue(
            field, "A member is {'type': 'user'|'group', 'id': '<uuid>'}.", "invalid_member"
        ) from None


@router.post(
    "",
    status_code=201,
    response_model=GroupOut,
    summary="Create a group",
    dependencies=[JsonBody, require("write", "tenant:{tenant_id}")],
    responses={
        **problem_responses(400, 401, 403, 413, 415, 422, 503),
        **problem_responses(409, s409="`group_name_taken`"),
    },
)
async def create_group(
    body: GroupCreate,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    key: IdempotencyKey,
) -> Response:
    """A group in the caller's tenant; names are unique regardless of case. With an
    `Idempotency-Key`, a repeat within 24 hours answers with the first response."""
    idem = (
        IdempotentRequest(key=key, body=body.model_dump(mode="json")) if key is not None else None
    )
    result = await get_container(request).groups.create(
        _actor(principal, client), body.name, body.description, body.external_id, idem
    )
    headers = {"Location": f"/groups/{result.view['id']}", "ETag": result.etag}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(result.view, status_code=201, headers=headers)


@router.get(
    "",
    response_model=GroupPage,
    summary="List groups",
    dependencies=[require("read", "tenant:{tenant_id}")],
    responses=problem_responses(400, 401, 403, 422, 503, s400="`invalid_cursor`"),
)
async def list_groups(
    principal: CurrentPrincipal,
    request: Request,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f]*$",
            description="Case-insensitive substring of the name or description (literal).",
        ),
    ] = None,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> Response:
    """Groups ordered by name."""
    page = await get_container(request).groups.list_page(
        principal.tenant_id, q, limit=limit, cursor=cursor
    )
    return page_response(request, [group_view(g) for g in page.items], page.next_cursor)


@router.get(
    "/{group_id}",
    response_model=GroupOut,
    summary="Get a group",
    dependencies=[require("read", "group:{group_id}")],
    responses={**problem_responses(401, 403, 422, 503), **_GROUP_404},
)
async def get_group(group_id: uuid.UUID, principal: CurrentPrincipal, request: Request) -> Response:
    """One group, with its `ETag`."""
    group = await get_container(request).groups.get(principal.tenant_id, group_id)
    return JSONResponse(group_view(group), headers={"ETag": group_etag(group)})


@router.patch(
    "/{group_id}",
    response_model=GroupOut,
    summary="Change a group",
    dependencies=[JsonBody, require("write", "group:{group_id}")],
    responses={
        **problem_responses(400, 401, 403, 412, 413, 415, 422, 503),
        **_GROUP_404,
        **problem_responses(409, s409="`group_name_taken`, `group_protected`"),
    },
)
async def update_group(
    group_id: uuid.UUID,
    body: GroupUpdate,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    """Rename, describe or re-link the group; `external_id: null` clears the link. The
    `admins` group cannot be renamed."""
    fields = body.model_fields_set
    changes = GroupChanges(
        name=body.name,
        description=body.description,
        external_id=body.external_id,
        clear_external_id="external_id" in fields and body.external_id is None,
    )
    group = await get_container(request).groups.update(
        _actor(principal, client), group_id, changes, if_match
    )
    return JSONResponse(group_view(group), headers={"ETag": group_etag(group)})


@router.delete(
    "/{group_id}",
    status_code=204,
    summary="Delete a group",
    dependencies=[require("delete", "group:{group_id}")],
    responses={
        **problem_responses(401, 403, 412, 422, 503),
        **_GROUP_404,
        **problem_responses(409, s409="`group_protected`"),
    },
)
async def delete_group(
    group_id: uuid.UUID,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    """Remove the group and every membership it holds or is in. The `admins` group cannot be
    deleted."""
    await get_container(request).groups.delete(_actor(principal, client), group_id, if_match)
    return Response(status_code=204)


@router.get(
    "/{group_id}/members",
    response_model=MemberPage,
    summary="List a group's members",
    dependencies=[require("read", "group:{group_id}")],
    responses={**problem_responses(400, 401, 403, 422, 503, s400="`invalid_cursor`"), **_GROUP_404},
)
async def list_members(
    group_id: uuid.UUID,
    principal: CurrentPrincipal,
    request: Request,
    transitive: Transitive = False,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> Response:
    """Members ordered by type then id; `transitive=true` adds nested groups' members, each
    once at its smallest depth (1 = direct)."""
    page = await get_container(request).groups.members(
        principal.tenant_id, group_id, transitive=transitive, limit=limit, cursor=cursor
    )
    items = [
        {"type": m.member_type.value, "id": str(m.member_id), "depth": m.depth} for m in page.items
    ]
    return page_response(request, items, page.next_cursor)


@router.put(
    "/{group_id}/members/{member_type}/{member_id}",
    status_code=204,
    summary="Add a member",
    dependencies=[require("admin", "group:{group_id}")],
    responses={
        **problem_responses(401, 403, 422, 503),
        **problem_responses(404, s404="`group_not_found` or `user_not_found`"),
        **problem_responses(409, s409="`group_cycle` or `hierarchy_too_deep`"),
    },
)
async def add_member(
    group_id: uuid.UUID,
    member_type: MemberType,
    member_id: uuid.UUID,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
) -> Response:
    """Make a user or a group a direct member (nothing happens when it already is)."""
    await get_container(request).groups.add_member(
        _actor(principal, client), group_id, MemberRef(member_type, member_id)
    )
    return Response(status_code=204)


@router.delete(
    "/{group_id}/members/{member_type}/{member_id}",
    status_code=204,
    summary="Remove a member",
    dependencies=[require("admin", "group:{group_id}")],
    responses={
        **problem_responses(401, 403, 422, 503),
        **problem_responses(404, s404="`group_not_found` or `member_not_found`"),
    },
)
async def remove_member(
    group_id: uuid.UUID,
    member_type: MemberType,
    member_id: uuid.UUID,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
) -> Response:
    """End a direct membership."""
    await get_container(request).groups.remove_member(
        _actor(principal, client), group_id, MemberRef(member_type, member_id)
    )
    return Response(status_code=204)


@router.put(
    "/{group_id}/members",
    response_model=Reconciled,
    summary="Reconcile a group's members",
    dependencies=[JsonBody, require("admin", "group:{group_id}")],
    responses={
        **problem_responses(400, 401, 403, 413, 415, 422, 503),
        **problem_responses(404, s404="`group_not_found`, `user_not_found` (a listed member)"),
        **problem_responses(409, s409="`group_cycle` or `hierarchy_too_deep`"),
    },
)
async def reconcile_members(
    group_id: uuid.UUID,
    body: MembersPut,
    principal: CurrentPrincipal,
    client: Client,
    request: Request,
    dry_run: Annotated[
        bool, Query(description="Answer what would change; change nothing.")
    ] = False,
) -> Response:
    """Make the direct members exactly `members`. With a `source` (a directory's name) only
    memberships carrying that source are added or removed, so members added by hand stay."""
    members = [_member(m.type, m.id, f"members.{i}") for i, m in enumerate(body.members)]
    result = await get_container(request).groups.reconcile(
        _actor(principal, client), group_id, members, source=body.source, dry_run=dry_run
    )
    return JSONResponse(
        {
            "added": [m.to_dict() for m in result.added],
            "removed": [m.to_dict() for m in result.removed],
            "unchanged": result.unchanged,
        }
    )


@user_groups_router.get(
    "/{user_id}/groups",
    response_model=GroupDepthPage,
    summary="List a user's groups",
    dependencies=[require("read", "user:{user_id}")],
    responses={
        **problem_responses(400, 401, 403, 422, 503, s400="`invalid_cursor`"),
        **problem_responses(404, s404="`user_not_found`"),
    },
)
async def list_user_groups(
    user_id: uuid.UUID,
    principal: CurrentPrincipal,
    request: Request,
    transitive: Transitive = False,
    limit: Limit = DEFAULT,
    cursor: Cursor = None,
) -> Response:
    """The user's groups by name, each with its `depth` (1 = direct member)."""
    page = await get_container(request).groups.groups_of(
        principal.tenant_id,
        MemberRef(MemberType.USER, user_id),
        transitive=transitive,
        limit=limit,
        cursor=cursor,
    )
    items = [{**group_view(g.group), "depth": g.depth} for g in page.items]
    return page_response(request, items, page.next_cursor)
