"""Translate database integrity errors into domain errors, by the constraint they name."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from truapi.domain.errors import DomainError


def constraint_hit(error: IntegrityError, *names: str) -> bool:
    """Whether the violated constraint mentions all of ``names`` (works on SQLite and PG)."""
    message = str(error.orig)
    # PostgreSQL names the constraint (uq_users_tenant_id_username); SQLite names the columns
    # (users.tenant_id, users.username); both contain the table and column names.
    return all(name in message for name in names)


def translate(error: IntegrityError, mapping: list[tuple[tuple[str, ...], DomainError]]) -> None:
    """Raise the first domain error whose names all appear in ``error``; else re-raise it."""
    for names, domain_error in mapping:
        if constraint_hit(error, *names):
            raise domain_error from None
    raise error
