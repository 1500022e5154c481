"""Entry point for ``uvicorn`` workers started by ``truapi serve`` (settings from the env)."""

from __future__ import annotations

from fastapi import FastAPI

from truapi.api.app import create_app
from truapi.config import Settings
from truapi.telemetry import configure_logging


def serve_app() -> FastAPI:
    """App factory for workers: ``truapi serve`` has already applied migrations."""
    settings = Settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    return create_app(settings, migrate_on_start=False)
