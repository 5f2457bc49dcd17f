"""The OpenAPI document says what the server does: bodies of the routes that read their own, and
the status codes really answered (400 not 422; 401, 404, 413, 503). Fuzzers generate from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsbook.config import Config
from opsbook.web import create_app

INGEST_BODIES = {
    ("post", "/api/v2/alerts"): "PostableAlerts",
    ("post", "/api/v1/integrations/{name}/alertmanager"): "AlertmanagerWebhookMessage",
    ("post", "/v2/enqueue"): "PagerDutyEvent",
    ("post", "/api/v1/integrations/{name}/webhook"): "WebhookAlerts",
    ("post", "/api/v2/silences"): "PostableSilence",
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'opsbook.db'}"
    app = create_app(Config.model_validate({"service": "t"}), environ={"OPSBOOK_DATABASE_URL": url})
    try:
        document: dict[str, Any] = app.openapi()
    finally:
        app.state.services.engine.dispose()
    return document


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def test_no_operation_documents_fastapis_422(spec: dict[str, Any]) -> None:
    documented = [f"{m} {p}" for m, p, op in operations(spec) if "422" in op["responses"]]
    assert documented == []
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_each_operation_with_input_documents_400_with_the_error_body(
    spec: dict[str, Any],
) -> None:
    with_input = [
        (m, p, op) for m, p, op in operations(spec) if op.get("parameters") or "requestBody" in op
    ]
    assert len(with_input) > 30
    for method, path, operation in with_input:
        answer = operation["responses"].get("400")
        assert answer is not None, f"{method} {path}"
        if path != "/v2/enqueue":  # answers in PagerDuty's own shape
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, f"{method} {path}"
    error = spec["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["required"] == ["message", "field", "location"]


def test_path_parameters_document_404_and_the_api_documents_503(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        if "{" in path:
            assert "404" in responses, f"{method} {path}"
        if path.startswith(("/api/", "/v2/")):
            assert "503" in responses, f"{method} {path}"


@pytest.mark.parametrize(("key", "title"), INGEST_BODIES.items(), ids=lambda v: str(v))
def test_routes_that_read_their_own_body_document_its_shape(
    spec: dict[str, Any], key: tuple[str, str], title: str
) -> None:
    method, path = key
    operation = spec["paths"][path][method]
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["title"] == title
    assert "413" in operation["responses"]
    if path != "/v2/enqueue":  # the routing key is in the body: a bad one is a 400
        assert "401" in operation["responses"]


def test_authenticated_alertmanager_routes_document_401(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        if path.startswith("/api/v2/") and operation.get("tags") == ["alertmanager"]:
            assert "401" in operation["responses"], f"{method} {path}"


def test_the_postmortem_is_documented_as_markdown(spec: dict[str, Any]) -> None:
    answer = spec["paths"]["/api/v1/incidents/{incident_id}/postmortem"]["get"]["responses"]
    assert list(answer["200"]["content"]) == ["text/markdown"]


def test_the_server_serves_this_document(spec: dict[str, Any], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    app = create_app(Config.model_validate({"service": "t"}), environ={"OPSBOOK_DATABASE_URL": url})
    try:
        with TestClient(app) as client:
            assert client.get("/openapi.json").json() == spec
    finally:
        app.state.services.engine.dispose()
