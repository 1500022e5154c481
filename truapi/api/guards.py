"""Every route declares who may call it: ``PUBLIC``, ``AUTHENTICATED``, or
``require(action, resource template)``. The registry of these is what ``/authz/endpoints``
lists, and a test fails when a route declares nothing."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from truapi.api.errors import ApiError
from truapi.api.security import CurrentPrincipal, bearer
from truapi.application.authz.endpoints import Mode
from truapi.bootstrap import Container
from truapi.domain.errors import (
    Forbidden,
    GroupNotFound,
    InvalidValue,
    ResourceNotFound,
    UserNotFound,
)
from truapi.domain.policy.resources import GROUP, USER, ResourceName, tenant_root
from truapi.domain.principals import Principal

log = structlog.get_logger("truapi.authz")

_FIELD = re.compile(r"\{([a-z_]+)\}")
_CONVERTOR = re.compile(r"\{([a-z_]+):[a-z]+\}")


def path_template(path: str) -> str:
    """``/acls/{rid:path}`` as clients write it: ``/acls/{rid}``."""
    return _CONVERTOR.sub(r"{\1}", path)


class Access(StrEnum):
    PUBLIC = "public"
    AUTHENTICATED = "authenticated"
    PERMISSION = "permission"


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a route needs. ``administer``: ``admin`` on the resource, or on the tenant root
    by the root's own ACL (CONTRACT §5, administration)."""

    access: Access
    action: str | None = None
    resource: str | None = None
    administer: bool = False


def _canonical(field: str, value: str, where: str) -> str:
    """Request values as the resource names them; a malformed one is refused here (422), so
    a check never runs on, or skips, a name the route would read otherwise."""
    try:
        if field in ("rid", "parent"):
            return str(ResourceName.parse(value, field))
        if field.endswith("_id"):
            try:
                return str(uuid.UUID(value))
            except ValueError:
                raise InvalidValue(field, "must be a UUID", "uuid_parsing") from None
    except InvalidValue as exc:
        raise ApiError(
            422,
            "validation_error",
            exc.detail if exc.detail[:1].isupper() else f"{field} {exc.detail}",
            extra={"errors": [{"loc": [where, field], "message": exc.detail, "type": exc.kind}]},
        ) from None
    return value


class Guard:
    """The dependency a ``Requirement`` becomes."""

    def __init__(self, requirement: Requirement) -> None:
        self.requirement = requirement

    async def __call__(self, request: Request, principal: CurrentPrincipal) -> Principal:
        requirement = self.requirement
        if requirement.access is not Access.PERMISSION:
            return principal
        container: Container = request.app.state.container
        route = request.scope.get("route")
        endpoint = f"{request.method} {path_template(getattr(route, 'path', request.url.path))}"
        override = container.authz_overrides.get(endpoint)
        mode = (override.mode if override and override.mode else None) or Mode(
            container.settings.authz_mode
        )
        if mode is Mode.OFF:
            return principal
        action = (override.action if override and override.action else None) or requirement.action
        assert action is not None
        assert requirement.resource is not None
        values = {"tenant_id": str(principal.tenant_id)}
        for field in _FIELD.findall(requirement.resource):
            if field == "tenant_id":
                continue
            where = "path" if field in request.path_params else "query"
            raw = request.path_params.get(field, request.query_params.get(field))
            if raw is None:
                # An optional resource left out (``?parent=``) means the tenant root.
                values[field] = tenant_root(principal.tenant_id)
                continue
            values[field] = _canonical(field, str(raw), where)
        resource = requirement.resource.format(**values)
        authorizer = container.authorizer
        tenant_id = principal.tenant_id
        if requirement.administer:
            allowed = await authorizer.may_administer(
                tenant_id, principal.subject, resource, action
            )
            decision = "allowed" if allowed else "denied"
        else:
            verdict = await authorizer.check(tenant_id, principal.subject, action, resource)
            allowed = verdict.allowed
            decision = verdict.decision.value
        if allowed:
            return principal
        await _not_found_first(container, tenant_id, resource, requirement.administer)
        container.metrics.authz_denials.labels(endpoint, mode.value).inc()
        log.info(
            "authz.denied",
            endpoint=endpoint,
            principal=principal.subject,
            action=action,
            resource=resource,
            decision=decision,
            mode=mode.value,
        )
        if mode is Mode.AUDIT:
            return principal
        raise Forbidden()


