"""``/users``: create, read, change, delete and list the users of a tenant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from truapi.api.deps import IdempotencyKey, JsonBody, Users, get_container
from truapi.api.errors import ApiError
from truapi.api.guards import require
from truapi.api.schemas.problems import problem_responses
from truapi.api.schemas.users import UserCreate, UserOut, UserPage, UserUpdate
from truapi.api.security import CurrentPrincipal
from truapi.application.pagination import DEFAULT_LIMIT, MAX_LIMIT
from truapi.application.ports.repositories import UserQuery, UserSort
from truapi.application.preconditions import IdempotentRequest
from truapi.application.users.service import CreateUser, UpdateUser
from truapi.domain.errors import Forbidden, InvalidValue
from truapi.domain.policy.resources import tenant_root
from truapi.domain.users import UserStatus, normalize_email, normalize_username

router = APIRouter(prefix="/users", tags=["users"])

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="Apply only if the user's ETag still matches."),
]


@router.post(
    "",
    status_code=201,
    response_model=UserOut,
    summary="Create a user",
    dependencies=[JsonBody, require("write", "tenant:{tenant_id}")],
    responses={
        **problem_responses(400, 413, 415, 422, 503),
        **problem_responses(409, s409="`username_taken` or `email_taken`"),
    },
)
async def create_user(
    body: UserCreate, users: Users, key: IdempotencyKey, request: Request
) -> Response:
    """Create a user in the caller's tenant.

    With an `Idempotency-Key`, a repeat of the same request within 24 hours answers with the
    first response; the same key with another body gives 422 `idempotency_key_reused`.
    """
    idem = (
        IdempotentRequest(key=key, body=body.model_dump(mode="json")) if key is not None else None
    )
    result = await users.service.create(
        CreateUser(
            tenant_id=users.tenant_id,
            username=body.username,
            email=body.email,
            display_name=body.display_name,
            password=body.password,
            status=body.status,
        ),
        idem,
    )
    headers = {"Location": f"/users/{result.view['id']}", "ETag": result.etag}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(result.view, status_code=201, headers=headers)


@router.get(
    "/{user_id}",
    response_model=UserOut,
    summary="Get a user",
    dependencies=[require("read", "user:{user_id}")],
    responses=problem_responses(404, 422, 503, s404="`user_not_found`"),
)
async def get_user(user_id: uuid.UUID, users: Users) -> Response:
    """One user of the caller's tenant, with its `ETag`."""
    user = await users.service.get(users.tenant_id, user_id)
    return JSONResponse(user.public_view(), headers={"ETag": user.etag})


@router.patch(
    "/{user_id}",
    response_model=UserOut,
    summary="Change a user",
    dependencies=[JsonBody, require("write", "user:{user_id}")],
    responses={
        **problem_responses(400, 412, 413, 415, 422, 503, s404="`user_not_found`"),
        **problem_responses(404, s404="`user_not_found`"),
        **problem_responses(409, s409="`email_taken`"),
    },
)
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    users: Users,
    principal: CurrentPrincipal,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    """Change email, display name or status (status needs `admin` on the tenant root). Send
    `If-Match` to avoid lost updates."""
    if body.status is not None:
        verdict = await get_container(request).authorizer.check(
            principal.tenant_id, principal.subject, "admin", tenant_root(principal.tenant_id)
        )
        if not verdict.allowed:
            raise Forbidden("Changing a user's status needs 'admin' on the tenant root.")
    user = await users.service.update(
        UpdateUser(
            tenant_id=users.tenant_id,
            user_id=user_id,
            email=body.email,
            display_name=body.display_name,
            status=body.status,
            if_match=if_match,
        )
    )
    return JSONResponse(user.public_view(), headers={"ETag": user.etag})


@router.delete(
    "/{user_id}",
    status_code=204,
    summary="Delete a user",
    dependencies=[require("delete", "user:{user_id}")],
    responses={
        **problem_responses(412, 422, 503),
        **problem_responses(404, s404="`user_not_found`"),
    },
)
async def delete_user(user_id: uuid.UUID, users: Users, if_match: IfMatch = None) -> Response:
    """Delete a user and everything that hangs on them; the username and email become free."""
    await users.service.delete(users.tenant_id, user_id, if_match)
    return Response(status_code=204)


def _exact(rule: Any, field: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(rule(value))
    except InvalidValue as exc:
        raise ApiError(
            422,
            "validation_error",
            f"{field} {exc.detail}",
            extra={"errors": [{"loc": ["query", field], "message": exc.detail, "type": exc.kind}]},
        ) from None


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get(
    "",
    response_model=UserPage,
    summary="List users",
    dependencies=[require("read", "tenant:{tenant_id}")],
    responses=problem_responses(400, 422, 503, s400="`invalid_cursor`"),
)
async def list_users(
    request: Request,
    users: Users,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=r"^[^\x00-\x1f\x7f]*$",
            description="Case-insensitive substring of username, email or display name; "
            "`%` and `_` are literal.",
        ),
    ] = None,
    status: UserStatus | None = None,
    username: Annotated[str | None, Query(max_length=256)] = None,
    email: Annotated[str | None, Query(max_length=320)] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: UserSort = UserSort.CREATED_AT,
) -> Response:
    """A page of users, newest last by default; follow `next_cursor` (or `Link`) for more."""
    query = UserQuery(
        q=q,
        status=status,
        username=_exact(normalize_username, "username", username),
        email=_exact(normalize_email, "email", email),
        created_after=_utc(created_after),
        created_before=_utc(created_before),
        sort=sort,
    )
    page = await users.service.list(users.tenant_id, query, limit, cursor)
    headers: dict[str, str] = {}
    if page.next_cursor is not None:
        # A relative reference (RFC 8288 allows it) stays right behind any proxy or scheme.
        next_query = request.url.include_query_params(cursor=page.next_cursor).query
        headers["Link"] = f'<{request.url.path}?{next_query}>; rel="next"'
    body = {"items": [u.public_view() for u in page.items], "next_cursor": page.next_cursor}
    return JSONResponse(body, headers=headers)
