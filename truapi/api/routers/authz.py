"""``/authz``: ask whether a principal may do something, and see every endpoint's
requirement."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from truapi.api.deps import JsonBody, get_container
from truapi.api.guards import authenticated, endpoint_view, endpoints, require
from truapi.api.schemas.authz import CheckBatchIn, CheckBatchOut, CheckIn, CheckOut, EndpointList
from truapi.api.schemas.problems import problem_responses
from truapi.api.security import CurrentPrincipal
from truapi.bootstrap import Container
from truapi.domain.errors import Forbidden, GroupNotFound, InvalidValue, UserNotFound
from truapi.domain.policy.acl import ACTION_RE, ANY_ACTION
from truapi.domain.policy.engine import Verdict
from truapi.domain.policy.principals import parse_principal
from truapi.domain.policy.resources import ResourceName, tenant_root
from truapi.domain.principals import Principal

router = APIRouter(prefix="/authz", tags=["authorization"])
log = structlog.get_logger("truapi.authz")

CHECK_ON_BEHALF = "check"

#: Resource names already parsed, as given -> canonical; checks name the same few often.
_RESOURCES: dict[str, str] = {}
_RESOURCE_CACHE_SIZE = 10_000


def _triple(check: CheckIn, caller: str, index: int | None) -> tuple[str, str, str]:
    where = "" if index is None else f"checks.{index}."
    principal = (
        parse_principal(check.principal, f"{where}principal", special=False)
        if check.principal is not None
        else caller
    )
    if check.action != ANY_ACTION and not ACTION_RE.fullmatch(check.action):
        raise InvalidValue(
            f"{where}action",
            "An action is '*' or 1-64 of [a-z0-9_.-] starting with a letter.",
            "invalid_action",
        )
    resource = _RESOURCES.get(check.resource)
    if resource is None:
        resource = str(ResourceName.parse(check.resource, f"{where}resource"))
        if len(_RESOURCES) >= _RESOURCE_CACHE_SIZE:
            _RESOURCES.clear()
        _RESOURCES[check.resource] = resource
    return principal, check.action, resource


async def _may_check_others(
    container: Container, caller: Principal, triples: list[tuple[str, str, str]]
) -> None:
    """Checking for someone else needs ``check`` on the tenant root; the subjects must be
    users or groups of the caller's tenant."""
    others = {t[0] for t in triples if t[0] != caller.subject}
    if not others:
        return
    verdict = await container.authorizer.check(
        caller.tenant_id, caller.subject, CHECK_ON_BEHALF, tenant_root(caller.tenant_id)
    )
    if not verdict.allowed:
        raise Forbidden("Checking for another principal needs 'check' on the tenant root.")
    async with container.uow(readonly=True) as uow:
        for other in sorted(others):
            kind, _, ident = other.partition(":")
            if kind == "user" and await uow.users.get(caller.tenant_id, uuid.UUID(ident)) is None:
                raise UserNotFound()
            if kind == "group" and await uow.groups.get(caller.tenant_id, uuid.UUID(ident)) is None:
                raise GroupNotFound()
            if kind not in ("user", "group"):
                raise InvalidValue(
                    "principal", "Checks are made for a user or a group.", "invalid_principal"
                )


def _answer(container: Container, triple: tuple[str, str, str], verdict: Verdict) -> dict[str, Any]:
    container.metrics.count_decision(verdict.decision.value)
    if not verdict.allowed:
        log.info(
            "authz.check_denied",
            principal=triple[0],
            action=triple[1],
            resource=triple[2],
            decision=verdict.decision.value,
            fault=verdict.fault.value if verdict.fault else None,
        )
    return verdict.to_dict()


@router.post(
    "/check",
    response_model=CheckOut,
    summary="Check a permission",
    dependencies=[JsonBody],
    responses={
        **problem_responses(400, 401, 403, 413, 415, 422, 503),
        **problem_responses(404, s404="`user_not_found` or `group_not_found` (the principal)"),
    },
)
@authenticated
async def check(body: CheckIn, principal: CurrentPrincipal, request: Request) -> Response:
    """May `principal` (the caller when left out) do `action` on `resource`? The answer
    says why: the decision step and the entry that decided, or `fallback`."""
    container = get_container(request)
    triple = _triple(body, principal.subject, None)
    await _may_check_others(container, principal, [triple])
    verdict = await container.authorizer.check(principal.tenant_id, *triple)
    return JSONResponse(_answer(container, triple, verdict))


@router.post(
    "/check-batch",
    response_model=CheckBatchOut,
    summary="Check many permissions",
    dependencies=[JsonBody],
    responses={
        **problem_responses(400, 401, 403, 413, 415, 422, 503),
        **problem_responses(404, s404="`user_not_found` or `group_not_found` (a principal)"),
    },
)
@authenticated
async def check_batch(
    body: CheckBatchIn, principal: CurrentPrincipal, request: Request
) -> Response:
    """1-100 checks answered in order, each as `POST /authz/check` would."""
    container = get_container(request)
    caller = principal.subject
    triples = [_triple(c, caller, i) for i, c in enumerate(body.checks)]
    await _may_check_others(container, principal, triples)
    verdicts = await container.authorizer.check_many(principal.tenant_id, triples)
    return JSONResponse(
        {"results": [_answer(container, t, v) for t, v in zip(triples, verdicts, strict=True)]}
    )


@router.get(
    "/endpoints",
    response_model=EndpointList,
    summary="List endpoint requirements",
    dependencies=[require("read", "tenant:{tenant_id}")],
    responses=problem_responses(401, 403, 503),
)
async def list_endpoints(request: Request) -> Response:
    """Every route with what it needs: `public`, `authenticated` (acts on the caller only)
    or `permission` with the action and resource template checked (and the mode in force)."""
    container = get_container(request)
    items = [endpoint_view(e, container) for e in endpoints(request.app)]
    return JSONResponse({"items": items})
