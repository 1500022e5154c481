"""Translate database integrity errors into domain errors, by the constraint they name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from sqlalchemy.exc import IntegrityError

from truapi.domain.errors import DomainError


def constraint_hit(error: IntegrityError, *names: str) -> bool:
    """Whether the violated constraint mentions all of ``names`` (works on SQLite and PG)."""
    message = str(error.orig)
    # PostgreSQL names the constraint (uq_users_tenant_id_username); SQLite names the columns
    # (users.tenant_id, users.username); both contain the table and column names.
    return all(name in message for name in names)


def translate(
    error: IntegrityError, mapping: Sequence[tuple[tuple[str, ...], DomainError]]
) -> NoReturn:
    """Raise the first domain error whose names all appear in ``error``; else re-raise it."""
    for names, domain_error in mapping:
        if constraint_hit(error, *names):
            raise domain_error from None
    raise error


def foreign_key_violated(error: IntegrityError) -> bool:
    """Whether ``error`` is a missing referenced row ("FOREIGN KEY constraint failed" on
    SQLite, "violates foreign key constraint" on PostgreSQL)."""
    return "foreign key constraint" in str(error.orig).lower()
