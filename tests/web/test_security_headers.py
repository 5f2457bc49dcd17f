"""Every response carries the security headers; the UI's policy allows no inline script, and
/docs gets the one relaxation Swagger UI needs (web/security.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from opsbook.web.security import DOCS_POLICY, PAGE_POLICY, policy_for

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
