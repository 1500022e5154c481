"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from truapi import __version__
from truapi.api.errors import exception_container
from truapi.api.guards import warn_unknown_overrides
from truapi.api.middleware import RequestContextMiddleware
from truapi.api.routers import (
    admin,
    auth,
    authz,
    docs,
    groups,
    health,
    resources,
    sessions,
    users,
    wellknown,
)
from truapi.api.routing import index_routes
from truapi.api.schemas.problems import problem_responses
from truapi.bootstrap import Container, build_container
from truapi.config import Settings
from truapi.telemetry import AccessLog

OPENAPI_URL = "/openapi.json"

TAGS = [
    {"name": "auth", "description": "Log in, refresh, log out, revoke and introspect tokens."},
    {"name": "me", "description": "The caller's own account, password and sessions."},
    {"name": "users", "description": "Users of a tenant: create, read, change, delete, list."},
    {"name": "sessions", "description": "Other users' sessions (administrators)."},
    {"name": "groups", "description": "Groups, nested groups and directory reconciliation."},
    {
        "name": "authorization",
        "description": "Resources, ACLs, default ACLs, permission checks and endpoint "
        "requirements.",
    },
    {"name": "admin", "description": "Platform operations: signing keys."},
    {"name": "discovery", "description": "JWKS and the OpenID discovery document."},
    {"name": "health", "description": "Liveness, readiness and metrics."},
]


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    migrate_on_start: bool | None = None,
) -> FastAPI:
    """Build the FastAPI app; storage is opened in the lifespan and closed after it.

    Migrations run at start-up when ``APP_AUTO_MIGRATE`` is on, unless ``migrate_on_start``
    says otherwise (``truapi serve`` migrates once before it starts its workers).
    """
    settings = settings or (container.settings if container else Settings())
    the_container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await the_container.start(migrate_first=migrate_on_start)
        # A configured bootstrap admin is made by any start-up; a generated one only by
        # `truapi serve`, which can show its password on the console.
        await the_container.bootstrap_admin(generate_when_unset=False)
        await the_container.start_background()
        try:
            yield
        finally:
            await the_container.close()

    docs_on = settings.docs_on
    app = FastAPI(
        title="TruAPI",
        version=__version__,
        summary="Identity and access: who is this, and may they do this?",
        openapi_url=OPENAPI_URL if docs_on else None,
        docs_url=None,
        redoc_url=None,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.container = the_container
    exception_container(app)
    app.include_router(health.router)
    if settings.metrics_enabled:
        app.include_router(health.metrics_router)
    app.include_router(wellknown.router)
    app.include_router(auth.router, responses=problem_responses(500))
    app.include_router(sessions.me_router, responses=problem_responses(500))
    app.include_router(users.router, responses=problem_responses(500, 401))
    app.include_router(sessions.users_router, responses=problem_responses(500))
    app.include_router(groups.user_groups_router, responses=problem_responses(500))
    app.include_router(groups.router, responses=problem_responses(500))
    app.include_router(resources.resources_router, responses=problem_responses(500))
    app.include_router(resources.acls_router, responses=problem_responses(500))
    app.include_router(resources.dacls_router, responses=problem_responses(500))
    app.include_router(authz.router, responses=problem_responses(500))
    app.include_router(admin.router, responses=problem_responses(500))
    if docs_on:
        docs.install_docs(app, openapi_url=OPENAPI_URL, title="TruAPI")
    index_routes(app.router)
    warn_unknown_overrides(app)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=the_container.metrics,
        access_log=AccessLog(json_lines=settings.json_logs, level=settings.log_level),
        max_body_bytes=settings.max_body_bytes,
        report_error=the_container.report_error,
        is_unavailable=the_container.is_unavailable,
    )
    return app
