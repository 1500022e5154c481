"""SessionRepository contract: sessions are per tenant, revoked once, and go with their user."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.contract.support import T0, make_user, refresh_token_of, session_for
from truapi.application.ports.unit_of_work import UnitOfWorkFactory
from truapi.domain.errors import Conflict, UserNotFound
from truapi.domain.sessions import MfaLevel, RevocationReason, Session
from truapi.domain.tenants import Tenant


async def test_added_session_reads_back_equal(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user = make_user(tenant.id, "alice")
    session = replace(
        Session.start(
            tenant_id=tenant.id,
            user_id=user.id,
            now=T0,
            max_age=timedelta(days=30),
            amr=("pwd", "otp"),
            mfa_level=MfaLevel.AAL2,
            ip="2001:db8::1",
            user_agent="Ünïcode agent",
        ),
        auth_time=T0 - timedelta(seconds=5),
    )
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(session)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.sessions.get(tenant.id, session.id) == session


async def test_session_without_ip_or_agent_reads_back_equal(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    user = make_user(tenant.id, "alice")
    session = Session.start(
        tenant_id=tenant.id, user_id=user.id, now=T0, max_age=timedelta(hours=1), amr=()
    )
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(session)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.sessions.get(tenant.id, session.id) == session


async def test_other_tenant_sees_no_session(
    uow_factory: UnitOfWorkFactory, tenant: Tenant, other_tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    async with uow_factory() as uow:
        assert await uow.sessions.get(other_tenant.id, session.id) is None
        assert await uow.sessions.list_unexpired(other_tenant.id, session.user_id, T0) == []
        assert not await uow.sessions.revoke(other_tenant.id, session.id, T0, "revoked")
        assert await uow.sessions.revoke_for_user(other_tenant.id, session.user_id, T0, "x") == []
        assert await uow.sessions.delete_for_user(other_tenant.id, session.user_id) == []
        await uow.sessions.touch(replace(session, tenant_id=other_tenant.id, ip="198.51.100.9"))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.sessions.get(tenant.id, session.id) == session


async def test_session_needs_an_existing_user(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    session = Session.start(
        tenant_id=tenant.id, user_id=uuid.uuid4(), now=T0, max_age=timedelta(hours=1)
    )
    with pytest.raises(UserNotFound):
        async with uow_factory() as uow:
            await uow.sessions.add(session)


async def test_session_id_is_unique(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    session = await session_for(uow_factory, tenant)
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.sessions.add(session)


async def test_list_unexpired_is_newest_first_without_revoked_or_expired(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    first = await session_for(uow_factory, tenant)
    user = make_user(tenant.id, "alice")
    user = replace(user, id=first.user_id)
    second = await session_for(uow_factory, tenant, minutes=10, user=user)
    third = await session_for(uow_factory, tenant, minutes=20, user=user)
    revoked = await session_for(uow_factory, tenant, minutes=30, user=user)
    others = await session_for(uow_factory, tenant, "bob", minutes=40)
    async with uow_factory() as uow:
        assert await uow.sessions.revoke(tenant.id, revoked.id, T0, RevocationReason.LOGOUT)
        await uow.commit()

    async with uow_factory(readonly=True) as uow:
        listed = await uow.sessions.list_unexpired(tenant.id, user.id, T0 + timedelta(hours=1))
        assert listed == [third, second, first]
        # Each lives one day from its start: a day and 15 minutes on, only the newest does.
        later = T0 + timedelta(days=1, minutes=15)
        assert await uow.sessions.list_unexpired(tenant.id, user.id, later) == [third]
        assert await uow.sessions.list_unexpired(tenant.id, others.user_id, later) == [others]
        # Strictly before expires_at: the instant it expires it is no longer listed.
        assert await uow.sessions.list_unexpired(tenant.id, user.id, third.expires_at) == []


async def test_touch_stores_last_seen_ip_and_agent_only(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    seen = session.seen(T0 + timedelta(minutes=5), ip="198.51.100.7", user_agent="curl/8.0")
    async with uow_factory() as uow:
        # Fields other than the three are not written, whatever the entity says.
        await uow.sessions.touch(replace(seen, mfa_level=MfaLevel.AAL2, revoked_at=T0))
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.sessions.get(tenant.id, session.id) == seen


async def test_revoke_once(uow_factory: UnitOfWorkFactory, tenant: Tenant) -> None:
    session = await session_for(uow_factory, tenant)
    at = T0 + timedelta(minutes=3)
    async with uow_factory() as uow:
        assert await uow.sessions.revoke(tenant.id, session.id, at, RevocationReason.LOGOUT)
        assert not await uow.sessions.revoke(tenant.id, session.id, at, RevocationReason.REVOKED)
        assert not await uow.sessions.revoke(tenant.id, uuid.uuid4(), at, RevocationReason.LOGOUT)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        stored = await uow.sessions.get(tenant.id, session.id)
    assert stored == replace(session, revoked_at=at, revoked_reason="logout")


async def test_revoke_for_user_keeps_one_and_skips_revoked(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    first = await session_for(uow_factory, tenant)
    user = replace(make_user(tenant.id, "alice"), id=first.user_id)
    current = await session_for(uow_factory, tenant, minutes=1, user=user)
    gone = await session_for(uow_factory, tenant, minutes=2, user=user)
    third = await session_for(uow_factory, tenant, minutes=3, user=user)
    bob = await session_for(uow_factory, tenant, "bob")
    at = T0 + timedelta(minutes=10)
    async with uow_factory() as uow:
        await uow.sessions.revoke(tenant.id, gone.id, T0, RevocationReason.LOGOUT)
        revoked = await uow.sessions.revoke_for_user(
            tenant.id, user.id, at, RevocationReason.PASSWORD_CHANGED, keep=current.id
        )
        assert sorted(revoked) == sorted([first.id, third.id])
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        live = await uow.sessions.list_unexpired(tenant.id, user.id, at)
        assert live == [current]
        stored = await uow.sessions.get(tenant.id, third.id)
        assert stored is not None
        assert (stored.revoked_at, stored.revoked_reason) == (at, "password_changed")
        still_gone = await uow.sessions.get(tenant.id, gone.id)
        assert still_gone is not None
        assert (still_gone.revoked_at, still_gone.revoked_reason) == (T0, "logout")
        assert await uow.sessions.get(tenant.id, bob.id) == bob
    async with uow_factory() as uow:
        revoked = await uow.sessions.revoke_for_user(tenant.id, user.id, at, "revoked")
        assert revoked == [current.id]


async def test_delete_for_user_names_the_unrevoked_and_takes_their_tokens(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    live = await session_for(uow_factory, tenant)
    user = replace(make_user(tenant.id, "alice"), id=live.user_id)
    ended = await session_for(uow_factory, tenant, minutes=1, user=user)
    bob = await session_for(uow_factory, tenant, "bob")
    token, bobs_token = refresh_token_of(live), refresh_token_of(bob)
    async with uow_factory() as uow:
        await uow.refresh_tokens.add(token)
        await uow.refresh_tokens.add(bobs_token)
        await uow.sessions.revoke(tenant.id, ended.id, T0, RevocationReason.LOGOUT)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.sessions.delete_for_user(tenant.id, user.id) == [live.id]
        assert await uow.refresh_tokens.get_by_hash(token.token_hash) is None
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.sessions.get(tenant.id, live.id) is None
        assert await uow.sessions.get(tenant.id, ended.id) is None
        assert await uow.refresh_tokens.get_by_hash(token.token_hash) is None
        assert await uow.sessions.get(tenant.id, bob.id) == bob
        assert await uow.refresh_tokens.get_by_hash(bobs_token.token_hash) == bobs_token


async def test_deleting_the_user_deletes_its_sessions_and_tokens(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    bob = await session_for(uow_factory, tenant, "bob")
    token = refresh_token_of(session)
    async with uow_factory() as uow:
        await uow.refresh_tokens.add(token)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.delete(tenant.id, session.user_id)
        # Gone at once, inside the unit of work that deleted the user.
        assert await uow.sessions.get(tenant.id, session.id) is None
        assert await uow.refresh_tokens.get_by_hash(token.token_hash) is None
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.sessions.get(tenant.id, session.id) is None
        assert await uow.sessions.list_unexpired(tenant.id, session.user_id, T0) == []
        assert await uow.refresh_tokens.get_by_hash(token.token_hash) is None
        assert await uow.refresh_tokens.revoke_for_user(tenant.id, session.user_id, T0) == 0
        assert await uow.sessions.get(tenant.id, bob.id) == bob
        # The hash and the ids are free again.
        user = replace(make_user(tenant.id, "alice"), id=session.user_id)
        await uow.users.add(user)
        await uow.sessions.add(session)
        await uow.refresh_tokens.add(token)
        await uow.commit()
    async with uow_factory(readonly=True) as uow:
        assert await uow.refresh_tokens.get_by_hash(token.token_hash) == token


async def test_deleted_user_rolled_back_keeps_its_sessions(
    uow_factory: UnitOfWorkFactory, tenant: Tenant
) -> None:
    session = await session_for(uow_factory, tenant)
    async with uow_factory() as uow:
        assert await uow.users.delete(tenant.id, session.user_id)
    async with uow_factory(readonly=True) as uow:
        assert await uow.sessions.get(tenant.id, session.id) == session
