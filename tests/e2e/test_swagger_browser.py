"""Swagger UI renders in a real browser that cannot reach anything but the local server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI
from tests.live_server import Server

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_TIMEOUT_S = 180

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is not installed; `apt-get install chromium` enables this test"
    if IN_CI:
        pytest.fail(f"CI=true but {message}")
    pytest.skip(message)


def dump_dom(url: str, profile: Path) -> str:
    """Load ``url`` headless, with every non-loopback host unresolvable, and return its DOM."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=False,
        env={"HOME": str(profile), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def test_swagger_ui_renders_the_users_operations_offline(server: Server, tmp_path: Path) -> None:
    need_chromium()
    # The server is running, made its bootstrap administrator, and describes the users API.
    login = httpx.post(
        f"{server.base_url}/auth/login",
        json={"username": "admin", "password": "stroll-hazel-quartz-91"},
        timeout=10,
    )
    assert login.status_code == 200, login.text
    admins = httpx.get(
        f"{server.base_url}/users",
        params={"username": "admin"},
        headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        timeout=10,
    )
    assert [u["email"] for u in admins.json()["items"]] == ["admin@example.com"]
    spec = httpx.get(f"{server.base_url}/openapi.json", timeout=10).json()
    assert "/users/{user_id}" in spec["paths"]

    dom = dump_dom(f"{server.base_url}/docs", tmp_path / "chromium-profile")

    assert 'id="swagger-ui"' in dom
    assert "swagger-ui" in dom
    assert "Failed to load API definition" not in dom, dom[-3000:]
    # Rendered operations, not just the empty container the HTML ships with.
    opblocks = re.findall(r'class="opblock opblock-(get|post|patch|delete|put)\b', dom)
    assert len(opblocks) >= 5, f"expected the users operations in the DOM:\n{dom[:3000]}"
    assert {"get", "post", "patch", "delete"} <= set(opblocks)
    paths = set(re.findall(r'data-path="([^"]+)"', dom))
    assert {"/users", "/users/{user_id}"} <= paths, paths
    for summary in ("Create a user", "Get a user", "Change a user", "Delete a user", "List users"):
        assert summary in dom, summary
    assert "TruAPI" in dom
    # The "Authorize" button: Swagger UI draws it only for a declared security scheme.
    assert re.search(r'class="btn authorize', dom), dom[:3000]
    assert {"/auth/login", "/me"} <= paths, paths
    # The browser got the assets and the spec from this server (nothing else resolves).
    log = server.stderr.read_text(errors="replace")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert asset in log, server.log_tail()
    assert "Traceback" not in log, server.log_tail()
