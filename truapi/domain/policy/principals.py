"""Who an ACL entry names: ``user:<id>``, ``group:<id>``, ``api_key:<id>``, ``owner`` or
``authenticated``."""

from __future__ import annotations

import uuid

from truapi.domain.errors import InvalidValue

OWNER = "owner"
AUTHENTICATED = "authenticated"
_KINDS = ("user", "group", "api_key")


def parse_principal(value: str, field: str, *, special: bool = True) -> str:
    """Validate an entry principal and return its canonical form (lower-case UUIDs).

    With ``special`` False only concrete principals (``user:``/``group:``/``api_key:``) pass,
    as for a resource's owner or the subject of a check."""
    if special and value in (OWNER, AUTHENTICATED):
        return value
    kind, sep, ident = value.partition(":")
    if sep and kind in _KINDS:
        try:
            return f"{kind}:{uuid.UUID(ident)}"
        except ValueError:
            pass
    allowed = "'user:<id>', 'group:<id>', 'api_key:<id>'"
    if special:
        allowed += ", 'owner' or 'authenticated'"
    raise InvalidValue(field, f"A principal is one of {allowed}.", "invalid_principal")
