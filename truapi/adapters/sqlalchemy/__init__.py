"""Async SQLAlchemy (Core) adapters for SQLite and PostgreSQL."""
