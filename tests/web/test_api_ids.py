"""Every integer a route takes (an id in the path, a ``before`` cursor, a ``limit``), on both
stores: a value no store can hold, zero or a negative one is a 400 naming the parameter, never a
5xx (SQLite raised ``OverflowError`` and PostgreSQL ``NumericValueOutOfRange`` for ids beyond 64
bits).

The routes come from the app's own OpenAPI schema, so a route added later is covered without
touching this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from auth_helpers import authorize
from opsbook.config import Config
from opsbook.web import create_app
from opsbook.web.deps import ID_MAX

CONFIG = {
    "service": "t",
    "checks": {"worker": {"heartbeat": {"period": "5m"}}},
}
# A value of each path parameter that is not an integer, so the route is reached.
OTHER_PATH_VALUES = {"check_id": "worker"}
BAD_INTEGERS = [2**64, 10**30, ID_MAX + 1, 0, -1]
WRITES = {"post", "put", "patch", "delete"}


def _integer_params(schema: dict[str, Any]) -> bool:
    kinds = [schema.get("type")] + [each.get("type") for each in schema.get("anyOf", [])]
    return "integer" in kinds


def _cases() -> Iterator[tuple[str, str, str, str]]:
    """(method, path template, parameter, where) for every integer parameter of every route."""
    app = _app("sqlite://")
    try:
        spec = app.openapi()
    finally:
        app.state.services.engine.dispose()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for param in operation.get("parameters", []):
                if _integer_params(param["schema"]):
                    yield method, path, param["name"], param["in"]


def _app(url: str, **kwargs: Any) -> FastAPI:
    return create_app(
        Config.model_validate(CONFIG), environ={"OPSBOOK_DATABASE_URL": url}, **kwargs
    )


CASES = sorted(set(_cases()))


def test_the_routes_taking_an_id_are_all_found() -> None:
    """The enumeration finds the routes the issue names (so the test below cannot pass by
    finding nothing)."""
    found = {(method, path, name) for method, path, name, _ in CASES}
    assert ("get", "/api/v1/alerts/{alert_id}", "alert_id") in found
    assert ("get", "/api/v1/incidents/{incident_id}", "incident_id") in found
    for action in ("ack", "updates", "notes", "severity", "roles", "reopen", "actions"):
        assert ("post", f"/api/v1/incidents/{{incident_id}}/{action}", "incident_id") in found
    assert ("post", "/api/v1/actions/{action_id}/done", "action_id") in found
    assert ("get", "/api/v1/incidents/{incident_id}/postmortem", "incident_id") in found
    assert ("get", "/api/v1/checks/{check_id}/results", "before") in found
    assert ("get", "/api/v1/checks/{check_id}/pings", "before") in found


@pytest.fixture
def client(make_app: Callable[..., FastAPI], store_url: str) -> Iterator[TestClient]:
    app = make_app(store_url, config=Config.model_validate(CONFIG))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield authorize(client)


def _url(path: str, name: str, where: str, value: int) -> tuple[str, dict[str, str]]:
    params: dict[str, str] = {}
    for other, text in OTHER_PATH_VALUES.items():
        path = path.replace(f"{{{other}}}", text)
    if where == "path":
        path = path.replace(f"{{{name}}}", str(value))
    else:
        params[name] = str(value)
    # Any other integer in the path is a valid id, so only ``name`` is at fault.
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "1" + path[end + 1 :]
    return path, params


@pytest.mark.parametrize("value", BAD_INTEGERS)
def test_an_integer_no_store_can_hold_is_a_400_naming_the_parameter(
    client: TestClient, value: int
) -> None:
    assert CASES
    for method, template, name, where in CASES:
        path, params = _url(template, name, where, value)
        body = {} if method in WRITES else None
        response = client.request(method.upper(), path, params=params, json=body)
        assert response.status_code == 400, (method, path, params, response.text)
        error = response.json()["error"]
        assert error == {
            "message": error["message"],
            "field": f"{where}.{name}",
            "location": where,
        }, (method, path)
        assert error["message"].startswith(f"{where}.{name}: "), error
        assert str(value) not in error["message"]


@pytest.mark.parametrize("field", ["alert_ids", "into"])
def test_an_id_beyond_64_bits_in_a_body_is_a_400_naming_it(client: TestClient, field: str) -> None:
    huge = 2**64
    if field == "alert_ids":
        path = "/api/v1/incidents"
        body: dict[str, Any] = {"title": "t", "severity": "SEV1", "alert_ids": [huge]}
        where = "$.alert_ids[0]"
    else:
        created = client.post("/api/v1/incidents", json={"title": "t", "severity": "SEV1"})
        assert created.status_code == 201, created.text
        path = f"/api/v1/incidents/{created.json()['id']}/merge"
        body, where = {"into": huge}, "$.into"
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == where
