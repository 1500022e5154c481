"""``docs/authorization.md`` stays true to the code.

- the endpoint table between its markers is what ``docs/gen_endpoint_table.py`` prints from
  the routes' declared requirements, and covers every operation of the app;
- the ``curl`` walk-through (every ``bash`` block, in order, in one shell) runs against a
  live server, its ``jq -e`` checks comparing the documented answers, and tidies up;
- the claims the walk-through cannot show (the cap of the ``groups`` claim, the modes) hold on
  a live server too;
- the decision picture is a self-contained SVG, and every decision and fault is named.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.docs.test_docs import code_blocks
from tests.live_server import running_server
from truapi.domain.policy.engine import Decision, Fault

ROOT = Path(__file__).resolve().parents[2]
AUTHORIZATION_MD = ROOT / "docs" / "authorization.md"
GENERATOR = ROOT / "docs" / "gen_endpoint_table.py"
PICTURE = ROOT / "docs" / "img" / "authz-decision-order.svg"

ADMIN = "docs-authz-admin"
PASSWORD = "the authorization docs passphrase"
USER_PASSWORD = "correct horse battery staple"

pytestmark = pytest.mark.xdist_group("docs-authz")


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_endpoint_table", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the endpoint table -----------------------------------------------------------------------


def test_endpoint_table_matches_the_registry() -> None:
    gen = generator()
    documented: str = gen.guide_table(AUTHORIZATION_MD.read_text(encoding="utf-8"))
    current: str = gen.current_table()
    assert documented == current, (
        "the endpoint table of docs/authorization.md is out of date: run "
        "`python docs/gen_endpoint_table.py --write`"
    )


def test_endpoint_table_covers_every_operation_and_declares_each() -> None:
    gen = generator()
    app = gen.build_app()
    current: str = gen.current_table()
    rows = {tuple(line.split(" | ")[:2]) for line in current.splitlines()[2:]}
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            assert (f"| `{method.upper()}`", f"`{path}`") in rows, (
                f"{method.upper()} {path} is missing from the endpoint table"
            )
    assert "**undeclared**" not in current, "a route declares no requirement"


# --- the walk-through -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(
        tmp_path_factory.mktemp("authz-docs-server"),
        APP_ENV="test",
        APP_BOOTSTRAP_ADMIN_USERNAME=ADMIN,
        APP_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
        APP_LOG_LEVEL="warning",
    ) as server:
        yield server.base_url


def login(base_url: str, username: str, password: str) -> str:
    r = httpx.post(
        f"{base_url}/auth/login", json={"username": username, "password": password}, timeout=10
    )
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def admin_client(base_url: str) -> httpx.Client:
    token = login(base_url, ADMIN, PASSWORD)
    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_curl_examples_run(authz_server: str, tmp_path: Path) -> None:
    missing = [tool for tool in ("bash", "curl", "jq", "base64") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the curl examples of docs/authorization.md need {' and '.join(missing)}")
    blocks = code_blocks(AUTHORIZATION_MD, "bash")
    assert len(blocks) >= 10, "docs/authorization.md should hold the curl walk-through"
    script = ["set -euo pipefail"]
    for block in blocks:
        script.append(f"echo '--- docs/authorization.md, line {block.line}' >&2")
        script.append(block.code)
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env={
            **os.environ,
            "BASE_URL": authz_server,
            "ADMIN_USERNAME": ADMIN,
            "ADMIN_PASSWORD": PASSWORD,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"the curl examples failed (exit {result.returncode}); the failing block is the one "
        f"named by the last '---' line of stderr.\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    # The walk-through tidies up after itself: the starting state is back.
    with admin_client(authz_server) as client:
        assert [u["username"] for u in client.get("/users").json()["items"]] == [ADMIN]
        assert [g["name"] for g in client.get("/groups").json()["items"]] == ["admins"]
        assert client.get("/resources").json()["items"] == []


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_groups_claim_is_left_out_above_the_cap(authz_server: str) -> None:
    """With more groups than ``APP_TOKEN_GROUPS_MAX`` (32) the token says nothing about
    groups; introspection still lists them all."""
    with admin_client(authz_server) as client:
        user = client.post(
            "/users",
            json={"username": "many", "email": "many@example.com", "password": USER_PASSWORD},
        ).json()["id"]
        groups = []
        try:
            for i in range(33):
                group = client.post("/groups", json={"name": f"cap-{i:02d}"}).json()["id"]
                groups.append(group)
                assert client.put(f"/groups/{group}/members/user/{user}").status_code == 204
                if len(groups) == 32:  # at the cap: every id is in the token
                    token = login(authz_server, "many", USER_PASSWORD)
                    assert claims_of(token)["groups"] == sorted(groups)
            token = login(authz_server, "many", USER_PASSWORD)
            assert "groups" not in claims_of(token)
            introspected = client.post("/auth/introspect", data={"token": token}).json()
            assert introspected["active"] is True
            assert sorted(introspected["groups"]) == sorted(groups)
        finally:
            for group in groups:
                client.delete(f"/groups/{group}")
            client.delete(f"/users/{user}")


def test_a_user_in_no_group_has_an_empty_claim(authz_server: str) -> None:
    with admin_client(authz_server) as client:
        user = client.post(
            "/users",
            json={"username": "loner", "email": "loner@example.com", "password": USER_PASSWORD},
        ).json()["id"]
        try:
            assert claims_of(login(authz_server, "loner", USER_PASSWORD))["groups"] == []
        finally:
            client.delete(f"/users/{user}")


# --- modes ------------------------------------------------------------------------------------


def test_mode_off_keeps_the_checks_inside_routes(tmp_path: Path) -> None:
    """``APP_AUTHZ_MODE=off`` switches endpoint requirements off, and nothing else; an
    override still applies its own mode and action to its route."""
    overrides = {"GET /users": {"mode": "enforce", "action": "list"}}
    with (
        running_server(
            tmp_path,
            APP_ENV="test",
            APP_BOOTSTRAP_ADMIN_USERNAME=ADMIN,
            APP_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
            APP_LOG_LEVEL="warning",
            APP_AUTHZ_MODE="off",
            APP_AUTHZ_ENDPOINT_OVERRIDES=json.dumps(overrides),
        ) as server,
        admin_client(server.base_url) as admin,
    ):
        ids = {}
        for name in ("bob", "alice"):
            ids[name] = admin.post(
                "/users",
                json={"username": name, "email": f"{name}@example.com", "password": USER_PASSWORD},
            ).json()["id"]
        bob = {"Authorization": f"Bearer {login(server.base_url, 'bob', USER_PASSWORD)}"}
        with httpx.Client(base_url=server.base_url, headers=bob, timeout=10) as client:
            # No requirement is checked ...
            assert client.get(f"/users/{ids['alice']}").status_code == 200
            assert client.post("/groups", json={"name": "anyone-may"}).status_code == 201
            # ... but the checks inside routes stay,
            r = client.patch(f"/users/{ids['bob']}", json={"status": "disabled"})
            assert (r.status_code, r.json()["code"]) == (403, "forbidden")
            r = client.post(
                "/authz/check",
                json={"principal": f"user:{ids['alice']}", "action": "read", "resource": "doc:x"},
            )
            assert (r.status_code, r.json()["code"]) == (403, "forbidden")
            # the override enforces its own action,
            r = client.get("/users")
            assert (r.status_code, r.json()["code"]) == (403, "forbidden")
            # and a missing token is still refused.
            assert httpx.get(f"{server.base_url}/users/{ids['alice']}").status_code == 401
        assert admin.get("/users").status_code == 200


# --- the picture and the names ------------------------------------------------------------------


def test_decision_picture_is_self_contained() -> None:
    text = PICTURE.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    lowered = text.lower()
    for forbidden in ("<script", "href", "@import", "@font-face", "<image", "<foreignobject"):
        assert forbidden not in lowered, f"the SVG uses {forbidden}"
    assert "url(http" not in lowered
    assert "url(//" not in lowered
    assert "authz-decision-order.svg" in AUTHORIZATION_MD.read_text(encoding="utf-8")


def test_every_decision_and_fault_is_named() -> None:
    guide = AUTHORIZATION_MD.read_text(encoding="utf-8")
    picture = PICTURE.read_text(encoding="utf-8")
    for decision in Decision:
        assert f"`{decision.value}`" in guide, f"{decision.value} is not in the guide"
        assert decision.value in picture, f"{decision.value} is not in the picture"
    for fault in Fault:
        assert f"`{fault.value}`" in guide, f"fault {fault.value} is not in the guide"
