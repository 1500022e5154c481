"""Logs: one structured access line per request, with ids bound, and never a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import structlog

from tests.conftest import authenticate
from truapi.api.app import create_app
from truapi.config import Settings
from truapi.telemetry import configure_logging

SECRET = "correct horse battery staple 42"


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def json_logging(capsys: pytest.CaptureFixture[str]) -> Any:
    """JSON logs written to the captured stderr (structlog binds the stream when configured)."""
    configure_logging(json_logs=True, level="info")
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.usefixtures("json_logging")
async def test_each_request_writes_one_json_access_line_without_secrets(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(log_format="json"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            tokens = await authenticate(client)
            capsys.readouterr()
            created = await client.post(
                "/users",
                json={"username": "alice", "email": "alice@example.com", "password": SECRET},
                headers={"X-Request-ID": "req-create-1"},
            )
            missing = await client.get("/users/00000000-0000-7000-8000-000000000000")
            output = capsys.readouterr()
    assert created.status_code == 201
    assert missing.status_code == 404
    access = [line for line in _json_lines(output.err) if line.get("event") == "request"]
    assert len(access) == 2
    first, second = access
    assert first["method"] == "POST"
    assert first["route"] == "/users"
    assert first["status"] == 201
    assert first["request_id"] == "req-create-1"
    assert first["tenant"] == created.json()["tenant_id"]
    assert first["principal"].startswith("user:")
    assert isinstance(first["duration_ms"], float)
    assert first["timestamp"].endswith("Z")
    assert second["route"] == "/users/{user_id}"
    assert second["status"] == 404
    assert second["request_id"] == missing.headers["x-request-id"]
    assert SECRET not in output.err + output.out
    for secret in (tokens["access_token"], tokens["refresh_token"]):
        assert secret not in output.err + output.out


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.usefixtures("json_logging")
async def test_an_unexpected_error_is_logged_with_its_request_id(
    make_settings: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(log_format="json"))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            capsys.readouterr()
            response = await client.get("/boom", headers={"X-Request-ID": "req-boom"})
            output = capsys.readouterr()
    assert response.status_code == 500
    assert "kaboom" not in response.text
    lines = _json_lines(output.err)
    errors = [line for line in lines if line.get("event") == "request.unhandled_exception"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "req-boom"
    assert "kaboom" in errors[0]["exception"]
    access = [line for line in lines if line.get("event") == "request"]
    assert [(a["status"], a["request_id"]) for a in access] == [(500, "req-boom")]


def test_secret_named_fields_are_redacted(
    json_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    structlog.get_logger("t").warning("login", username="bob", password=SECRET, token="abc")
    line = _json_lines(capsys.readouterr().err)[-1]
    assert line["username"] == "bob"
    assert line["password"] == "[redacted]"
    assert line["token"] == "[redacted]"
