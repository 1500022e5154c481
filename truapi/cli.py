"""The ``truapi`` command line: serve, migrate, and user administration."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
import uvicorn
from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError

from truapi.application.tenants.bootstrap import make_admin
from truapi.application.users.service import CreateUser
from truapi.bootstrap import Container, build_container, migrate, pending_migrations
from truapi.config import Settings
from truapi.domain.audit import SYSTEM
from truapi.domain.errors import DomainError, InvalidValue
from truapi.domain.tokens import KeyState, SigningKey
from truapi.domain.users import format_timestamp
from truapi.telemetry import configure_logging

app = typer.Typer(help="TruAPI: identity and access service.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(users_app, name="users")
keys_app = typer.Typer(help="Manage the JWT signing keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

T = TypeVar("T")


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"configuration error: {err['msg']}", err=True)
        raise typer.Exit(2) from None
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    return settings


def _run(settings: Settings, work: Callable[[Container], Awaitable[T]]) -> T:
    async def main() -> T:
        container = build_container(settings)
        try:
            return await work(container)
        finally:
            await container.close()

    return asyncio.run(main())


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Start the HTTP server (migrating first when APP_AUTO_MIGRATE is on)."""
    settings = _settings()

    async def prepare(container: Container) -> None:
        await container.start()
        made = await container.bootstrap_admin(generate_when_unset=True)
        if made is not None:
            # Printed to the console only: the log never carries the password.
            typer.echo(f"Bootstrap administrator created: {made.user.username}")
            if made.generated_password is not None:
                typer.echo(f"  password (shown once): {made.generated_password}")

    try:
        _run(settings, prepare)
    except DomainError as exc:
        typer.echo(f"start-up failed: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"TruAPI listening on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "truapi.api.asgi:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )


@app.command("migrate")
def migrate_command(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when migrations are pending; change nothing.")
    ] = False,
) -> None:
    """Apply database migrations (alembic upgrade head)."""
    settings = _settings()

    async def work(container: Container) -> list[str]:
        if check:
            return await pending_migrations(container.engine, settings.database_url)
        await migrate(container.engine, settings.database_url)
        return []

    pending = _run(settings, work)
    if check:
        if pending:
            typer.echo(f"schema is behind: {len(pending)} migration(s) pending")
            raise typer.Exit(1)
        typer.echo("schema is up to date")
    else:
        typer.echo("migrations applied")


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Option(help="Username (3-32 chars of a-z 0-9 . _ -).")],
    email: Annotated[str, typer.Option(help="Email address.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="Password (8-256 chars)."
        ),
    ],
    display_name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make a tenant administrator.")] = False,
) -> None:
    """Create a user in the default tenant."""
    settings = _settings()

    async def work(container: Container) -> tuple[str, str]:
        await container.start()
        created = await container.users.create(
            CreateUser(
                tenant_id=container.default_tenant_id,
                username=username,
                email=_checked_email(email),
                display_name=display_name,
                password=password,
            )
        )
        user_id = str(created.view["id"])
        if admin:
            user = await container.users.get(container.default_tenant_id, uuid.UUID(user_id))
            await make_admin(container.uow, container.clock, container.default_tenant, user)
        return user_id, str(created.view["username"])

    try:
        user_id, name = _run(settings, work)
    except InvalidValue as exc:
        typer.echo(f"error: {exc.field} {exc.detail}", err=True)
        raise typer.Exit(2) from None
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created user {name} ({user_id}){' as administrator' if admin else ''}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new active signing key; the previous one verifies until its tokens expire."""
    settings = _settings()

    async def work(container: Container) -> SigningKey:
        await container.start()
        return await container.keys.rotate(container.default_tenant_id, actor=SYSTEM)

    try:
        key = _run(settings, work)
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"new active key {key.kid} ({key.algorithm})")


@keys_app.command("list")
def keys_list() -> None:
    """Show every signing key with its state."""
    settings = _settings()

    async def work(container: Container) -> list[SigningKey]:
        await container.start()
        return await container.keys.all()

    try:
        keys = _run(settings, work)
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from None
    for key in keys:
        until = ""
        if key.state is KeyState.RETIRING and key.retire_after is not None:
            until = f"  verifies until {format_timestamp(key.retire_after)}"
        typer.echo(
            f"{key.kid}  {key.algorithm:<6} {key.state.value:<8} "
            f"created {format_timestamp(key.created_at)}{until}"
        )


def _checked_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidValue("email", str(exc)) from None


def main() -> None:
    app(prog_name="truapi")


if __name__ == "__main__":  # pragma: no cover
    main()
