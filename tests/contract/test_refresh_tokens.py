"""RefreshTokenRepository contract: found by hash, used once (even under a race), revoked by
family or user, purged once expired."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.support import T0, make_user, refresh_token_of, session_for
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import Conflict, SessionNotFound
from truapi.domain.sessions import Session
from truapi.domain.tenants import Tenant
from truapi.domain.tokens import RefreshToken


async def _add(uow_factory: UnitOfWorkFactory, *tokens: RefreshToken) -> None:
    async with uow_factory() as uow:
        for token in tokens:
            await uow.refresh_tokens.add(token)
        await uow.commit()


async def _get(uow_factory: UnitOfWorkFactory, token: RefreshToken) -> RefreshToken | None:
    async with uow_factory(readonly=True) as uow:
        return await uow.refresh_tokens.get_by_hash(token.token_hash)


async def test_found_by_hash_in_any_tenant(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    token = refresh_token_of(await session_for(uow_factory, tenant))
    others = refresh_token_of(await session_for(uow_factory, other_tenant))
    await _add(uow_factory, token, others)
    assert await _get(uow_factory, token) == token
    assert await _get(uow_factory, others) == others
    async with uow_factory(readonly=True) as uow:
        assert await uow.refresh_tokens.get_by_hash("0" * 64) is None


async def test_a_used_token_reads_back_with_its_successor(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    token = replace(
        refresh_token_of(session),
        used_at=T0 + timedelta(minutes=1),
        replaced_by=uuid.uuid4(),
        revoked_at=T0 + timedelta(minutes=2),
    )
    await _add(uow_factory, token)
    assert await _get(uow_factory, token) == token


async def test_hash_and_id_are_unique(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    session = await session_for(uow_factory, tenant)
    token = refresh_token_of(session)
    await _add(uow_factory, token)
    same_hash = replace(refresh_token_of(session), token_hash=token.token_hash)
    same_id = replace(refresh_token_of(session), id=token.id)
    for twin in (same_hash, same_id):
        with pytest.raises(Conflict):
            await _add(uow_factory, twin)
    assert await _get(uow_factory, token) == token


async def test_token_needs_an_existing_session(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    with pytest.raises(SessionNotFound):
        await _add(uow_factory, replace(refresh_token_of(session), session_id=uuid.uuid4()))


async def test_mark_used_once(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    session = await session_for(uow_factory, tenant)
    token = refresh_token_of(session)
    successor = refresh_token_of(session, minutes=1)
    at = T0 + timedelta(minutes=1)
    await _add(uow_factory, token)
    async with uow_factory() as uow:
        assert await uow.refresh_tokens.mark_used(token.id, at, successor.id)
        assert not await uow.refresh_tokens.mark_used(token.id, at, uuid.uuid4())
        assert not await uow.refresh_tokens.mark_used(uuid.uuid4(), at, uuid.uuid4())
        await uow.refresh_tokens.add(successor)
        await uow.commit()
    assert await _get(uow_factory, token) == replace(token, used_at=at, replaced_by=successor.id)
    assert await _get(uow_factory, successor) == successor


async def test_a_revoked_token_cannot_be_used(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    token = refresh_token_of(session)
    await _add(uow_factory, token)
    async with uow_factory() as uow:
        assert await uow.refresh_tokens.revoke_session(tenant.id, session.id, T0) == 1
        assert not await uow.refresh_tokens.mark_used(token.id, T0, uuid.uuid4())
        await uow.commit()
    assert await _get(uow_factory, token) == replace(token, revoked_at=T0)


async def test_ten_concurrent_uses_have_one_winner(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    token = refresh_token_of(session)
    await _add(uow_factory, token)
    successors = [uuid.uuid4() for _ in range(10)]

    async def use(successor: uuid.UUID) -> bool:
        async with uow_factory() as uow:
            won = await uow.refresh_tokens.mark_used(token.id, T0, successor)
            await asyncio.sleep(0.01)  # hold the transaction open while the others arrive
            await uow.commit()
            return won

    outcomes = await asyncio.gather(*(use(s) for s in successors))

    assert outcomes.count(True) == 1, outcomes
    winner = successors[outcomes.index(True)]
    assert await _get(uow_factory, token) == replace(token, used_at=T0, replaced_by=winner)


async def _family(
    uow_factory: UnitOfWorkFactory, session: Session, count: int
) -> list[RefreshToken]:
    tokens = [refresh_token_of(session, minutes=i) for i in range(count)]
    await _add(uow_factory, *tokens)
    return tokens


async def test_revoke_session_revokes_the_family_only(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    user = replace(make_user(tenant.id, "alice"), id=session.user_id)
    sibling = await session_for(uow_factory, tenant, minutes=1, user=user)
    family = await _family(uow_factory, session, 3)
    (outsider,) = await _family(uow_factory, sibling, 1)
    at = T0 + timedelta(hours=1)
    async with uow_factory() as uow:
        await uow.refresh_tokens.revoke_session(tenant.id, session.id, T0)  # the first link
        assert await uow.refresh_tokens.revoke_session(other_tenant.id, session.id, at) == 0
        await uow.commit()
    async with uow_factory() as uow:
        # Already revoked links keep their first revocation time.
        assert await uow.refresh_tokens.revoke_session(tenant.id, session.id, at) == 0
        await uow.commit()
    for token in family:
        assert await _get(uow_factory, token) == replace(token, revoked_at=T0)
    assert await _get(uow_factory, outsider) == outsider


async def test_revoke_and_delete_for_user(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    user = replace(make_user(tenant.id, "alice"), id=session.user_id)
    second = await session_for(uow_factory, tenant, minutes=1, user=user)
    bob = await session_for(uow_factory, tenant, "bob")
    mine = await _family(uow_factory, session, 2) + await _family(uow_factory, second, 2)
    (bobs,) = await _family(uow_factory, bob, 1)
    at = T0 + timedelta(hours=1)
    async with uow_factory() as uow:
        assert await uow.refresh_tokens.revoke_for_user(other_tenant.id, user.id, at) == 0
        assert await uow.refresh_tokens.revoke_session(tenant.id, second.id, T0) == 2
        assert await uow.refresh_tokens.revoke_for_user(tenant.id, user.id, at) == 2
        await uow.commit()
    assert [await _get(uow_factory, t) for t in mine] == [
        replace(mine[0], revoked_at=at),
        replace(mine[1], revoked_at=at),
        replace(mine[2], revoked_at=T0),
        replace(mine[3], revoked_at=T0),
    ]
    async with uow_factory() as uow:
        assert await uow.refresh_tokens.delete_for_user(other_tenant.id, user.id) == 0
        assert await uow.refresh_tokens.delete_for_user(tenant.id, user.id) == 4
        await uow.commit()
    for token in mine:
        assert await _get(uow_factory, token) is None
    assert await _get(uow_factory, bobs) == bobs
    async with uow_factory(readonly=True) as uow:
        # The sessions stay: only their tokens went.
        assert await uow.sessions.get(tenant.id, session.id) == session


async def test_purge_expired_deletes_strictly_before(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    foreign = await session_for(uow_factory, other_tenant)
    hour = timedelta(hours=1)
    old = refresh_token_of(session, ttl=hour)
    foreign_old = refresh_token_of(foreign, ttl=hour)
    edge = refresh_token_of(session, minutes=30, ttl=hour)
    fresh = refresh_token_of(session, minutes=60, ttl=hour)
    await _add(uow_factory, old, foreign_old, edge, fresh)
    async with uow_factory() as uow:
        assert await uow.refresh_tokens.purge_expired(edge.expires_at) == 2
        await uow.commit()
    assert await _get(uow_factory, old) is None
    assert await _get(uow_factory, foreign_old) is None
    assert await _get(uow_factory, edge) == edge
    assert await _get(uow_factory, fresh) == fresh
