"""A NUL in a text query parameter is a 400 naming it, on both stores: PostgreSQL refuses NUL in
text, so one that reaches a query was a 500 (found by tests/fuzz/test_api_fuzz.py, issue 11)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from auth_helpers import authorize
from opsbook.config import Config
from opsbook.web import create_app


@pytest.fixture
def client(store_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(
        Config.model_validate({"service": "t"}), environ={"OPSBOOK_DATABASE_URL": store_url}
    )
    try:
        with TestClient(app) as client:
            yield authorize(client)
    finally:
        app.state.services.engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/api/v1/actions?owner=a%00b", "query.owner"),
        ("GET", "/api/v1/alerts?rule=a%00", "query.rule"),
    ],
)
def test_a_nul_in_a_text_query_parameter_is_a_400_naming_it(
    client: TestClient, method: str, path: str, field: str
) -> None:
    answer = client.request(method, path)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    assert "\x00" not in answer.text
