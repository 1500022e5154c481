"""The ``truapi`` command line, run as a user would run it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.live_server import running_server
from truapi.adapters.sqlalchemy.engine import make_engine
from truapi.adapters.sqlalchemy.unit_of_work import SqlUnitOfWorkFactory
from truapi.application.tenants.bootstrap import is_admin
from truapi.cli import app
from truapi.domain.tenants import DEFAULT_TENANT_SLUG

ROOT = Path(__file__).resolve().parents[2]


def _env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(
        APP_DATABASE_URL=db_url,
        APP_ARGON2_TIME_COST="1",
        APP_ARGON2_MEMORY_COST_KIB="8192",
        **extra,
    )
    return env


def truapi(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "truapi", *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_check_reports_a_schema_behind_then_up_to_date(tmp_path: Path) -> None:
    env = _env(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    behind = truapi("migrate", "--check", env=env)
    assert behind.returncode == 1, behind.stderr
    assert "pending" in behind.stdout
    applied = truapi("migrate", env=env)
    assert applied.returncode == 0, applied.stderr
    current = truapi("migrate", "--check", env=env)
    assert current.returncode == 0, current.stderr
    assert "up to date" in current.stdout


def test_users_create_admin_records_a_tenant_administrator(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = _env(db)
    made = truapi(
        "users",
        "create",
        "--username",
        "Root.Admin",
        "--email",
        "root@example.com",
        "--password",
        "a long and unusual passphrase",
        "--admin",
        env=env,
    )
    assert made.returncode == 0, made.stderr
    assert "root.admin" in made.stdout
    plain = truapi(
        "users",
        "create",
        "--username",
        "bob",
        "--email",
        "bob@example.com",
        "--password",
        "another unusual passphrase",
        env=env,
    )
    assert plain.returncode == 0, plain.stderr
    again = truapi(
        "users",
        "create",
        "--username",
        "ROOT.admin",
        "--email",
        "x@example.com",
        "--password",
        "a long and unusual passphrase",
        env=env,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    bad = truapi(
        "users",
        "create",
        "--username",
        "x",
        "--email",
        "x@example.com",
        "--password",
        "a long and unusual passphrase",
        env=env,
    )
    assert bad.returncode == 2
    assert "username" in bad.stderr

    async def admin_flags() -> tuple[bool, bool]:
        uow = SqlUnitOfWorkFactory(make_engine(db))
        try:
            async with uow(readonly=True) as tx:
                tenant = await tx.tenants.get_by_slug(DEFAULT_TENANT_SLUG)
                assert tenant is not None
                root = await tx.users.get_by_username(tenant.id, "root.admin")
                bob = await tx.users.get_by_username(tenant.id, "bob")
            assert root is not None
            assert bob is not None
            return await is_admin(uow, tenant, root), await is_admin(uow, tenant, bob)
        finally:
            await uow.close()

    assert asyncio.run(admin_flags()) == (True, False)


def test_production_refuses_the_development_secret(tmp_path: Path) -> None:
    env = _env(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", APP_ENV="production")
    result = truapi("migrate", env=env)
    assert result.returncode == 2
    assert "APP_SECRET_KEY" in result.stderr


@pytest.mark.xdist_group("serve")
def test_serve_bootstraps_an_admin_and_prints_the_password_only_to_the_console(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path / "serve") as server:
        printed = server.stdout.read_text()
        assert "Bootstrap administrator created: admin" in printed
        assert server.base_url in printed
        password = printed.split("password (shown once):", 1)[1].split()[0]
        assert len(password) >= 20
        login = httpx.post(
            f"{server.base_url}/auth/login", json={"username": "admin", "password": password}
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        users = httpx.get(
            f"{server.base_url}/users", headers={"Authorization": f"Bearer {token}"}
        ).json()["items"]
        assert [u["username"] for u in users] == ["admin"]
    assert password not in server.stderr.read_text()
    assert token not in server.stderr.read_text()


def test_the_commands_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same commands through typer's runner, in this process (so coverage sees them)."""
    for key, value in _env(f"sqlite+aiosqlite:///{tmp_path / 'inproc.db'}").items():
        if key.startswith("APP_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    behind = runner.invoke(app, ["migrate", "--check"])
    assert behind.exit_code == 1
    assert "pending" in behind.output
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    assert "up to date" in runner.invoke(app, ["migrate", "--check"]).output
    made = runner.invoke(
        app,
        [
            "users",
            "create",
            "--username",
            "Carol",
            "--email",
            "carol@example.com",
            "--password",
            "a long and unusual passphrase",
            "--admin",
        ],
    )
    assert made.exit_code == 0, made.output
    assert "created user carol" in made.output
    assert "as administrator" in made.output
    common = runner.invoke(
        app,
        [
            "users",
            "create",
            "--username",
            "dave",
            "--email",
            "dave@example.com",
            "--password",
            "password123",
        ],
    )
    assert common.exit_code == 2
    bad_email = runner.invoke(
        app,
        [
            "users",
            "create",
            "--username",
            "erin",
            "--email",
            "not-an-email",
            "--password",
            "a long and unusual passphrase",
        ],
    )
    assert bad_email.exit_code == 2
    monkeypatch.setenv("APP_ENV", "production")
    refused = runner.invoke(app, ["migrate"])
    assert refused.exit_code == 2
