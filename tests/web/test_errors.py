from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from structlog.testing import capture_logs

from opsbook.errors import (
    ConfigError,
    Conflict,
    InputError,
    NotFound,
    OpsbookError,
    Problem,
    StoreError,
)
from opsbook.web.errors import json_path


class CheckIn(BaseModel):
    url: str
    every_s: int


class ChecksIn(BaseModel):
    checks: list[CheckIn]


@pytest.fixture
def app_with_routes(make_app: Callable[..., FastAPI], sqlite_url: str) -> FastAPI:
    # Error mapping does not depend on the backend; one store is enough.
    app = make_app(sqlite_url)

    @app.post("/echo")
    def echo(body: ChecksIn) -> ChecksIn:
        return body

    @app.get("/raise/{kind}")
    def raise_(kind: str) -> None:
        errors: dict[str, OpsbookError] = {
            "input": InputError("every must be a duration", field="body.every", location="body"),
            "config": ConfigError([Problem("opsbook.yaml", 3, 5, "checks.x", "bad")]),
            "not-found": NotFound("no check named 'api'", field="path.check"),
            "conflict": Conflict("the incident is already resolved"),
            "store": StoreError("store sqlite:///x.db is unreachable: disk I/O error"),
        }
        raise errors[kind]

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug with internal detail")

    return app


@pytest.fixture
def api(app_with_routes: FastAPI) -> TestClient:
    with TestClient(app_with_routes, raise_server_exceptions=False) as client:
        yield client  # type: ignore[misc]


def test_an_unknown_route_is_404_with_the_error_body(client: TestClient) -> None:
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert response.json() == {"error": {"message": "Not Found", "field": None, "location": None}}


def test_an_invalid_body_is_400_naming_the_field_as_a_json_path(api: TestClient) -> None:
    response = api.post("/echo", json={"checks": [{"every_s": 30}]})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "body.checks[0].url: Field required",
            "field": "body.checks[0].url",
            "location": "body",
        }
    }


def test_it_counts_the_other_problems_and_never_echoes_input(api: TestClient) -> None:
    response = api.post(
        "/echo", json={"checks": [{"url": "x", "every_s": "postgres://u:S3cretPw-9z@h/db"}, {}]}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "body.checks[0].every_s"
    assert error["message"].startswith("body.checks[0].every_s: Input should be a valid integer")
    assert error["message"].endswith("(and 2 more problems)")
    assert "S3cretPw-9z" not in response.text


def test_malformed_json_is_400(api: TestClient) -> None:
    response = api.post("/echo", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["location"] == "body"


@pytest.mark.parametrize(
    ("kind", "status", "error"),
    [
        (
            "input",
            400,
            {"message": "every must be a duration", "field": "body.every", "location": "body"},
        ),
        (
            "config",
            400,
            {"message": "opsbook.yaml:3:5: checks.x: bad", "field": None, "location": None},
        ),
        (
            "not-found",
            404,
            {"message": "no check named 'api'", "field": "path.check", "location": None},
        ),
        (
            "conflict",
            409,
            {"message": "the incident is already resolved", "field": None, "location": None},
        ),
        (
            "store",
            503,
            {
                "message": "store sqlite:///x.db is unreachable: disk I/O error",
                "field": None,
                "location": None,
            },
        ),
    ],
)
def test_each_error_family_maps_to_one_status_and_the_error_body(
    api: TestClient, kind: str, status: int, error: dict[str, str | None]
) -> None:
    response = api.get(f"/raise/{kind}")
    assert response.status_code == status
    assert response.json() == {"error": error}


def test_a_bug_is_a_500_without_a_traceback(api: TestClient) -> None:
    with capture_logs() as logs:
        response = api.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"message": "internal error; see the server log", "field": None, "location": None}
    }
    assert "internal detail" not in response.text
    assert "Traceback" not in response.text
    [logged] = [e for e in logs if e["event"] == "unhandled_error"]
    assert logged["path"] == "/boom"
    assert isinstance(logged["exc_info"], RuntimeError)


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((), ""),
        (("body",), "body"),
        (("body", "checks", 0, "url"), "body.checks[0].url"),
        (("query", "limit"), "query.limit"),
        (("body", 2), "body[2]"),
        (("body", "a", 0, 1, "b"), "body.a[0][1].b"),
    ],
)
def test_json_path(loc: tuple[str | int, ...], path: str) -> None:
    assert json_path(loc) == path
