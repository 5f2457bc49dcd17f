"""Every response carries the security headers, error answers included; the UI's policy allows
no inline script, and /docs gets the one relaxation Swagger UI needs (web/security.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from opsbook.errors import NotFound
from opsbook.web.security import DOCS_POLICY, PAGE_POLICY, FixedResponse, policy_for, secured

COMMON = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/login"),
        ("GET", "/"),  # a redirect to the login form
        ("GET", "/health"),
        ("GET", "/api/v1/checks"),
        ("GET", "/no/such/page"),
        ("POST", "/login"),  # a refused form
        ("GET", "/static/ui/ui.css"),
        ("GET", "/openapi.json"),
    ],
)
def test_every_response_carries_the_headers(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, follow_redirects=False)
    for name, value in COMMON.items():
        assert response.headers[name] == value, name
    assert response.headers["content-security-policy"] == PAGE_POLICY


async def test_a_fixed_answer_is_sent_as_made_and_an_edit_stays_in_its_answer() -> None:
    answer = FixedResponse("/api/v2/alerts")
    scope: dict[str, Any] = {"type": "http", "path": "/api/v2/alerts"}
    assert secured(answer, scope) is answer
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)
        if message["type"] == "http.response.start":
            message["headers"].append((b"x-edited", b"1"))  # a layer editing in place

    async def receive() -> Any:
        raise AssertionError("a fixed answer reads nothing")

    for _ in range(2):
        await answer(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [200, 200]
    for start in starts:
        names = [name for name, _ in start["headers"]]
        assert names.count(b"x-edited") == 1  # each answer had a list of its own
        headers = dict(start["headers"])
        del headers[b"x-edited"]
        assert {k.decode(): v.decode() for k, v in headers.items()} == {
            **COMMON,
            "content-security-policy": PAGE_POLICY,
            "content-length": "0",
        }
    assert [m["body"] for m in sent if m["type"] == "http.response.body"] == [b"", b""]


def test_the_page_policy_forbids_inline_script_framing_and_foreign_forms() -> None:
    directives = dict(d.strip().split(" ", 1) for d in PAGE_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in PAGE_POLICY


def test_docs_gets_its_own_policy_and_nothing_else_does(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == DOCS_POLICY
    assert policy_for("/docs/oauth2-redirect") == DOCS_POLICY
    assert policy_for("/docsx") == PAGE_POLICY
    assert policy_for("/static/vendor/swagger-ui/swagger-ui.css") == PAGE_POLICY


def test_a_header_the_route_set_is_kept(client: TestClient) -> None:
    # The setup page narrows Referrer-Policy: its URL is a secret.
    response = client.get("/setup/anything")
    assert response.headers["referrer-policy"] == "no-referrer"
    assert len(response.headers.get_list("referrer-policy")) == 1


def assert_secured(response: Any) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.status_code, name)
    assert response.headers.get("content-security-policy") == PAGE_POLICY


@pytest.fixture
def failing(make_app: Callable[..., FastAPI], sqlite_url: str) -> TestClient:
    # The headers do not depend on the backend; one store is enough.
    app = make_app(sqlite_url)

    @app.get("/fail/{kind}")
    def fail(kind: str) -> None:
        if kind == "bug":
            raise RuntimeError("a bug")
        if kind == "store":
            raise sa_exc.TimeoutError("pool exhausted")
        raise NotFound("no such thing", field="kind")

    # The server's error middleware re-raises after answering; the client must not.
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_an_unexpected_error_is_a_500_with_the_headers(failing: TestClient, accept: str) -> None:
    response = failing.get("/fail/bug", headers={"Accept": accept})
    assert response.status_code == 500
    assert response.json()["error"]["message"] == "internal error; see the server log"
    assert_secured(response)


def test_a_store_outage_is_a_503_with_the_headers(failing: TestClient) -> None:
    response = failing.get("/fail/store")
    assert response.status_code == 503 and response.headers["retry-after"]
    assert_secured(response)


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [("application/json", "application/json"), ("text/html", "text/html; charset=utf-8")],
)
def test_an_error_the_handlers_map_carries_the_headers_as_json_or_page(
    failing: TestClient, accept: str, content_type: str
) -> None:
    response = failing.get("/fail/missing", headers={"Accept": accept})
    assert response.status_code == 404
    assert response.headers["content-type"] == content_type
    assert_secured(response)
