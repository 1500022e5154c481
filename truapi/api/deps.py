"""Request dependencies: the container, the caller's tenant, and body checks."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from truapi.api.errors import ApiError
from truapi.api.security import CurrentPrincipal
from truapi.application.users.service import UserService
from truapi.bootstrap import Container

_IDEMPOTENCY_KEY_RE = re.compile(r"[\x20-\x7e]{1,255}")


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


@dataclass(frozen=True, slots=True)
class UsersInTenant:
    """The user use cases and the tenant a request acts in, resolved together: one
    dependency instead of two, because each costs FastAPI real time on every request."""

    tenant_id: uuid.UUID
    service: UserService


async def users_in_tenant(request: Request, principal: CurrentPrincipal) -> UsersInTenant:
    """The users of the caller's tenant (any authenticated user of a tenant may use them until
    a policy engine decides per operation)."""
    container = get_container(request)
    return UsersInTenant(tenant_id=principal.tenant_id, service=container.users)


async def require_json(request: Request) -> None:
    """Refuse a request body that is not JSON (415) before anything parses it."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    content_type = request.headers.get("content-type")
    if content_type is None:
        if request.headers.get("content-length", "0") == "0" and not request.headers.get(
            "transfer-encoding"
        ):
            return
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Repeat-safe creation: the same key and body within 24 h replays the "
            "first response.",
        ),
    ] = None,
) -> str | None:
    if key is not None and not _IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise ApiError(
            422,
            "validation_error",
            "Idempotency-Key must be 1-255 printable ASCII characters.",
            extra={
                "errors": [
                    {
                        "loc": ["header", "Idempotency-Key"],
                        "message": "must be 1-255 printable ASCII characters",
                        "type": "string_pattern_mismatch",
                    }
                ]
            },
        )
    return key


Users = Annotated[UsersInTenant, Depends(users_in_tenant)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
JsonBody = Depends(require_json)
