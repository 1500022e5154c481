"""Users in the domain: how usernames, emails and display names are normalised and checked."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from truapi.domain.errors import InvalidValue
from truapi.domain.users import (
    User,
    UserStatus,
    check_password_length,
    format_timestamp,
    normalize_display_name,
    normalize_email,
    normalize_username,
)

USERNAME_SHAPE = re.compile(r"[a-z0-9][a-z0-9._-]{2,31}")
NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def fullwidth(text: str) -> str:
    """``text`` in full-width forms (U+FF01-U+FF5E)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


# --- usernames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice", "alice"),
        ("Alice", "alice"),
        ("ALICE", "alice"),
        (fullwidth("alice"), "alice"),  # NFKC folds full-width letters
        (fullwidth("ALICE"), "alice"),
        ("\u212aate", "kate"),  # KELVIN SIGN folds to K
        ("\ufb00oo", "ffoo"),  # the "ff" ligature
        ("a.b_c-d", "a.b_c-d"),
        ("0day", "0day"),
        ("abc", "abc"),
        ("a" * 32, "a" * 32),
    ],
)
def test_username_is_folded_to_one_form(raw: str, expected: str) -> None:
    assert normalize_username(raw) == expected


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("ali\u200bce", "string_pattern_mismatch"),  # zero-width space
        ("\u0430lice", "string_pattern_mismatch"),  # Cyrillic a, looks like Latin a
        ("b\u043eb", "string_pattern_mismatch"),  # Cyrillic o
        ("al ice", "string_pattern_mismatch"),
        ("alice!", "string_pattern_mismatch"),
        ("ali@ce", "string_pattern_mismatch"),
        (".alice", "string_pattern_mismatch"),
        ("_alice", "string_pattern_mismatch"),
        ("-alice", "string_pattern_mismatch"),
        ("\u00e4rger", "string_pattern_mismatch"),  # a-umlaut: letters outside a-z
        ("stra\u00dfe", "string_pattern_mismatch"),  # sharp s does not lower-case to ss
        ("\u0130stanbul", "string_pattern_mismatch"),  # dotted capital I lowers to i + dot
        ("alice\n", "string_pattern_mismatch"),
        ("ab", "string_length"),
        ("", "string_length"),
        ("a" * 33, "string_length"),
        (fullwidth("a" * 33), "string_length"),
    ],
)
def test_bad_usernames_are_refused(raw: str, kind: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_username(raw)
    assert info.value.field == "username"
    assert info.value.kind == kind


@given(st.text(max_size=40))
@example("ALICE")
@example(fullwidth("Bob.Smith"))
@example("\u2460\u2461\u2462")  # circled digits, NFKC gives "123"
def test_username_normalising_is_idempotent_and_shaped(raw: str) -> None:
    try:
        name = normalize_username(raw)
    except InvalidValue as exc:
        field = exc.field
    else:
        assert USERNAME_SHAPE.fullmatch(name)
        assert normalize_username(name) == name
        return
    assert field == "username"


@given(st.from_regex(USERNAME_SHAPE, fullmatch=True))
def test_case_and_width_never_make_a_new_username(name: str) -> None:
    assert normalize_username(name) == name
    assert normalize_username(name.upper()) == name
    assert normalize_username(fullwidth(name)) == name
    assert normalize_username(fullwidth(name.upper())) == name


# --- emails --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice@Example.COM", "alice@example.com"),  # lower-cased whole
        ("  bob@example.com \n", "bob@example.com"),
        ("user@xn--bcher-kva.example", "user@b\u00fccher.example"),  # punycode decoded
        ("User@XN--BCHER-KVA.Example", "user@b\u00fccher.example"),  # any case of the prefix
        ("user@B\u00dcCHER.example", "user@b\u00fccher.example"),
        ("user@bu\u0308cher.example", "user@b\u00fccher.example"),  # NFC
        ("a@" + fullwidth("example.com"), "a@example.com"),  # IDNA width mapping
        ("\u00c4rger@example.com", "\u00e4rger@example.com"),
    ],
)
def test_email_is_folded_to_one_form(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@given(
    st.sampled_from(["alice", "Alice", "ALICE"]),
    st.sampled_from(
        [
            "b\u00fccher.example",
            "B\u00dcCHER.EXAMPLE",
            "xn--bcher-kva.example",
            "XN--Bcher-KVA.example",
        ]
    ),
)
def test_spellings_of_one_address_normalise_alike(local: str, domain: str) -> None:
    assert normalize_email(f"{local}@{domain}") == "alice@b\u00fccher.example"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "alice",
        "@example.com",
        "alice@",
        "al ice@example.com",
        "alice@exa mple.com",
        "alice@exa\u00a0mple.com",  # no-break space
        "ali\x00ce@example.com",  # control characters
        "ali\x7fce@example.com",
        "alice@example.com\x00",
        "alice@xn--a.com",  # not valid punycode
        "alice@xn--.com",
    ],
)
def test_bad_emails_are_refused(raw: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_email(raw)
    assert info.value.field == "email"


def test_email_is_at_most_254_characters() -> None:
    domain = ".".join(["a" * 63, "b" * 63, "c" * 63, "example"])  # 199 characters
    local = "x" * (254 - 1 - len(domain))
    assert len(normalize_email(f"{local}@{domain}")) == 254
    with pytest.raises(InvalidValue) as info:
        normalize_email(f"{local}x@{domain}")
    assert info.value.kind == "string_length"


@given(
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=20),
    st.text(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.\u00fc\u00dc",
        min_size=1,
        max_size=20,
    ),
)
def test_email_normalising_is_idempotent(local: str, domain: str) -> None:
    try:
        once = normalize_email(f"{local}@{domain}")
    except InvalidValue:
        return
    assert normalize_email(once) == once
    assert once == once.lower()