async def _not_found_first(
    container: Container, tenant_id: uuid.UUID, resource: str, as_resource: bool
) -> None:
    """A user or group that does not exist in the caller's tenant is 404 even to someone
    who may not see it: another tenant's ids must look like nothing at all. Routes about
    resource records (``as_resource``) say ``resource_not_found``, as they do to anyone."""
    kind, _, ident = resource.partition(":")
    if kind not in (USER, GROUP):
        return
    object_id = uuid.UUID(ident)
    async with container.uow(readonly=True) as uow:
        if kind == USER:
            missing = await uow.users.get(tenant_id, object_id) is None
        else:
            missing = await uow.groups.get(tenant_id, object_id) is None
    if missing:
        if as_resource:
            raise ResourceNotFound()
        raise UserNotFound() if kind == USER else GroupNotFound()


def _marker(requirement: Requirement) -> Any:
    return Depends(Guard(requirement))


F = TypeVar("F", bound=Callable[..., Any])
_ACCESS_ATTRIBUTE = "__truapi_access__"


def public(endpoint: F) -> F:
    """Mark a route as open to anyone (no dependency: health checks stay cheap)."""
    setattr(endpoint, _ACCESS_ATTRIBUTE, Access.PUBLIC)
    return endpoint


def authenticated(endpoint: F) -> F:
    """Mark a route that acts only on the caller: any authenticated principal may call it
    (the route must depend on the bearer token, which ``endpoints`` verifies)."""
    setattr(endpoint, _ACCESS_ATTRIBUTE, Access.AUTHENTICATED)
    return endpoint


def require(action: str, resource: str) -> Any:
    """The route needs ``action`` on ``resource`` (a template over path parameters and
    ``tenant_id``, such as ``user:{user_id}``)."""
    return _marker(Requirement(Access.PERMISSION, action, resource))


def require_admin(resource: str) -> Any:
    """The route manages ``resource``'s record: ``admin`` on it, or on the tenant root."""
    return _marker(Requirement(Access.PERMISSION, "admin", resource, administer=True))


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    requirement: Requirement | None


def _requirements(dependant: Dependant) -> Iterator[Requirement]:
    for dep in dependant.dependencies:
        if isinstance(dep.call, Guard):
            yield dep.call.requirement
        yield from _requirements(dep)


def _authenticates(dependant: Dependant) -> bool:
    return any(dep.call is bearer or _authenticates(dep) for dep in dependant.dependencies)


def _declared(route: APIRoute) -> Requirement | None:
    """The one requirement a route declares; None when it declares none, or several."""
    declared = list(dict.fromkeys(_requirements(route.dependant)))
    marked = getattr(route.endpoint, _ACCESS_ATTRIBUTE, None)
    if marked is Access.PUBLIC and not declared:
        return Requirement(Access.PUBLIC)
    if marked is Access.AUTHENTICATED and not declared and _authenticates(route.dependant):
        return Requirement(Access.AUTHENTICATED)
    if marked is None and len(declared) == 1:
        return declared[0]
    return None


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every route with its declared requirement (None when it declares none). Routes the
    framework adds itself (the OpenAPI document, static assets) are public."""
    found: list[Endpoint] = []
    # Included routers are single lazy entries of ``app.routes``: walk their routes.
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = path_template(str(context.path))
        if isinstance(route, APIRoute):
            requirement = _declared(route)
            for method in sorted(context.methods or ()):
                found.append(Endpoint(method, path, requirement))
        elif isinstance(route, Route):
            for method in sorted(context.methods or ()):
                if method != "HEAD":
                    found.append(Endpoint(method, path, Requirement(Access.PUBLIC)))
        elif isinstance(route, Mount):
            found.append(Endpoint("GET", f"{path}/{{path}}", Requirement(Access.PUBLIC)))
    return found


def endpoint_view(endpoint: Endpoint, container: Container) -> dict[str, Any]:
    requirement = endpoint.requirement or Requirement(Access.PERMISSION, "*", "{unknown}")
    item: dict[str, Any] = {
        "method": endpoint.method,
        "path": endpoint.path,
        "access": requirement.access.value,
    }
    if requirement.access is Access.PERMISSION:
        override = container.authz_overrides.get(f"{endpoint.method} {endpoint.path}")
        item["action"] = (override.action if override and override.action else None) or (
            requirement.action
        )
        item["resource"] = requirement.resource
        item["mode"] = (
            override.mode.value if override and override.mode else container.settings.authz_mode
        )
        if requirement.administer:
            item["or_tenant_root"] = True
    return item


def root_of(principal: Principal) -> str:
    return tenant_root(principal.tenant_id)


def warn_unknown_overrides(app: FastAPI) -> None:
    """Log each ``APP_AUTHZ_ENDPOINT_OVERRIDES`` key that names no route (a typo would
    otherwise go unnoticed)."""
    container: Container = app.state.container
    known = {f"{e.method} {e.path}" for e in endpoints(app)}
    for key in sorted(set(container.authz_overrides) - known):
        log.warning("authz.unknown_override", endpoint=key)
