"""Encryption at rest: AES-256-GCM with key ids and associated data.

A sealed blob is ``version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag``.
The version and key id are authenticated together with the caller's associated data, which
binds a secret to its owner (a signing key's ``kid``, a user's id) so a blob copied to
another row does not open.
"""

from __future__ import annotations

import binascii
import hashlib
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from truapi.domain.errors import KeyStoreUnreadable

VERSION = 1
KEY_SIZE = 32
KEY_ID_SIZE = 4
NONCE_SIZE = 12
TAG_SIZE = 16
_HEADER_SIZE = 1 + KEY_ID_SIZE
_MIN_BLOB = _HEADER_SIZE + NONCE_SIZE + TAG_SIZE
_HKDF_INFO = b"truapi signing-key encryption"
_B64 = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")
_TO_STANDARD = str.maketrans("-_", "+/")


def key_id(key: bytes) -> bytes:
    """The public id of an encryption key: the first 4 bytes of its SHA-256."""
    return hashlib.sha256(key).digest()[:KEY_ID_SIZE]


def _decode_key(text: str) -> bytes | None:
    if not _B64.fullmatch(text):
        return None
    body = text.rstrip("=").translate(_TO_STANDARD)
    try:
        raw = binascii.a2b_base64(body + "=" * (-len(body) % 4), strict_mode=True)
    except binascii.Error:
        return None
    return raw if len(raw) == KEY_SIZE else None


class SecretBox:
    """Seals with the first key and opens with any of them, so keys can be rotated."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        if any(len(k) != KEY_SIZE for k in keys):
            raise ValueError("SecretBox keys must be 32 bytes")
        self._primary_id = key_id(keys[0])
        self._primary = AESGCM(keys[0])
        self._by_id: dict[bytes, list[AESGCM]] = {}
        seen: set[bytes] = set()
        for key in keys:
            if key in seen:
                continue
            seen.add(key)
            # Distinct keys may share a 4-byte id; open() then tries each of them.
            self._by_id.setdefault(key_id(key), []).append(AESGCM(key))

    @classmethod
    def from_settings(cls, encryption_keys: str | None, secret_key: str) -> SecretBox:
        """Keys from ``APP_ENCRYPTION_KEYS`` (comma-separated base64url, first one seals), or
        when it is unset or blank one key derived from the secret key with HKDF-SHA256.

        The standard base64 alphabet is accepted too, as ``openssl rand -base64 32`` prints it.
        """
        if encryption_keys is not None and encryption_keys.strip():
            keys: list[bytes] = []
            for position, item in enumerate(encryption_keys.split(","), start=1):
                key = _decode_key(item.strip())
                if key is None:
                    # The message names the position only: never echo key material.
                    raise ValueError(
                        f"APP_ENCRYPTION_KEYS entry {position} is not a base64url-encoded "
                        '32-byte key (generate one with: python -c "import base64, os; '
                        'print(base64.urlsafe_b64encode(os.urandom(32)).decode())")'
                    )
                keys.append(key)
            return cls(keys)
        if not secret_key:
            raise ValueError("APP_SECRET_KEY must not be empty when APP_ENCRYPTION_KEYS is unset")
        derived = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None, info=_HKDF_INFO)
        return cls([derived.derive(secret_key.encode("utf-8"))])

    @property
    def primary_key_id(self) -> str:
        """Hex id of the key new blobs are sealed with."""
        return self._primary_id.hex()

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        header = bytes((VERSION,)) + self._primary_id
        nonce = os.urandom(NONCE_SIZE)
        return header + nonce + self._primary.encrypt(nonce, plaintext, header + aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a blob sealed with any configured key and the same ``aad``.

        Raises ``KeyStoreUnreadable`` when the blob is malformed, was sealed under a key that
        is not configured, or was tampered with or bound to other associated data."""
        if len(blob) < _MIN_BLOB or blob[0] != VERSION:
            raise KeyStoreUnreadable("An encrypted value is malformed.")
        header = blob[:_HEADER_SIZE]
        candidates = self._by_id.get(header[1:])
        if not candidates:
            raise KeyStoreUnreadable(
                "An encrypted value was sealed with a key that is not configured "
                "(check APP_ENCRYPTION_KEYS and APP_SECRET_KEY)."
            )
        nonce = blob[_HEADER_SIZE : _HEADER_SIZE + NONCE_SIZE]
        body = blob[_HEADER_SIZE + NONCE_SIZE :]
        for aead in candidates:
            try:
                return aead.decrypt(nonce, body, header + aad)
            except InvalidTag:
                continue
        raise KeyStoreUnreadable(
            "An encrypted value cannot be decrypted: it was altered, or belongs to another owner."
        )

    def needs_reseal(self, blob: bytes) -> bool:
        """Whether a blob was sealed with a key other than the current first key."""
        return blob[1:_HEADER_SIZE] != self._primary_id
