"""Health checks, Prometheus metrics, and the offline API docs (CONTRACT §1, §2)."""

from __future__ import annotations

import re
import secrets
import string
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.conftest import MakeClient, assert_problem, create_user
from tests.conftest import REDIS_URL, need_service

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])

USERS_OPERATIONS = {
    ("post", "/users"): {400, 401, 409, 413, 415, 422, 503},
    ("get", "/users"): {400, 401, 422, 503},
    ("get", "/users/{user_id}"): {401, 404, 422, 503},
    ("patch", "/users/{user_id}"): {400, 401, 404, 409, 412, 413, 415, 422, 503},
    ("delete", "/users/{user_id}"): {401, 404, 412, 422, 503},
}


async def test_live(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


async def test_ready_without_redis(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "disabled"},
    }


@sqlite_only
@pytest.mark.redis
async def test_ready_with_redis(make_client: MakeClient) -> None:
    need_service("Redis", REDIS_URL, 6379, "APP_TEST_REDIS_URL")
    client = await make_client(redis_url=REDIS_URL)
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


@sqlite_only
async def test_ready_with_unreachable_redis_is_degraded_but_200(make_client: MakeClient) -> None:
    client = await make_client(redis_url="redis://127.0.0.1:1/0")
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "degraded"}}
    # The service keeps serving requests meanwhile.
    assert (await client.post("/users", json={"username": "al", "email": "x"})).status_code == 422
    user = await create_user(client, "alice")
    assert (await client.get(f"/users/{user['id']}")).status_code == 200


