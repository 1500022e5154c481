"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict

from truapi.api.deps import get_container
from truapi.api.guards import public

router = APIRouter(tags=["health"])
#: Included only when ``APP_METRICS_ENABLED`` is on.
metrics_router = APIRouter(tags=["health"])


class Live(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})
    status: Literal["ok"]


class ReadyChecks(BaseModel):
    database: Literal["ok", "failing"]
    redis: Literal["ok", "disabled", "degraded"]


class Ready(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ok", "checks": {"database": "ok", "redis": "disabled"}}]
        }
    )
    status: Literal["ok", "failing"]
    checks: ReadyChecks


_LIVE = b'{"status":"ok"}'


@router.get("/health/live", response_model=Live, summary="Liveness")
@public
async def live() -> Response:
    """200 while the process runs."""
    return Response(_LIVE, media_type="application/json")


@router.get(
    "/health/ready",
    response_model=Ready,
    summary="Readiness",
    responses={503: {"model": Ready, "description": "The database is unreachable"}},
)
@public
async def ready(request: Request) -> JSONResponse:
    """200 when the database answers; 503 naming the failing dependency otherwise.

    Redis is not critical: when it stops answering this still says 200, with `degraded`.
    """
    container = get_container(request)
    db_ok, redis = await asyncio.gather(container.database_ok(), container.redis_status())
    body = {
        "status": "ok" if db_ok else "failing",
        "checks": {"database": "ok" if db_ok else "failing", "redis": redis},
    }
    return JSONResponse(body, status_code=200 if db_ok else 503)


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
@public
async def metrics(request: Request) -> Response:
    """Request counts and latency by route template, auth failures, authz decisions."""
    registry = get_container(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
