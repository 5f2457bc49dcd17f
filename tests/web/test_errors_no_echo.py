"""The safety net under every route's own messages: a 4xx message never quotes a query or path
value of the request (a domain error written for the CLI quotes what it refuses)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsbook.errors import InputError, NotFound

CANARY = "SECRETVALUE123"


@pytest.fixture
def api(make_app: Callable[..., FastAPI], sqlite_url: str) -> Iterator[TestClient]:
    # Error mapping does not depend on the backend; one store is enough.
    app = make_app(sqlite_url)

    @app.get("/things/{name}")
    def thing(name: str, kind: str = "plain") -> None:
        if kind == "plain":
            raise NotFound(f"no thing named {name!r}", field="name")
        if kind == "json":
            raise NotFound(f'no thing named "{name}"', field="name")
        raise InputError(f"kind: {kind!r} is not a kind (use plain or json)", field="kind")

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        (f"/things/{CANARY}", 404, "no thing named the value"),
        (f"/things/{CANARY}?kind=json", 404, "no thing named the value"),
        (f"/things/x?kind={CANARY}", 400, "kind: the value is not a kind (use plain or json)"),
    ],
)
def test_a_quoted_query_or_path_value_is_not_echoed(
    api: TestClient, url: str, status: int, message: str
) -> None:
    response = api.get(url)
    assert response.status_code == status
    assert response.json()["error"]["message"] == message
    assert CANARY not in response.text


def test_an_unquoted_word_that_is_also_a_value_stays(api: TestClient) -> None:
    """Only quoted forms are replaced: ``plain`` sent as a path value leaves the sentence's own
    ``plain`` alone."""
    response = api.get("/things/plain?kind=other")
    assert response.json()["error"]["message"] == (
        "kind: the value is not a kind (use plain or json)"
    )
