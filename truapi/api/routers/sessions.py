"""``/me`` and sessions: the caller's own account, and administrators' view of others'."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from truapi.api.deps import JsonBody, get_container
from truapi.api.guards import authenticated, require
from truapi.api.schemas.auth import MeOut, PasswordChange, SessionList
from truapi.api.schemas.problems import problem_responses
from truapi.api.security import Client, CurrentPrincipal
from truapi.application.auth.sessions import SessionView
from truapi.application.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from truapi.domain.users import format_timestamp

me_router = APIRouter(prefix="/me", tags=["me"])
users_router = APIRouter(prefix="/users", tags=["sessions"])


def session_view(view: SessionView) -> dict[str, Any]:
    s = view.session
    return {
        "id": str(s.id),
        "user_id": str(s.user_id),
        "created_at": format_timestamp(s.created_at),
        "last_seen_at": format_timestamp(s.last_seen_at),
        "expires_at": format_timestamp(s.expires_at),
        "ip": s.ip,
        "user_agent": s.user_agent,
        "mfa_level": s.mfa_level.value,
        "current": view.current,
    }


@me_router.get("", response_model=MeOut, summary="Who am I", responses=problem_responses(401, 503))
@authenticated
async def me(principal: CurrentPrincipal, request: Request) -> Response:
    """The caller's user, with their groups (nested ones too, by name, each with its depth)
    and the session the access token belongs to."""
    container = get_container(request)
    user = await container.users.get(principal.tenant_id, principal.user_id)
    body: dict[str, Any] = user.public_view()
    groups = await container.groups.all_groups_of(principal.tenant_id, principal.user_id)
    body["groups"] = [
        {"id": str(g.group.id), "name": g.group.name, "depth": g.depth} for g in groups
    ]
    body["session"] = None
    if principal.session_id is not None:
        current = await container.sessions.current(
            principal.tenant_id, principal.user_id, principal.session_id
        )
        body["session"] = session_view(current) if current is not None else None
    return JSONResponse(body, headers={"ETag": user.etag, "Cache-Control": "no-store"})


@me_router.post(
    "/password",
    status_code=204,
    summary="Change my password",
    dependencies=[JsonBody],
    responses={
        **problem_responses(400, 401, 413, 415, 503),
        **problem_responses(
            422,
            s422="`invalid_current_password`, `password_too_common` or `validation_error`",
        ),
        **problem_responses(429, s429="`too_many_attempts`, with `Retry-After`"),
    },
)
@authenticated
async def change_password(
    body: PasswordChange, principal: CurrentPrincipal, request: Request, client: Client
) -> Response:
    """Replace the caller's password; every other session of theirs is revoked."""
    await get_container(request).auth.change_password(
        principal, body.current_password, body.new_password, client
    )
    return Response(status_code=204)


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=2048)]


def session_page(request: Request, page: Page[SessionView]) -> Response:
    headers = {"Cache-Control": "no-store"}
    if page.next_cursor is not None:
        next_query = request.url.include_query_params(cursor=page.next_cursor).query
        headers["Link"] = f'<{request.url.path}?{next_query}>; rel="next"'
    body = {"items": [session_view(v) for v in page.items], "next_cursor": page.next_cursor}
    return JSONResponse(body, headers=headers)


@me_router.get(
    "/sessions",
    response_model=SessionList,
    summary="List my sessions",
    responses=problem_responses(400, 401, 422, 503, s400="`invalid_cursor`"),
)
@authenticated
async def my_sessions(
    principal: CurrentPrincipal,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The caller's live sessions, newest first; `current` marks the one in use."""
    page = await get_container(request).sessions.live(
        principal.tenant_id, principal.user_id, principal.session_id, limit=limit, cursor=cursor
    )
    return session_page(request, page)


@me_router.delete(
    "/sessions/{session_id}",
    status_code=204,
    summary="Revoke one of my sessions",
    responses=problem_responses(401, 404, 422, 503, s404="`session_not_found`"),
)
@authenticated
async def revoke_my_session(
    session_id: uuid.UUID, principal: CurrentPrincipal, request: Request, client: Client
) -> Response:
    """End one of the caller's sessions (the current one too, if named)."""
    await get_container(request).sessions.revoke(
        principal, principal.tenant_id, principal.user_id, session_id, client
    )
    return Response(status_code=204)


@me_router.delete(
    "/sessions",
    status_code=204,
    summary="Revoke my other sessions",
    responses=problem_responses(401, 503),
)
@authenticated
async def revoke_my_other_sessions(
    principal: CurrentPrincipal, request: Request, client: Client
) -> Response:
    """End every session of the caller except the current one."""
    await get_container(request).sessions.revoke_all(
        principal, principal.tenant_id, principal.user_id, client, keep=principal.session_id
    )
    return Response(status_code=204)


@users_router.get(
    "/{user_id}/sessions",
    response_model=SessionList,
    summary="List a user's sessions (administrators)",
    dependencies=[require("admin", "user:{user_id}")],
    responses=problem_responses(
        400, 401, 403, 404, 422, 503, s400="`invalid_cursor`", s404="`user_not_found`"
    ),
)
async def user_sessions(
    user_id: uuid.UUID,
    principal: CurrentPrincipal,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """The user's live sessions, newest first. Tenant administrators only."""
    container = get_container(request)
    page = await container.sessions.live(
        principal.tenant_id, user_id, principal.session_id, limit=limit, cursor=cursor
    )
    return session_page(request, page)


@users_router.delete(
    "/{user_id}/sessions",
    status_code=204,
    summary="Revoke all of a user's sessions (administrators)",
    dependencies=[require("admin", "user:{user_id}")],
    responses=problem_responses(401, 403, 404, 422, 503, s404="`user_not_found`"),
)
async def revoke_user_sessions(
    user_id: uuid.UUID, principal: CurrentPrincipal, request: Request, client: Client
) -> Response:
    """End every session of the user. Tenant administrators only."""
    container = get_container(request)
    await container.sessions.revoke_all(principal, principal.tenant_id, user_id, client)
    return Response(status_code=204)
