"""The documentation stays true to the code.

- every setting is in ``.env.example`` (with its default) and in ``docs/configuration.md``;
- every error code the service can send is in ``docs/errors.md``;
- the examples of ``docs/api/users.md`` run against a live server (those of
  ``docs/authentication.md`` are run by ``test_authentication_docs.py``);
- the site builds with ``mkdocs build --strict`` and loads nothing from other sites.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.live_server import running_server
from truapi.api.errors import DOMAIN_ERRORS, STATUS_CODES
from truapi.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
ENV_EXAMPLE = ROOT / ".env.example"
CONFIGURATION_MD = DOCS / "configuration.md"
ERRORS_MD = DOCS / "errors.md"
USERS_MD = DOCS / "api" / "users.md"
API_SOURCES = ROOT / "truapi" / "api"

BOOTSTRAP_ADMIN = "docs-admin"
BOOTSTRAP_PASSWORD = "the docs examples passphrase"
SERVER_START_TIMEOUT_S = 60.0


def env_name(field: str) -> str:
    return f"APP_{field.upper()}"


SETTINGS_FIELDS = sorted(Settings.model_fields)


# --- (a) settings -------------------------------------------------------------------------


def default_text(field: str) -> str | None:
    """The default of a setting as it is written in an env file; ``None`` when unset."""
    default: Any = Settings.model_fields[field].get_default(call_default_factory=True)
    if default is None:
        return None
    if isinstance(default, SecretStr):
        return default.get_secret_value()
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, Enum):
        return str(default.value)
    return str(default)


@dataclass(frozen=True)
class ExampleSetting:
    value: str
    comment: str


def env_example_settings() -> dict[str, ExampleSetting]:
    """``# APP_NAME=value`` lines of ``.env.example``, each with the comment line above it."""
    found: dict[str, ExampleSetting] = {}
    previous = ""
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"# (APP_[A-Z0-9_]+)=(.*)", line)
        if match:
            assert match[1] not in found, f"{match[1]} appears twice in .env.example"
            found[match[1]] = ExampleSetting(value=match[2], comment=previous)
        previous = line
    return found


def configuration_rows() -> dict[str, str]:
    """Table rows of ``configuration.md`` by the setting they document."""
    rows: dict[str, str] = {}
    for line in CONFIGURATION_MD.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `(APP_[A-Z0-9_]+)` \|", line)
        if match:
            rows[match[1]] = line
    return rows


@pytest.mark.parametrize("field", SETTINGS_FIELDS)
def test_setting_is_in_env_example_with_its_default(field: str) -> None:
    settings = env_example_settings()
    name = env_name(field)
    assert name in settings, f"{name} is missing from .env.example"
    entry = settings[name]
    assert entry.comment.startswith("# "), f"{name} in .env.example needs a comment above it"
    assert len(entry.comment) > 10, f"the comment above {name} in .env.example says too little"
    default = default_text(field)
    if default is None:
        assert "unset" in entry.comment, (
            f"{name} has no default: its comment in .env.example must say it is unset"
        )
    else:
        assert entry.value == default, (
            f".env.example shows {name}={entry.value}, but the default is {default!r}"
        )


@pytest.mark.parametrize("field", SETTINGS_FIELDS)
def test_setting_is_in_configuration_page(field: str) -> None:
    rows = configuration_rows()
    name = env_name(field)
    assert name in rows, f"{name} has no row in docs/configuration.md"
    default = default_text(field)
    secret = Settings.model_fields[field].annotation in (SecretStr, SecretStr | None)
    if default is not None and not secret:
        assert f"`{default}`" in rows[name], (
            f"the row of {name} in docs/configuration.md does not show its default `{default}`"
        )
    else:
        assert "unset" in rows[name] or secret, f"the row of {name} must say it is unset"


