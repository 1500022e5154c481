"""The examples of ``docs/authentication.md`` run against a live server.

- the ``curl`` walk-through (every ``bash`` block, in order, in one shell);
- the Python verification snippet (every ``python`` block, in order, in one namespace);
- the Node.js verification snippet, with ``jose`` installed from npm into a temporary
  directory (skipped when ``node``/``npm`` are missing or the install fails, unless ``CI=true``).

The server's ``APP_ISSUER`` is its own URL, so the discovery document and the ``iss`` claim
point where the examples can reach, as they would in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import tests.live_server
from tests.docs.test_docs import code_blocks
from tests.live_server import running_server

ROOT = Path(__file__).resolve().parents[2]
AUTHENTICATION_MD = ROOT / "docs" / "authentication.md"

ADMIN = "docs-auth-admin"
PASSWORD = "the authentication docs passphrase"
IN_CI = os.environ.get("CI", "").lower() == "true"

pytestmark = pytest.mark.xdist_group("docs-auth")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``truapi serve`` whose ``APP_ISSUER`` is its own base URL; yields that URL."""
    port = tests.live_server.free_port()
    base_url = f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        # running_server picks its port when entered: make it pick the one the issuer names.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(tests.live_server, "free_port", lambda: port)
            server = stack.enter_context(
                running_server(
                    tmp_path_factory.mktemp("auth-docs-server"),
                    APP_ENV="test",
                    APP_ISSUER=base_url,
                    APP_BOOTSTRAP_ADMIN_USERNAME=ADMIN,
                    APP_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
                    APP_LOG_LEVEL="warning",
                )
            )
        assert server.base_url == base_url
        yield base_url


def example_env(base_url: str) -> dict[str, str]:
    return {
        "BASE_URL": base_url,
        "TRUAPI_ISSUER": base_url,
        "ADMIN_USERNAME": ADMIN,
        "ADMIN_PASSWORD": PASSWORD,
    }


def admin_token(base_url: str) -> str:
    r = httpx.post(
        f"{base_url}/auth/login", json={"username": ADMIN, "password": PASSWORD}, timeout=10
    )
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def test_the_issuer_is_the_server(auth_server: str) -> None:
    discovery = httpx.get(f"{auth_server}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == auth_server
    assert discovery["jwks_uri"] == f"{auth_server}/.well-known/jwks.json"


def test_curl_examples_run(auth_server: str, tmp_path: Path) -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the curl examples of docs/authentication.md need {' and '.join(missing)}")
    blocks = code_blocks(AUTHENTICATION_MD, "bash")
    assert len(blocks) >= 8, "docs/authentication.md should hold the curl walk-through"
    script = ["set -euo pipefail"]
    for block in blocks:
        script.append(f"echo '--- docs/authentication.md, line {block.line}' >&2")
        script.append(block.code)
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env={**os.environ, **example_env(auth_server)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, (
        f"the curl examples failed (exit {result.returncode}); the failing block is the one "
        f"named by the last '---' line of stderr.\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    # The walk-through tidies up after itself: only the administrator is left.
    token = admin_token(auth_server)
    users = httpx.get(
        f"{auth_server}/users", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()["items"]
    assert [u["username"] for u in users] == [ADMIN]


def test_python_verification_runs(
    auth_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = code_blocks(AUTHENTICATION_MD, "python")
    assert len(blocks) >= 2, "docs/authentication.md should hold the PyJWT example"
    for name, value in example_env(auth_server).items():
        monkeypatch.setenv(name, value)
    namespace: dict[str, Any] = {"__name__": "authentication_md_examples"}
    for block in blocks:
        source = "\n" * (block.line - 1) + block.code
        exec(compile(source, str(AUTHENTICATION_MD), "exec"), namespace)
    assert "refused: " in capsys.readouterr().out

    # The snippet's verify() really checks what the page says it checks.
    import jwt

    verify = namespace["verify"]
    claims = verify(admin_token(auth_server))
    assert claims["iss"] == auth_server
    assert claims["aud"] == "truapi"
    with pytest.raises(jwt.InvalidTokenError):
        verify("not.a.token")
    refresh = httpx.post(
        f"{auth_server}/auth/login", json={"username": ADMIN, "password": PASSWORD}, timeout=10
    ).json()["refresh_token"]
    with pytest.raises(jwt.InvalidTokenError):
        verify(refresh)


def _node_or_skip(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the Node.js example must run)")
    pytest.skip(reason)


def test_node_verification_runs(auth_server: str, tmp_path: Path) -> None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _node_or_skip("the Node.js example of docs/authentication.md needs node and npm")
        return
    (block,) = code_blocks(AUTHENTICATION_MD, "javascript")
    project = tmp_path / "verify"
    project.mkdir()
    (project / "package.json").write_text('{"private": true, "type": "module"}\n')
    try:
        install = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "jose"],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired:
        _node_or_skip("npm install jose timed out")
        return
    if install.returncode != 0:
        _node_or_skip(f"npm install jose failed:\n{install.stderr[-2000:]}")
        return
    script = project / "verify-token.mjs"
    script.write_text(block.code, encoding="utf-8")

    def run(token: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node, str(script)],
            cwd=project,
            env={**os.environ, **example_env(auth_server), "ACCESS_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    token = admin_token(auth_server)
    good = run(token)
    assert good.returncode == 0, f"the Node.js example failed:\n{good.stdout}\n{good.stderr}"
    me = httpx.get(
        f"{auth_server}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    assert good.stdout.split()[:3] == [me["id"], me["tenant_id"], "openid"]

    tampered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    bad = run(tampered)
    assert bad.returncode != 0, "the Node.js example accepted a tampered token"
    assert "JWSSignatureVerificationFailed" in bad.stderr or "signature" in bad.stderr.lower()
