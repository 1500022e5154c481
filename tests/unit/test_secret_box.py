"""AES-256-GCM encryption at rest: key ids, rotation, associated data, configuration."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truapi.adapters.security.secret_box import KEY_ID_SIZE, NONCE_SIZE, TAG_SIZE, SecretBox
from truapi.domain.errors import KeyStoreUnreadable


def b64url(key: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(key).decode()
    return text if padded else text.rstrip("=")


@pytest.fixture
def key() -> bytes:
    return os.urandom(32)


def test_round_trip_with_its_format(key: bytes) -> None:
    box = SecretBox([key])
    blob = box.seal(b"private key bytes", b"kid-1")
    assert blob[0] == 1
    assert blob[1 : 1 + KEY_ID_SIZE] == hashlib.sha256(key).digest()[:KEY_ID_SIZE]
    assert len(blob) == 1 + KEY_ID_SIZE + NONCE_SIZE + len(b"private key bytes") + TAG_SIZE
    assert b"private key bytes" not in blob
    assert box.open(blob, b"kid-1") == b"private key bytes"
    assert box.primary_key_id == hashlib.sha256(key).hexdigest()[:8]


def test_each_seal_uses_a_fresh_nonce(key: bytes) -> None:
    box = SecretBox([key])
    first, second = box.seal(b"same", b"aad"), box.seal(b"same", b"aad")
    assert first != second
    assert box.open(first, b"aad") == box.open(second, b"aad") == b"same"


def test_empty_plaintext_round_trips(key: bytes) -> None:
    box = SecretBox([key])
    assert box.open(box.seal(b"", b""), b"") == b""


def test_wrong_associated_data_fails(key: bytes) -> None:
    box = SecretBox([key])
    blob = box.seal(b"secret", b"owner-a")
    with pytest.raises(KeyStoreUnreadable):
        box.open(blob, b"owner-b")
    with pytest.raises(KeyStoreUnreadable):
        box.open(blob, b"")


@pytest.mark.parametrize("position", [0, 1, 4, 5, 16, 17, -17, -1])
def test_any_tampered_byte_fails(key: bytes, position: int) -> None:
    box = SecretBox([key])
    blob = bytearray(box.seal(b"secret value", b"aad"))
    blob[position] ^= 0x01
    with pytest.raises(KeyStoreUnreadable):
        box.open(bytes(blob), b"aad")


@pytest.mark.parametrize("cut", [0, 1, 5, 17, 32])
def test_truncated_blob_fails(key: bytes, cut: int) -> None:
    box = SecretBox([key])
    blob = box.seal(b"x", b"aad")  # 34 bytes in all
    with pytest.raises(KeyStoreUnreadable):
        box.open(blob[:cut], b"aad")


def test_rotation_new_first_key_decrypts_old_blobs(key: bytes) -> None:
    new = os.urandom(32)
    old_box = SecretBox.from_settings(b64url(key), "unused")
    old_blob = old_box.seal(b"old secret", b"aad")

    rotated = SecretBox.from_settings(f"{b64url(new)}, {b64url(key)}", "unused")
    assert rotated.open(old_blob, b"aad") == b"old secret"
    assert rotated.needs_reseal(old_blob)
    new_blob = rotated.seal(b"new secret", b"aad")
    assert not rotated.needs_reseal(new_blob)
    assert new_blob[1 : 1 + KEY_ID_SIZE] == hashlib.sha256(new).digest()[:KEY_ID_SIZE]

    with pytest.raises(KeyStoreUnreadable) as caught:
        old_box.open(new_blob, b"aad")
    assert "not configured" in str(caught.value)


def test_a_blob_from_a_removed_key_fails(key: bytes) -> None:
    blob = SecretBox([key]).seal(b"secret", b"aad")
    with pytest.raises(KeyStoreUnreadable):
        SecretBox([os.urandom(32)]).open(blob, b"aad")


def test_keys_sharing_an_id_are_each_tried(key: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    other = os.urandom(32)
    monkeypatch.setattr(
        "truapi.adapters.security.secret_box.key_id", lambda _key: b"\x00" * KEY_ID_SIZE
    )
    blob = SecretBox([other]).seal(b"secret", b"aad")
    assert SecretBox([key, other]).open(blob, b"aad") == b"secret"


def test_padded_unpadded_and_standard_alphabet_keys_are_the_same_key() -> None:
    raw = bytes(range(256))[-32:]  # encodes with both '-' / '_' and '+' / '/' alphabets' chars
    blob = SecretBox([raw]).seal(b"secret", b"aad")
    standard = base64.b64encode(raw).decode()
    for text in (b64url(raw), b64url(raw, padded=True), standard, f" {b64url(raw)} "):
        assert SecretBox.from_settings(text, "unused").open(blob, b"aad") == b"secret"


def test_derived_key_is_stable_for_one_secret_key() -> None:
    blob = SecretBox.from_settings(None, "the secret key").seal(b"secret", b"aad")
    assert SecretBox.from_settings(None, "the secret key").open(blob, b"aad") == b"secret"
    assert SecretBox.from_settings("  ", "the secret key").open(blob, b"aad") == b"secret"
    with pytest.raises(KeyStoreUnreadable):
        SecretBox.from_settings(None, "another secret key").open(blob, b"aad")


def test_derived_key_is_not_the_secret_key_itself() -> None:
    secret = "s" * 32
    blob = SecretBox.from_settings(None, secret).seal(b"x", b"")
    with pytest.raises(KeyStoreUnreadable):
        SecretBox([secret.encode()]).open(blob, b"")


def test_empty_secret_key_without_encryption_keys_is_refused() -> None:
    with pytest.raises(ValueError, match="APP_SECRET_KEY"):
        SecretBox.from_settings(None, "")


@pytest.mark.parametrize(
    "bad",
    [
        "not base64 at all!",
        b64url(b"k" * 16),  # 128-bit key
        b64url(b"k" * 33),
        "QUFB===",
        "A",
        "",
    ],
)
def test_malformed_config_names_the_setting_but_not_the_value(bad: str) -> None:
    good = b64url(b"G" * 32)
    with pytest.raises(ValueError, match="APP_ENCRYPTION_KEYS") as caught:
        SecretBox.from_settings(f"{good},{bad}", "unused")
    message = str(caught.value)
    assert "entry 2" in message
    assert good not in message
    if len(bad) >= 8:  # shorter ones occur in any sentence
        assert bad not in message


def test_errors_opening_name_no_secret(key: bytes) -> None:
    box = SecretBox([key])
    blob = box.seal(b"plaintext", b"aad")
    with pytest.raises(KeyStoreUnreadable) as caught:
        box.open(blob, b"other")
    message = str(caught.value)
    for secret in (b64url(key), key.hex(), "plaintext"):
        assert secret not in message


def test_constructor_checks_keys() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SecretBox([])
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox([b"short"])


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=80), aad=st.binary(max_size=8))
def test_opening_arbitrary_bytes_only_ever_raises_key_store_unreadable(
    blob: bytes, aad: bytes
) -> None:
    box = SecretBox([b"K" * 32])
    with pytest.raises(KeyStoreUnreadable):
        box.open(blob, aad)
