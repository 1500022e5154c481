"""argon2id hashing and the shipped common-password list."""

from __future__ import annotations

import pytest

from truapi.adapters.security.passwords import Argon2Hasher, ZxcvbnCommonPasswords

FAST = {"time_cost": 1, "memory_cost_kib": 8192}


@pytest.fixture
def hasher() -> Argon2Hasher:
    return Argon2Hasher(**FAST)


async def test_hash_verifies_only_the_same_password(hasher: Argon2Hasher) -> None:
    digest = await hasher.hash("correct horse battery staple")
    assert digest.startswith("$argon2id$")
    assert "correct horse" not in digest
    assert await hasher.verify(digest, "correct horse battery staple")
    assert not await hasher.verify(digest, "correct horse battery stapl")
    assert not await hasher.verify(digest, "Correct horse battery staple")
    assert not await hasher.verify(digest, "")


async def test_same_password_hashes_differently(hasher: Argon2Hasher) -> None:
    first = await hasher.hash("s3cret-passphrase")
    second = await hasher.hash("s3cret-passphrase")
    assert first != second  # salted
    assert await hasher.verify(first, "s3cret-passphrase")
    assert await hasher.verify(second, "s3cret-passphrase")


async def test_unicode_passwords(hasher: Argon2Hasher) -> None:
    digest = await hasher.hash("p\u00e4ssw\u00f6rd-\u5bc6\u7801-\U0001f511")
    assert await hasher.verify(digest, "p\u00e4ssw\u00f6rd-\u5bc6\u7801-\U0001f511")
    assert not await hasher.verify(digest, "passwort-\u5bc6\u7801-\U0001f511")


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$m=8192,t=1,p=1$broken"])
async def test_garbage_hash_never_verifies(hasher: Argon2Hasher, stored: str) -> None:
    assert not await hasher.verify(stored, "anything")
    assert hasher.needs_rehash(stored)


async def test_needs_rehash_follows_the_parameters(hasher: Argon2Hasher) -> None:
    digest = await hasher.hash("rehash me please")
    assert not hasher.needs_rehash(digest)
    assert Argon2Hasher(time_cost=2, memory_cost_kib=8192).needs_rehash(digest)
    assert Argon2Hasher(time_cost=1, memory_cost_kib=16384).needs_rehash(digest)
    assert Argon2Hasher(time_cost=1, memory_cost_kib=8192, parallelism=2).needs_rehash(digest)
    # A hash made with old parameters still verifies under the new ones, so login can rehash.
    stronger = Argon2Hasher(time_cost=2, memory_cost_kib=16384)
    assert await stronger.verify(digest, "rehash me please")
    assert not stronger.needs_rehash(await stronger.hash("rehash me please"))


@pytest.mark.parametrize(
    "password", ["password123", "qwertyuiop", "PASSWORD123", "Password", "iloveyou", "trustno1"]
)
def test_common_passwords(password: str) -> None:
    assert ZxcvbnCommonPasswords().is_common(password)


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "x7#Lp9!qZ2@v", "unusual-tuesday-lamp"]
)
def test_uncommon_passwords(password: str) -> None:
    assert not ZxcvbnCommonPasswords().is_common(password)
