from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_it_answers_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_does_not_need_the_store(make_app: Callable[..., FastAPI], closed_port: int) -> None:
    app = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/x?connect_timeout=2")
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}


def test_wrong_method_is_405_with_the_error_body(client: TestClient) -> None:
    response = client.post("/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json() == {
        "error": {"message": "Method Not Allowed", "field": None, "location": None}
    }
