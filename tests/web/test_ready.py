from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opsbook.store import head_revision
from opsbook.web.deps import Services


def _services(app: FastAPI) -> Services:
    services = app.state.services
    assert isinstance(services, Services)
    return services


def test_it_is_ready_once_started(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"store": "ok", "migrations": "ok", "runner": "ok", "tasks": "ok"},
    }


def test_it_is_not_ready_when_the_store_is_not_migrated(app: FastAPI, client: TestClient) -> None:
    with _services(app).engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM alembic_version"))
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "checks": {
            "store": "ok",
            "migrations": f"at none, expected {head_revision()}",
            "runner": "ok",
            "tasks": "ok",
        },
    }


def test_it_is_not_ready_when_the_store_is_unreachable(
    make_app: Callable[..., FastAPI], closed_port: int, secret: str
) -> None:
    port = closed_port
    app = make_app(f"postgresql+psycopg://postgres:{secret}@127.0.0.1:{port}/x?connect_timeout=2")
    with TestClient(app) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    store = body["checks"]["store"]
    assert store.startswith(f"store postgresql+psycopg://postgres:***@127.0.0.1:{port}/x")
    assert "is unreachable: " in store
    assert body["checks"]["migrations"] == "unknown: the store is unreachable"
    assert body["checks"]["runner"] == "ok"
    assert secret not in response.text


def test_it_is_not_ready_when_the_runner_is_not_running(app: FastAPI, client: TestClient) -> None:
    assert client.portal is not None
    client.portal.call(_services(app).runner.stop)
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "store": "ok",
        "migrations": "ok",
        "runner": "not running",
        "tasks": "ok",
    }


@pytest.mark.empty_store
def test_it_is_not_ready_before_start_up(app: FastAPI) -> None:
    # Without the context manager TestClient skips the lifespan: nothing migrated or running.
    response = TestClient(app).get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["runner"] == "not running"
    assert response.json()["checks"]["migrations"].startswith("at none, expected ")