# --- display names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice", "Alice"),
        ("  Alice Liddell  ", "Alice Liddell"),  # trimmed, inner space kept
        ("\tAlice\n", "Alice"),
        ("A\u0308rger", "\u00c4rger"),  # NFC
        ("\u5c71\u7530 \u592a\u90ce", "\u5c71\u7530 \u592a\u90ce"),
        ("x" * 100, "x" * 100),
        ("  " + "x" * 100 + "  ", "x" * 100),  # the limit counts after trimming
    ],
)
def test_display_name_is_trimmed(raw: str, expected: str) -> None:
    assert normalize_display_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("", "string_length"),
        ("   ", "string_length"),
        ("x" * 101, "string_length"),
        ("Ali\x00ce", "value_error"),
        ("Ali\nce", "value_error"),
        ("Ali\x1bce", "value_error"),  # escape
        ("Ali\x7fce", "value_error"),  # delete
        ("Ali\x85ce", "value_error"),  # next line (C1)
        ("Ali\u2028ce", "value_error"),  # line separator
        ("Ali\u2029ce", "value_error"),  # paragraph separator
        ("Ali\u202ece", "value_error"),  # right-to-left override
        ("Ali\u202ace", "value_error"),  # left-to-right embedding
        ("Ali\u2066ce", "value_error"),  # left-to-right isolate
        ("Ali\u2069ce", "value_error"),  # pop directional isolate
    ],
)
def test_bad_display_names_are_refused(raw: str, kind: str) -> None:
    with pytest.raises(InvalidValue) as info:
        normalize_display_name(raw)
    assert info.value.field == "display_name"
    assert info.value.kind == kind


# --- passwords -----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [8, 9, 255, 256])
def test_password_lengths_accepted(length: int) -> None:
    check_password_length("p" * length)


@pytest.mark.parametrize("length", [0, 7, 257, 1000])
def test_password_lengths_refused(length: int) -> None:
    with pytest.raises(InvalidValue) as info:
        check_password_length("p" * length)
    assert info.value.field == "password"


# --- the user entity -----------------------------------------------------------------------


def test_register_normalises_every_field() -> None:
    tenant_id = uuid.uuid4()
    user = User.register(
        tenant_id=tenant_id,
        username=fullwidth("Alice"),
        email="Alice@XN--BCHER-KVA.example",
        display_name="  Alice L.  ",
        now=NOW,
    )
    assert user.tenant_id == tenant_id
    assert user.username == "alice"
    assert user.email == "alice@b\u00fccher.example"
    assert user.display_name == "Alice L."
    assert user.status is UserStatus.ACTIVE
    assert user.version == 1
    assert user.id.version == 7
    # Millisecond precision: what is stored is what is shown.
    assert user.created_at == user.updated_at == NOW.replace(microsecond=123000)


def test_display_name_defaults_to_the_username() -> None:
    user = User.register(tenant_id=uuid.uuid4(), username="BOB", email="b@example.com", now=NOW)
    assert user.display_name == "bob"


def test_register_refuses_bad_input() -> None:
    with pytest.raises(InvalidValue) as info:
        User.register(tenant_id=uuid.uuid4(), username="ok-name", email="x", now=NOW)
    assert info.value.field == "email"
    with pytest.raises(InvalidValue) as info:
        User.register(
            tenant_id=uuid.uuid4(),
            username="ok-name",
            email="a@example.com",
            display_name="\u202eevil",
            now=NOW,
        )
    assert info.value.field == "display_name"


def test_changes_bump_version_and_etag() -> None:
    user = User.register(tenant_id=uuid.uuid4(), username="bob", email="b@example.com", now=NOW)
    later = NOW + timedelta(minutes=5)
    changed = user.with_changes(now=later, email="Bob@New.Example", display_name=" Bobby ")
    assert changed.id == user.id
    assert changed.version == 2
    assert changed.etag != user.etag
    assert changed.email == "bob@new.example"
    assert changed.display_name == "Bobby"
    assert changed.status is UserStatus.ACTIVE
    assert changed.created_at == user.created_at
    assert changed.updated_at == later.replace(microsecond=123000)
    disabled = changed.with_changes(now=later, status=UserStatus.DISABLED)
    assert (disabled.status, disabled.email, disabled.version) == (
        UserStatus.DISABLED,
        "bob@new.example",
        3,
    )
    with pytest.raises(InvalidValue):
        user.with_changes(now=later, display_name="   ")


def test_public_view_never_shows_the_password_hash() -> None:
    user = User.register(
        tenant_id=uuid.uuid4(),
        username="bob",
        email="b@example.com",
        now=NOW,
        password_hash="$argon2id$secret-hash",
    )
    view = user.public_view()
    assert set(view) == {
        "id",
        "tenant_id",
        "username",
        "email",
        "display_name",
        "status",
        "mfa_enabled",
        "created_at",
        "updated_at",
    }
    assert "secret-hash" not in repr(view)
    assert "secret-hash" not in repr(user)
    assert view["created_at"] == "2026-03-01T12:00:00.123Z"
    assert view["status"] == "active"


def test_timestamps_are_rfc3339_utc_with_z() -> None:
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.006Z"
    )


def test_timestamps_in_another_zone_are_shown_in_utc() -> None:
    cest = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=cest)) == (
        "2026-01-02T01:04:05.000Z"
    )
    user = User.register(
        tenant_id=uuid.uuid4(),
        username="bob",
        email="b@example.com",
        now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=cest),
    )
    assert user.public_view()["created_at"] == "2026-01-02T01:04:05.000Z"
