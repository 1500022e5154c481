"""Opaque, tamper-evident keyset cursors and the page they come with."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from truapi.domain.errors import InvalidCursor

T = TypeVar("T")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
_MAC_BYTES = 16


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class CursorCodec:
    """Signs cursors with a server key and binds each to the query it came from.

    A cursor is only accepted for the same tenant, listing and filters, so a cursor from
    another query or tenant gives ``InvalidCursor`` rather than a confusing page.
    """

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"truapi-cursor\x00" + key).digest()

    def encode(self, context: str, position: list[Any]) -> str:
        body = json.dumps([context, position], separators=(",", ":")).encode()
        mac = hmac.digest(self._key, body, "sha256")[:_MAC_BYTES]
        return base64.urlsafe_b64encode(mac + body).rstrip(b"=").decode("ascii")

    def decode(self, context: str, cursor: str) -> list[Any]:
        if len(cursor) > 2048:
            raise InvalidCursor()
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor() from exc
        mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        expected = hmac.digest(self._key, body, "sha256")[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            raise InvalidCursor()
        try:
            found_context, position = json.loads(body)
        except (ValueError, TypeError) as exc:
            raise InvalidCursor() from exc
        if not hmac.compare_digest(str(found_context).encode(), context.encode()):
            raise InvalidCursor()
        if not isinstance(position, list):
            raise InvalidCursor()
        return position
