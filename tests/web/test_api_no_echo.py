"""A rejected query or path value is never echoed back (it may be a secret pasted in the wrong
place): each error names the parameter and what it accepts. Every string parameter of every
route in the OpenAPI schema gets a canary that is invalid where the parameter is parsed; the
canary must not appear in any answer. (The ingest routes' integration name is tested with them.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from auth_helpers import authorize
from opsbook.config import Config
from opsbook.web import create_app

CANARY = "SECRETVALUE123"
# Invalid as an alert status, a duration, a date, a matcher (its regex does not compile), a
# receiver regex, and names no check, silence or schedule.
BAD = f'{CANARY}=~"("'
TOKEN = "am-token-0123456789abcdef"
CONFIG: dict[str, Any] = {
    "service": "t",
    "checks": {"worker": {"heartbeat": {"period": "5m"}}},
    "integrations": {"prometheus": {"alertmanager": {"token": TOKEN}}},
    "oncall": {
        "people": {"ana": {"name": "Ana"}},
        "schedules": {"primary": {"layers": [{"rotation": "weekly", "people": ["ana"]}]}},
    },
}
VALID_PATH = {"check_id": "worker", "schedule": "primary"}
SKIPPED_TAGS = {"ingest"}  # owned by the ingest routes' own tests
WRITES = {"post", "put", "patch", "delete"}


def _is_string(schema: dict[str, Any]) -> bool:
    kinds = [schema.get("type")] + [each.get("type") for each in schema.get("anyOf", [])]
    return "string" in kinds or "array" in kinds


def _cases() -> list[tuple[str, str, str, str]]:
    app = create_app(Config.model_validate(CONFIG), environ={"OPSBOOK_DATABASE_URL": "sqlite://"})
    try:
        spec = app.openapi()
    finally:
        app.state.services.engine.dispose()
    cases = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if SKIPPED_TAGS & set(operation.get("tags", [])):
                continue
            for param in operation.get("parameters", []):
                if param["in"] in ("path", "query") and _is_string(param["schema"]):
                    cases.append((method, path, param["name"], param["in"]))
    return sorted(cases)


CASES = _cases()


def test_the_parameters_the_issue_names_are_found() -> None:
    found = {(path, name) for _, path, name, _ in CASES}
    assert ("/api/v1/alerts", "status") in found
    assert ("/api/v1/checks/{check_id}", "windows") in found
    assert ("/api/v1/oncall/{schedule}", "from") in found
    assert ("/api/v2/alerts", "filter") in found
    assert ("/api/v1/silences/{silence_id}", "silence_id") in found


@pytest.fixture
def client(make_app: Callable[..., FastAPI], store_url: str) -> Iterator[TestClient]:
    app = make_app(store_url, config=Config.model_validate(CONFIG))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield authorize(client)


def test_no_answer_echoes_a_rejected_query_or_path_value(client: TestClient) -> None:
    seen = []
    for method, template, name, where in CASES:
        path, params = template, {}
        for other, value in VALID_PATH.items():
            if other != name:
                path = path.replace(f"{{{other}}}", value)
        if where == "path":
            path = path.replace(f"{{{name}}}", BAD)
        else:
            params[name] = BAD
        path = re.sub(r"\{[a-z_]+\}", "nope", path)  # a silence id, unknown: 404 either way
        response = client.request(
            method.upper(),
            path,
            params=params,
            json={} if method in WRITES else None,
            # The Alertmanager-compatible routes take the integration's token; the rest, the
            # admin token the client sends by default (issue 12).
            headers={"Authorization": f"Bearer {TOKEN}"} if path.startswith("/api/v2/") else {},
        )
        assert response.status_code < 500, (method, path, params, response.text)
        assert CANARY not in response.text, (method, template, name, response.text)
        if response.status_code >= 400:
            field = response.json()["error"]["field"]
            if field in (name, f"{name}[0]", f"{where}.{name}"):
                seen.append(name)
    # The parsed ones were refused (the free-text ones, rule, owner, author, are just filters).
    assert {"status", "windows", "from", "to", "filter", "receiver", "check_id"} <= set(seen)
    assert {"silence_id", "schedule"} <= set(seen)


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (
            "/api/v1/alerts",
            {"status": CANARY},
            "status: not an alert status "
            "(use pending, firing, resolved, inactive, comma-separated)",
        ),
        (
            "/api/v1/oncall/primary",
            {"from": CANARY},
            "from: not a date and time (use ISO 8601, e.g. 2026-11-22T18:00Z)",
        ),
    ],
)
def test_a_query_error_names_the_parameter_and_what_it_accepts(
    client: TestClient, path: str, params: dict[str, str], message: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == message