def metric_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def counter_value(text: str, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` carrying all ``labels``; 0 when absent."""
    found = []
    for line in metric_lines(text, name):
        head, value = line.rsplit(" ", 1)
        if all(f'{key}="{val}"' in head for key, val in labels.items()):
            found.append(float(value))
    assert len(found) <= 1, found
    return found[0] if found else 0.0


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "alice")
    for _ in range(3):
        assert (await client.get(f"/users/{user['id']}")).status_code == 200
    missing = uuid.uuid4()
    assert (await client.get(f"/users/{missing}")).status_code == 404
    assert (await client.get("/no/such/path-7f3a")).status_code == 404

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE truapi_http_requests_total counter" in text
    assert "# TYPE truapi_http_request_duration_seconds histogram" in text
    route = "/users/{user_id}"
    assert (
        counter_value(text, "truapi_http_requests_total", method="GET", route=route, status="200")
        == 3
    )
    assert (
        counter_value(text, "truapi_http_requests_total", method="GET", route=route, status="404")
        == 1
    )
    assert (
        counter_value(
            text, "truapi_http_requests_total", method="POST", route="/users", status="201"
        )
        == 1
    )
    assert (
        counter_value(text, "truapi_http_request_duration_seconds_count", method="GET", route=route)
        == 4
    )
    # Never the raw path: no ids, no attacker-chosen strings as label values.
    assert user["id"] not in text
    assert str(missing) not in text
    assert "path-7f3a" not in text


@sqlite_only
async def test_metrics_label_docs_and_openapi_by_their_path(client: httpx.AsyncClient) -> None:
    assert (await client.get("/openapi.json")).status_code == 200
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/docs-assets/swagger-ui.css")).status_code == 200
    text = (await client.get("/metrics")).text
    for route in ("/openapi.json", "/docs"):
        assert (
            counter_value(
                text, "truapi_http_requests_total", method="GET", route=route, status="200"
            )
            == 1
        ), route
    assert "swagger-ui.css" not in text


@sqlite_only
async def test_metrics_can_be_disabled(make_client: MakeClient) -> None:
    client = await make_client(metrics_enabled=False)
    assert_problem(await client.get("/metrics"), 404, "not_found")
    assert (await client.get("/health/live")).status_code == 200


class AssetRefs(HTMLParser):
    """Collects every URL an HTML page would load (src, href) and every URL in its text."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.refs.append(value)


EXTERNAL_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


def external_urls(text: str) -> list[str]:
    """Absolute or scheme-relative URLs to any host but the one serving the page."""
    hosts = []
    for match in EXTERNAL_URL.finditer(text):
        host = urlsplit(match.group(0) if ":" in match.group(0)[:6] else "http:" + match.group(0))
        if host.hostname not in ("testserver", "127.0.0.1", "localhost"):
            hosts.append(match.group(0))
    return hosts


@sqlite_only
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_use_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert external_urls(html) == []
    parser = AssetRefs()
    parser.feed(html)
    scripts = [ref for ref in parser.refs if ref.endswith(".js")]
    assert scripts, "the page loads no script"
    for ref in parser.refs:
        assert ref.startswith("/"), ref
        assert not ref.startswith("//"), ref
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.content, ref
    for ref in scripts:
        asset = await client.get(ref)
        assert "javascript" in asset.headers["content-type"], ref
        assert len(asset.content) > 10_000, ref


@sqlite_only
async def test_swagger_ui_oauth2_redirect_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert external_urls(response.text) == []


def has_example(value: Any) -> bool:
    """Whether an OpenAPI fragment carries an ``example`` or ``examples`` anywhere."""
    if isinstance(value, dict):
        if "example" in value or "examples" in value:
            return True
        return any(has_example(v) for v in value.values())
    if isinstance(value, list):
        return any(has_example(v) for v in value)
    return False


def resolve(spec: dict[str, Any], fragment: Any) -> Any:
    """Follow local ``$ref`` pointers one level at a time, recursively."""
    if isinstance(fragment, dict):
        if "$ref" in fragment:
            target: Any = spec
            for part in fragment["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(spec, target)
        return {key: resolve(spec, value) for key, value in fragment.items()}
    if isinstance(fragment, list):
        return [resolve(spec, item) for item in fragment]
    return fragment


@sqlite_only
async def test_openapi_documents_every_users_operation(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    paths = spec["paths"]
    documented = {
        (method, path)
        for path, item in paths.items()
        if path.startswith("/users") and not path.endswith(("/sessions", "/groups"))
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert documented == set(USERS_OPERATIONS)
    problem_fields = {"type", "title", "status", "detail", "instance", "code", "request_id"}
    for (method, path), error_statuses in USERS_OPERATIONS.items():
        op = paths[path][method]
        where = f"{method.upper()} {path}"
        assert op.get("tags") == ["users"], where
        assert op.get("summary"), where
        assert op.get("operationId"), where
        assert has_example(resolve(spec, op)), f"{where} has no example"
        responses = op["responses"]
        success = {code for code in responses if code.startswith("2")}
        assert len(success) == 1, where
        for status in error_statuses:
            assert str(status) in responses, f"{where} does not document {status}"
            entry = resolve(spec, responses[str(status)])
            assert entry["description"], (where, status)
            schema = entry["content"]["application/problem+json"]["schema"]
            assert problem_fields <= set(schema["properties"]), (where, status)
            assert problem_fields <= set(schema.get("required", [])), (where, status)


@sqlite_only
async def test_openapi_documents_health_operations(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in ("/health/live", "/health/ready", "/metrics"):
        op = spec["paths"][path]["get"]
        assert op.get("tags"), path
        assert op.get("summary"), path
    ready = spec["paths"]["/health/ready"]["get"]["responses"]
    assert {"200", "503"} <= set(ready)


@sqlite_only
@pytest.mark.parametrize(
    "overrides",
    [
        {"docs_enabled": False},
        {
            "env": "production",
            "secret_key": "".join(
                secrets.choice(string.ascii_letters + string.digits) for _ in range(40)
            ),
        },
    ],
    ids=["docs-disabled", "production"],
)
async def test_docs_can_be_turned_off(make_client: MakeClient, overrides: dict[str, Any]) -> None:
    client = await make_client(**overrides)
    for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
        assert_problem(await client.get(path), 404, "not_found")
    assert (await client.get("/docs-assets/swagger-ui-bundle.js")).status_code == 404
    # The API itself is unaffected.
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/users")).status_code == 200


@sqlite_only
async def test_production_can_turn_docs_back_on(make_client: MakeClient) -> None:
    client = await make_client(
        env="production", secret_key="k" * 16 + secrets.token_hex(16), docs_enabled=True
    )
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