def test_no_unknown_setting_is_documented() -> None:
    known = {env_name(field) for field in SETTINGS_FIELDS}
    in_example = set(env_example_settings())
    in_page = set(re.findall(r"\bAPP_[A-Z0-9_]+\b", CONFIGURATION_MD.read_text(encoding="utf-8")))
    assert in_example - known == set(), ".env.example names settings that do not exist"
    assert in_page - known == set(), "docs/configuration.md names settings that do not exist"


# --- (b) error codes ----------------------------------------------------------------------


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _code_argument(call: ast.Call) -> str | None:
    """The ``code`` of ``ApiError(status, code, detail, ...)`` when it is a string literal."""
    for keyword in call.keywords:
        if keyword.arg == "code":
            value = keyword.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
            return None
    if len(call.args) >= 2:
        value = call.args[1]
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return None


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and _name_of(func.value.func) == "super"
    )


def api_error_literals() -> set[str]:
    """Every literal ``code`` given to ``ApiError`` (or a subclass) anywhere in ``truapi/api``."""
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in API_SOURCES.rglob("*.py")]
    error_classes = {"ApiError"}
    changed = True
    while changed:  # subclasses of subclasses, across modules
        changed = False
        for tree in trees:
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in error_classes
                    and any(_name_of(base) in error_classes for base in node.bases)
                ):
                    error_classes.add(node.name)
                    changed = True
    codes: set[str] = set()
    for tree in trees:
        for cls in ast.walk(tree):
            if isinstance(cls, ast.ClassDef) and cls.name in error_classes - {"ApiError"}:
                for node in ast.walk(cls):
                    if isinstance(node, ast.Call) and _is_super_init(node):
                        code = _code_argument(node)
                        if code is not None:
                            codes.add(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name_of(node.func) in error_classes:
                code = _code_argument(node)
                if code is not None:
                    codes.add(code)
    return codes


def error_codes_and_statuses() -> dict[str, set[int]]:
    codes: dict[str, set[int]] = {}
    for status, code in DOMAIN_ERRORS.values():
        codes.setdefault(code, set()).add(status)
    for status, code in STATUS_CODES.items():
        codes.setdefault(code, set()).add(status)
    for code in api_error_literals():
        codes.setdefault(code, set())
    return codes


def documented_codes() -> dict[str, str]:
    """Codes in the tables under "Error codes" in ``errors.md``, with row and heading."""
    found: dict[str, str] = {}
    in_catalogue = False
    heading = ""
    for line in ERRORS_MD.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            in_catalogue = line == "## Error codes"
        if line.startswith("#"):
            heading = line
        match = re.match(r"\| `([a-z][a-z0-9_]*)` \|", line)
        if in_catalogue and match:
            assert match[1] not in found, f"{match[1]} has two rows in docs/errors.md"
            found[match[1]] = f"{heading}\n{line}"
    assert found, 'docs/errors.md has no "## Error codes" section with tables'
    return found


def test_the_source_scan_finds_the_direct_codes() -> None:
    literals = api_error_literals()
    assert {"unsupported_media_type", "internal_error", "payload_too_large"} <= literals


@pytest.mark.parametrize("code", sorted(error_codes_and_statuses()))
def test_error_code_is_documented(code: str) -> None:
    documented = documented_codes()
    assert code in documented, f"error code {code!r} has no row in docs/errors.md"
    for status in error_codes_and_statuses()[code]:
        assert str(status) in documented[code], (
            f"docs/errors.md does not give status {status} for {code!r}"
        )


def test_no_unknown_error_code_is_documented() -> None:
    unknown = set(documented_codes()) - set(error_codes_and_statuses())
    assert unknown == set(), f"docs/errors.md documents codes the service never sends: {unknown}"


# --- (c) runnable examples ------------------------------------------------------------------


@dataclass(frozen=True)
class CodeBlock:
    line: int  # 1-based line of the block's first line of code in the Markdown file
    code: str


_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]+)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def code_blocks(path: Path, lang: str) -> list[CodeBlock]:
    """Fenced blocks of ``lang`` in ``path``, in order, dedented (tabs indent their content)."""
    text = path.read_text(encoding="utf-8")
    return [
        CodeBlock(
            line=text.count("\n", 0, match.start("body")) + 1,
            code=textwrap.dedent(match["body"]),
        )
        for match in _FENCE.finditer(text)
        if match["lang"] == lang
    ]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``truapi serve`` on a fresh SQLite file and a free port; yields its base URL."""
    with running_server(
        tmp_path_factory.mktemp("docs-server"),
        APP_ENV="test",
        APP_BOOTSTRAP_ADMIN_USERNAME=BOOTSTRAP_ADMIN,
        APP_BOOTSTRAP_ADMIN_PASSWORD=BOOTSTRAP_PASSWORD,
        APP_LOG_LEVEL="warning",
    ) as server:
        yield server.base_url


@pytest.fixture
def examples_server(live_server: str) -> Iterator[str]:
    """The live server; afterwards only the bootstrap administrator is left, pass or fail."""
    yield live_server
    with httpx.Client(base_url=live_server, timeout=10.0) as client:
        login = client.post(
            "/auth/login", json={"username": BOOTSTRAP_ADMIN, "password": BOOTSTRAP_PASSWORD}
        )
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        items = client.get("/users", params={"limit": 200}).json()["items"]
        for user in items:
            if user["username"] != BOOTSTRAP_ADMIN:
                client.delete(f"/users/{user['id']}")


@pytest.mark.xdist_group("docs")
def test_users_python_examples_run(examples_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = code_blocks(USERS_MD, "python")
    assert len(blocks) >= 8, "docs/api/users.md should hold the httpx examples"
    monkeypatch.setenv("BASE_URL", examples_server)
    monkeypatch.setenv("ADMIN_USERNAME", BOOTSTRAP_ADMIN)
    monkeypatch.setenv("ADMIN_PASSWORD", BOOTSTRAP_PASSWORD)
    namespace: dict[str, Any] = {"__name__": "users_md_examples"}
    try:
        for block in blocks:
            # Padding keeps the traceback's line numbers equal to the Markdown file's.
            source = "\n" * (block.line - 1) + block.code
            exec(compile(source, str(USERS_MD), "exec"), namespace)
    finally:
        client = namespace.get("client")
        if isinstance(client, httpx.Client):
            client.close()


@pytest.mark.xdist_group("docs")
def test_users_curl_examples_run(examples_server: str, tmp_path: Path) -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the curl examples of docs/api/users.md need {' and '.join(missing)}")
    blocks = code_blocks(USERS_MD, "bash")
    assert len(blocks) >= 8, "docs/api/users.md should hold the curl examples"
    script = ["set -euo pipefail"]
    for block in blocks:
        script.append(f"echo '--- docs/api/users.md, line {block.line}' >&2")
        script.append(block.code)
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=tmp_path,
        env={
            **os.environ,
            "BASE_URL": examples_server,
            "ADMIN_USERNAME": BOOTSTRAP_ADMIN,
            "ADMIN_PASSWORD": BOOTSTRAP_PASSWORD,
        },
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


# --- (d) the site ---------------------------------------------------------------------------

_TAG = re.compile(r"<(?P<tag>script|link)\b[^>]*>", re.IGNORECASE)
_EXTERNAL = re.compile(r"^(?:https?:)?//", re.IGNORECASE)


def test_site_builds_strictly_and_loads_nothing_external(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    )

    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 8
    external: list[str] = []
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for tag in _TAG.finditer(html):
            attribute = "src" if tag["tag"].lower() == "script" else "href"
            found = re.search(rf"\b{attribute}\s*=\s*[\"']?([^\"'\s>]+)", tag[0], re.IGNORECASE)
            if found and _EXTERNAL.match(found[1]):
                external.append(f"{page.relative_to(site)}: {tag[0]}")
    assert external == [], "the site loads resources from elsewhere:\n" + "\n".join(external)

    for asset in site.rglob("*.css"):
        text = asset.read_text(encoding="utf-8", errors="replace")
        assert "fonts.googleapis.com" not in text, asset
        assert "fonts.gstatic.com" not in text, asset
