"""Who is calling: the bearer token of a request resolved to a ``Principal``, once."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from truapi.api.client_address import client_address
from truapi.application.auth.context import ClientInfo
from truapi.bootstrap import Container
from truapi.domain.errors import InvalidToken, Unauthenticated
from truapi.domain.principals import Principal

MAX_AUTHORIZATION_BYTES = 8192


class BearerAuth(OAuth2PasswordBearer):
    """The access-token dependency; as an OAuth2 password scheme, it gives Swagger UI its
    "Authorize" button (which logs in through ``/auth/token``)."""

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        header = request.headers.get("authorization")
        if header is None:
            raise Unauthenticated()
        if len(header) > MAX_AUTHORIZATION_BYTES:
            raise InvalidToken("too_large")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated()
        container: Container = request.app.state.container
        try:
            principal = container.authenticator.authenticate(token)
        except InvalidToken as exc:
            if exc.reason != "kid":
                raise
            # The key may be one another instance has just made: look again (rate-limited).
            kid = container.codec.peek_kid(token)
            if kid is None or not await container.keys.reload_for_unknown_kid(
                kid, container.default_tenant_id
            ):
                raise
            principal = container.authenticator.authenticate(token)
        state = request.scope["state"]
        state["principal"] = principal.subject
        state["tenant"] = str(principal.tenant_id)
        return principal


bearer = BearerAuth(
    tokenUrl="/auth/token",
    scheme_name="bearer",
    description="An access token from `POST /auth/login` or `POST /auth/token`.",
    auto_error=False,
)

CurrentPrincipal = Annotated[Principal, Depends(bearer)]


async def client_info(request: Request) -> ClientInfo:
    """The caller's address (honouring only trusted proxies), user agent and request id."""
    container: Container = request.app.state.container
    return ClientInfo(
        ip=client_address(request.scope, container.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
        request_id=request.scope["state"].get("request_id"),
    )


Client = Annotated[ClientInfo, Depends(client_info)]
