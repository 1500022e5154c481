"""Cursor codec: cursors round-trip, and anything altered or foreign is an InvalidCursor."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truapi.application.pagination import CursorCodec
from truapi.domain.errors import InvalidCursor

CONTEXT = "users:0123456789abcdef:feedface"
POSITION: list[Any] = ["2026-03-01T12:00:00+00:00", "0190b3c4-0000-7000-8000-000000000000"]


@pytest.fixture
def codec() -> CursorCodec:
    return CursorCodec(b"server key")


def _raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def _text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def test_round_trip(codec: CursorCodec) -> None:
    cursor = codec.encode(CONTEXT, POSITION)
    assert codec.decode(CONTEXT, cursor) == POSITION
    # URL-safe as is: no padding, no "+" or "/".
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)


@given(
    st.lists(
        st.one_of(st.text(), st.integers(), st.booleans(), st.none()),
        max_size=4,
    ),
    st.text(min_size=1, max_size=50),
)
def test_round_trip_any_position(position: list[Any], context: str) -> None:
    codec = CursorCodec(b"server key")
    assert codec.decode(context, codec.encode(context, position)) == position


def test_every_tampered_byte_is_refused(codec: CursorCodec) -> None:
    raw = _raw(codec.encode(CONTEXT, POSITION))
    for index in range(len(raw)):
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        with pytest.raises(InvalidCursor):
            codec.decode(CONTEXT, _text(bytes(tampered)))


def test_edited_position_is_refused(codec: CursorCodec) -> None:
    # The position is readable, but changing it breaks the signature.
    raw = _raw(codec.encode(CONTEXT, POSITION))
    forged = raw.replace(b"2026-03-01", b"2000-01-01")
    assert forged != raw
    with pytest.raises(InvalidCursor):
        codec.decode(CONTEXT, _text(forged))


def test_truncated_or_extended_cursor_is_refused(codec: CursorCodec) -> None:
    cursor = codec.encode(CONTEXT, POSITION)
    for broken in (cursor[:-1], cursor[:-4], cursor[:10], cursor + "A", cursor + "AAAA"):
        with pytest.raises(InvalidCursor):
            codec.decode(CONTEXT, broken)


def test_cursor_from_another_context_is_refused(codec: CursorCodec) -> None:
    cursor = codec.encode(CONTEXT, POSITION)
    for other in ("users:other-tenant:feedface", CONTEXT + "x", CONTEXT[:-1], ""):
        with pytest.raises(InvalidCursor):
            codec.decode(other, cursor)


def test_cursor_signed_with_another_key_is_refused(codec: CursorCodec) -> None:
    foreign = CursorCodec(b"another key").encode(CONTEXT, POSITION)
    with pytest.raises(InvalidCursor):
        codec.decode(CONTEXT, foreign)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "A",
        "not-a-cursor",
        "!!!!",
        "====",
        "%%%",
        "\u00e4\u00f6\u00fc",
        "\x00",
        "A" * 2049,
        "A" * 100_000,
        _text(b"\x00" * 16 + b'["users:0123456789abcdef:feedface",[]]'),
    ],
)
def test_garbage_is_refused(codec: CursorCodec, garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode(CONTEXT, garbage)


@given(st.text(max_size=300))
def test_any_text_is_a_cursor_or_invalid_cursor(garbage: str) -> None:
    # Never an exception other than InvalidCursor, whatever a client sends.
    codec = CursorCodec(b"server key")
    try:
        codec.decode(CONTEXT, garbage)
    except InvalidCursor:
        return
    pytest.fail(f"accepted a cursor it never issued: {garbage!r}")


@given(st.binary(max_size=300))
def test_any_bytes_are_invalid(raw: bytes) -> None:
    codec = CursorCodec(b"server key")
    with pytest.raises(InvalidCursor):
        codec.decode(CONTEXT, _text(raw))
