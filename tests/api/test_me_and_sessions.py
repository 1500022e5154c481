"""GET /me, POST /me/password and the session routes: the caller's own sessions and
administrators' view of other users' sessions."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import (
    USER_FIELDS,
    MakeClient,
    assert_problem,
    assert_validation_problem,
    create_user,
)
from tests.conftest import log_in

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
#: Every field of a session as clients see it (CONTRACT §4), and nothing more.
SESSION_FIELDS = {
    "id",
    "user_id",
    "created_at",
    "last_seen_at",
    "expires_at",
    "ip",
    "user_agent",
    "mfa_level",
    "current",
}
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def user_with_sessions(
    client: httpx.AsyncClient, username: str, count: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create a user and log them in ``count`` times (one session each)."""
    user = await create_user(client, username, password=PASSWORD)
    sessions = [await log_in(client, username, PASSWORD) for _ in range(count)]
    return user, sessions


async def assert_token_refused(client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
    response = await client.get("/me", headers=bearer(tokens))
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def assert_token_works(client: httpx.AsyncClient, tokens: dict[str, Any]) -> None:
    response = await client.get("/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text


# --- GET /me ---------------------------------------------------------------------------------


async def test_me_is_the_callers_user_with_the_current_session(
    client: httpx.AsyncClient,
) -> None:
    user, [tokens] = await user_with_sessions(client, "bob", 1)
    response = await client.get("/me", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == USER_FIELDS | {"session", "groups"}
    assert {field: body[field] for field in USER_FIELDS} == user
    assert body["groups"] == []
    assert "password" not in response.text
    session = body["session"]
    assert set(session) == SESSION_FIELDS
    assert session["id"] == tokens["session_id"]
    assert session["user_id"] == user["id"]
    assert session["current"] is True


async def test_me_without_a_token_is_unauthenticated(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.get("/me")
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"])
async def test_me_with_a_bad_token_is_refused(anon_client: httpx.AsyncClient, token: str) -> None:
    response = await anon_client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


# --- POST /me/password -----------------------------------------------------------------------


async def test_changing_the_password_ends_the_other_sessions_only(
    client: httpx.AsyncClient,
) -> None:
    _, [mine, other, third] = await user_with_sessions(client, "bob", 3)
    response = await client.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(mine),
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    await assert_token_works(client, mine)
    for tokens in (other, third):
        await assert_token_refused(client, tokens)
        refresh = await client.post(
            "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert_problem(refresh, 401, "invalid_refresh_token")
    # The session that made the change keeps refreshing.
    refresh = await client.post("/auth/refresh", json={"refresh_token": mine["refresh_token"]})
    assert refresh.status_code == 200, refresh.text


async def test_after_a_password_change_only_the_new_password_logs_in(
    client: httpx.AsyncClient,
) -> None:
    _, [tokens] = await user_with_sessions(client, "bob", 1)
    response = await client.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(tokens),
    )
    assert response.status_code == 204, response.text
    old = await client.post("/auth/login", json={"username": "bob", "password": PASSWORD})
    assert_problem(old, 401, "invalid_credentials")
    assert (await log_in(client, "bob", NEW_PASSWORD))["access_token"]


async def test_a_wrong_current_password_changes_nothing(client: httpx.AsyncClient) -> None:
    _, [tokens, other] = await user_with_sessions(client, "bob", 2)
    response = await client.post(
        "/me/password",
        json={"current_password": "not my password", "new_password": NEW_PASSWORD},
        headers=bearer(tokens),
    )
    assert_problem(response, 422, "invalid_current_password")
    await assert_token_works(client, other)
    assert (await log_in(client, "bob", PASSWORD))["access_token"]


async def test_a_common_new_password_is_refused(client: httpx.AsyncClient) -> None:
    _, [tokens] = await user_with_sessions(client, "bob", 1)
    response = await client.post(
        "/me/password",
        json={"current_password": PASSWORD, "new_password": "password123"},
        headers=bearer(tokens),
    )
    assert_problem(response, 422, "password_too_common")
    assert (await log_in(client, "bob", PASSWORD))["access_token"]


@pytest.mark.parametrize(
    "payload",
    [
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": "x" * 257},
        {"current_password": PASSWORD},
        {"new_password": NEW_PASSWORD},
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "username": "root"},
    ],
    ids=["too-short", "too-long", "no-new", "no-current", "unknown-field"],
)
async def test_password_change_body_is_validated(
    client: httpx.AsyncClient, payload: dict[str, str]
) -> None:
    _, [tokens] = await user_with_sessions(client, "bob", 1)
    response = await client.post("/me/password", json=payload, headers=bearer(tokens))
    assert_validation_problem(response)
    assert (await log_in(client, "bob", PASSWORD))["access_token"]


async def test_password_change_needs_authentication(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.post(
        "/me/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_guessing_the_current_password_is_throttled(make_client: MakeClient) -> None:
    client = await make_client(login_throttle_free_failures=2)
    _, [tokens] = await user_with_sessions(client, "bob", 1)
    wrong = {"current_password": "a wrong guess", "new_password": NEW_PASSWORD}
    answers = []
    for _ in range(5):
        response = await client.post("/me/password", json=wrong, headers=bearer(tokens))
        answers.append(response.status_code)
        if response.status_code == 429:
            break
        assert_problem(response, 422, "invalid_current_password")
    assert answers[-1] == 429, answers
    assert len(answers) <= 4, answers
    body = assert_problem(response, 429, "too_many_attempts")
    assert 0 < int(response.headers["retry-after"]) <= 900
    assert PASSWORD not in body["detail"]
    # While throttled, not even the right password gets through.
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    response = await client.post("/me/password", json=right, headers=bearer(tokens))
    assert_problem(response, 429, "too_many_attempts")
    assert (await log_in(client, "bob", PASSWORD))["access_token"]


# --- GET /me/sessions ------------------------------------------------------------------------


async def test_my_sessions_have_the_contract_shape(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "bob", password=PASSWORD)
    first = (
        await client.post(
            "/auth/login",
            json={"username": "bob", "password": PASSWORD},
            headers={"User-Agent": BROWSER},
        )
    ).json()
    second = await log_in(client, "bob", PASSWORD)
    response = await client.get("/me/sessions", headers=bearer(first))
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"items", "next_cursor"}
    assert page["next_cursor"] is None
    items = {item["id"]: item for item in page["items"]}
    assert set(items) == {first["session_id"], second["session_id"]}
    for item in items.values():
        assert set(item) == SESSION_FIELDS, item
        assert item["user_id"] == user["id"]
        assert uuid.UUID(item["id"])
        for field in ("created_at", "last_seen_at", "expires_at"):
            assert RFC3339_UTC.fullmatch(item[field]), item
        assert item["created_at"] <= item["last_seen_at"] < item["expires_at"]
        assert item["mfa_level"] == "aal1"
        assert item["ip"] == "127.0.0.1"
    assert items[first["session_id"]]["current"] is True
    assert items[second["session_id"]]["current"] is False
    assert items[first["session_id"]]["user_agent"] == BROWSER
    assert items[second["session_id"]]["user_agent"].startswith("python-httpx/")


async def test_current_follows_the_token_used(client: httpx.AsyncClient) -> None:
    _, sessions = await user_with_sessions(client, "bob", 3)
    for tokens in sessions:
        response = await client.get("/me/sessions", headers=bearer(tokens))
        current = [item["id"] for item in response.json()["items"] if item["current"]]
        assert current == [tokens["session_id"]]


async def test_my_sessions_show_only_mine(client: httpx.AsyncClient) -> None:
    _, [bob] = await user_with_sessions(client, "bob", 1)
    _, [carol] = await user_with_sessions(client, "carol", 1)
    response = await client.get("/me/sessions", headers=bearer(bob))
    assert [item["id"] for item in response.json()["items"]] == [bob["session_id"]]
    assert carol["session_id"] not in response.text


async def test_ended_sessions_are_not_listed(client: httpx.AsyncClient) -> None:
    _, [mine, gone] = await user_with_sessions(client, "bob", 2)
    assert (await client.post("/auth/logout", headers=bearer(gone))).status_code == 204
    response = await client.get("/me/sessions", headers=bearer(mine))
    assert [item["id"] for item in response.json()["items"]] == [mine["session_id"]]


async def test_my_sessions_need_authentication(anon_client: httpx.AsyncClient) -> None:
    response = await anon_client.get("/me/sessions")
    assert_problem(response, 401, "unauthenticated")


# --- DELETE /me/sessions/{id} ----------------------------------------------------------------


async def test_revoking_one_of_my_sessions(client: httpx.AsyncClient) -> None:
    _, [mine, other, third] = await user_with_sessions(client, "bob", 3)
    response = await client.delete(f"/me/sessions/{other['session_id']}", headers=bearer(mine))
    assert response.status_code == 204, response.text
    assert response.content == b""
    await assert_token_refused(client, other)
    refresh = await client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert_problem(refresh, 401, "invalid_refresh_token")
    await assert_token_works(client, mine)
    await assert_token_works(client, third)
    listed = (await client.get("/me/sessions", headers=bearer(mine))).json()["items"]
    assert {item["id"] for item in listed} == {mine["session_id"], third["session_id"]}
    again = await client.delete(f"/me/sessions/{other['session_id']}", headers=bearer(mine))
    assert_problem(again, 404, "session_not_found")


async def test_revoking_the_current_session_by_id(client: httpx.AsyncClient) -> None:
    _, [mine] = await user_with_sessions(client, "bob", 1)
    response = await client.delete(f"/me/sessions/{mine['session_id']}", headers=bearer(mine))
    assert response.status_code == 204, response.text
    await assert_token_refused(client, mine)


async def test_revoking_an_unknown_session_is_not_found(client: httpx.AsyncClient) -> None:
    _, [mine] = await user_with_sessions(client, "bob", 1)
    response = await client.delete(f"/me/sessions/{uuid.uuid4()}", headers=bearer(mine))
    assert_problem(response, 404, "session_not_found")


async def test_another_users_session_is_not_found_and_survives(
    client: httpx.AsyncClient,
) -> None:
    _, [bob] = await user_with_sessions(client, "bob", 1)
    _, [carol] = await user_with_sessions(client, "carol", 1)
    response = await client.delete(f"/me/sessions/{carol['session_id']}", headers=bearer(bob))
    body = assert_problem(response, 404, "session_not_found")
    assert body["detail"] == "No session with this id exists."
    await assert_token_works(client, carol)


@pytest.mark.parametrize("session_id", ["not-a-uuid", "123", "0192f0c1-7b7a-7cc0-8f00"])
async def test_a_malformed_session_id_is_a_validation_error(
    client: httpx.AsyncClient, session_id: str
) -> None:
    response = await client.delete(f"/me/sessions/{session_id}")
    assert_validation_problem(response)


# --- DELETE /me/sessions ---------------------------------------------------------------------


async def test_revoking_all_my_other_sessions(client: httpx.AsyncClient) -> None:
    _, [mine, *others] = await user_with_sessions(client, "bob", 3)
    _, [carol] = await user_with_sessions(client, "carol", 1)
    response = await client.delete("/me/sessions", headers=bearer(mine))
    assert response.status_code == 204, response.text
    assert response.content == b""
    for tokens in others:
        await assert_token_refused(client, tokens)
    await assert_token_works(client, mine)
    await assert_token_works(client, carol)
    listed = (await client.get("/me/sessions", headers=bearer(mine))).json()["items"]
    assert [item["id"] for item in listed] == [mine["session_id"]]
    # With nothing left to end it still answers 204.
    again = await client.delete("/me/sessions", headers=bearer(mine))
    assert again.status_code == 204


async def test_revoking_my_other_sessions_needs_authentication(
    anon_client: httpx.AsyncClient,
) -> None:
    response = await anon_client.delete("/me/sessions")
    assert_problem(response, 401, "unauthenticated")


# --- administrators: /users/{id}/sessions ----------------------------------------------------


async def test_an_admin_lists_a_users_sessions(client: httpx.AsyncClient) -> None:
    user, sessions = await user_with_sessions(client, "bob", 2)
    response = await client.get(f"/users/{user['id']}/sessions")
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"items", "next_cursor"}
    assert {item["id"] for item in page["items"]} == {s["session_id"] for s in sessions}
    for item in page["items"]:
        assert set(item) == SESSION_FIELDS
        assert item["user_id"] == user["id"]
        # The administrator's own session is not one of them.
        assert item["current"] is False


async def test_an_admin_revokes_all_of_a_users_sessions(client: httpx.AsyncClient) -> None:
    user, sessions = await user_with_sessions(client, "bob", 2)
    _, [carol] = await user_with_sessions(client, "carol", 1)
    response = await client.delete(f"/users/{user['id']}/sessions")
    assert response.status_code == 204, response.text
    for tokens in sessions:
        await assert_token_refused(client, tokens)
    await assert_token_works(client, carol)
    assert (await client.get("/me")).status_code == 200
    listed = await client.get(f"/users/{user['id']}/sessions")
    assert listed.json()["items"] == []
    # Ending sessions does not lock the user out.
    assert (await log_in(client, "bob", PASSWORD))["access_token"]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_a_plain_user_may_not_touch_others_sessions(
    client: httpx.AsyncClient, method: str
) -> None:
    _, [bob] = await user_with_sessions(client, "bob", 1)
    carol, [carol_tokens] = await user_with_sessions(client, "carol", 1)
    me = (await client.get("/me")).json()
    for target in (carol["id"], me["id"]):
        response = await client.request(method, f"/users/{target}/sessions", headers=bearer(bob))
        assert_problem(response, 403, "forbidden")
    await assert_token_works(client, carol_tokens)


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_sessions_of_an_unknown_user_are_not_found(
    client: httpx.AsyncClient, method: str
) -> None:
    response = await client.request(method, f"/users/{uuid.uuid4()}/sessions")
    assert_problem(response, 404, "user_not_found")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_sessions_of_a_malformed_user_id(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/users/not-a-uuid/sessions")
    assert_validation_problem(response)


# --- every /users route needs a token --------------------------------------------------------

USER_ID = "0192f0c1-7b7a-7cc0-8f00-3c5d9a1b2e4f"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users", {"username": "mallory", "email": "mallory@example.com"}),
        ("GET", "/users", None),
        ("GET", f"/users/{USER_ID}", None),
        ("PATCH", f"/users/{USER_ID}", {"display_name": "Mallory"}),
        ("DELETE", f"/users/{USER_ID}", None),
        ("GET", f"/users/{USER_ID}/sessions", None),
        ("DELETE", f"/users/{USER_ID}/sessions", None),
    ],
)
async def test_every_users_route_needs_a_token(
    anon_client: httpx.AsyncClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    response = await anon_client.request(method, path, json=body)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
