"""SigningKeyRepository contract: platform-wide keys, listed oldest first, by state.

Signing keys belong to no tenant, so between tests a shared PostgreSQL database may still hold
another test's keys: each test looks only at the keys it made.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.support import T0
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import Conflict
from truapi.domain.tokens import KeyState, SigningKey


def _key(minutes: float, state: KeyState = KeyState.ACTIVE) -> SigningKey:
    return SigningKey(
        kid=uuid.uuid4().hex,
        algorithm="ES256",
        state=state,
        public_jwk={"kty": "EC", "crv": "P-256", "x": "f83OJ3D2", "y": "x_FEzRu9", "ext": [1]},
        private_key_encrypted=os.urandom(48) + b"\x00\xff",
        created_at=T0 + timedelta(minutes=minutes),
    )


async def _add(uow_factory: UnitOfWorkFactory, *keys: SigningKey) -> None:
    async with uow_factory() as uow:
        for key in keys:
            await uow.signing_keys.add(key)
        await uow.commit()


async def _listed(
    uow_factory: UnitOfWorkFactory, mine: list[SigningKey], states: list[KeyState] | None = None
) -> list[SigningKey]:
    kids = {k.kid for k in mine}
    async with uow_factory(readonly=True) as uow:
        return [k for k in await uow.signing_keys.list(states) if k.kid in kids]


async def test_keys_read_back_oldest_first(uow_factory: UnitOfWorkFactory) -> None:
    newest, oldest, middle = _key(2), _key(0), _key(1)
    await _add(uow_factory, newest, oldest)
    await _add(uow_factory, middle)
    assert await _listed(uow_factory, [newest, oldest, middle]) == [oldest, middle, newest]


async def test_list_by_state(uow_factory: UnitOfWorkFactory) -> None:
    active = _key(3)
    retiring = replace(
        _key(2, KeyState.RETIRING), retiring_at=T0, retire_after=T0 + timedelta(hours=1)
    )
    retired = replace(_key(1, KeyState.RETIRED), retiring_at=T0, retired_at=T0)
    mine = [active, retiring, retired]
    await _add(uow_factory, *mine)
    assert await _listed(uow_factory, mine, [KeyState.ACTIVE]) == [active]
    assert await _listed(uow_factory, mine, [KeyState.ACTIVE, KeyState.RETIRING]) == [
        retiring,
        active,
    ]
    assert await _listed(uow_factory, mine, []) == []
    assert await _listed(uow_factory, mine) == [retired, retiring, active]


async def test_kid_is_unique(uow_factory: UnitOfWorkFactory) -> None:
    key = _key(0)
    await _add(uow_factory, key)
    with pytest.raises(Conflict):
        await _add(uow_factory, replace(_key(1), kid=key.kid))
    assert await _listed(uow_factory, [key]) == [key]


async def test_update_stores_state_and_times_only(uow_factory: UnitOfWorkFactory) -> None:
    key = _key(0)
    await _add(uow_factory, key)
    retiring = replace(
        key,
        state=KeyState.RETIRING,
        retiring_at=T0 + timedelta(minutes=5),
        retire_after=T0 + timedelta(minutes=15),
    )
    async with uow_factory() as uow:
        # The key material and algorithm never change, whatever the entity says.
        await uow.signing_keys.update(
            replace(retiring, algorithm="RS256", public_jwk={}, private_key_encrypted=b"x")
        )
        await uow.commit()
    assert await _listed(uow_factory, [key]) == [retiring]

    retired = replace(retiring, state=KeyState.RETIRED, retired_at=T0 + timedelta(minutes=16))
    async with uow_factory() as uow:
        await uow.signing_keys.update(retired)
        await uow.commit()
    assert await _listed(uow_factory, [key]) == [retired]
    assert await _listed(uow_factory, [key], [KeyState.ACTIVE, KeyState.RETIRING]) == []


async def test_updating_a_missing_key_changes_nothing(uow_factory: UnitOfWorkFactory) -> None:
    key = _key(0)
    await _add(uow_factory, key)
    async with uow_factory() as uow:
        await uow.signing_keys.update(replace(_key(1), state=KeyState.RETIRED))
        await uow.commit()
    assert await _listed(uow_factory, [key]) == [key]
