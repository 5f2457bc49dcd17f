from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from opsbook.errors import StoreError
from opsbook.store import create_engine, head_revision
from opsbook.web import create_app
from opsbook.web.deps import Services


def _config(**fields: object) -> object:
    from opsbook.config import Config

    return Config.model_validate({"service": "t", **fields})


@pytest.mark.empty_store
def test_start_up_migrates_the_store_and_logs_it(
    make_app: Callable[..., FastAPI], store_url: str
) -> None:
    app = make_app(store_url)
    with capture_logs() as logs, TestClient(app):
        pass
    [migrated] = [e for e in logs if e["event"] == "migrations"]
    assert migrated["from_revision"] is None
    assert migrated["to_revision"] == head_revision()
    events = [e["event"] for e in logs]
    assert events.index("runner_started") < events.index("runner_stopped")


def test_the_store_url_comes_from_the_config_when_the_env_has_none(sqlite_url: str) -> None:
    from opsbook.config import Config

    config = Config.model_validate({"service": "t", "store": {"url": sqlite_url}})
    app = create_app(config, environ={})
    services = app.state.services
    assert isinstance(services, Services)
    assert services.engine.url.render_as_string() == sqlite_url
    services.engine.dispose()


def test_an_unsupported_store_url_fails_when_the_app_is_built() -> None:
    from opsbook.config import Config

    with pytest.raises(StoreError, match="unsupported store URL scheme 'mysql'"):
        create_app(
            Config.model_validate({"service": "t"}),
            environ={"OPSBOOK_DATABASE_URL": "mysql://h/db"},
        )


def test_an_engine_passed_in_is_used_and_left_open(sqlite_url: str) -> None:
    from opsbook.config import Config

    engine = create_engine(sqlite_url)
    app = create_app(Config.model_validate({"service": "t"}), engine=engine, environ={})
    with TestClient(app) as client:
        assert client.get("/ready").status_code == 200
    # Still usable: the caller owns it.
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()


def test_openapi_docs_are_served_with_the_title(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "opsbook"
    assert {"/health", "/ready", "/metrics"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_an_unreachable_store_at_start_up_is_retried_by_the_runner(
    make_app: Callable[..., FastAPI], closed_port: int
) -> None:
    app = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/x?connect_timeout=2")
    with capture_logs() as logs, TestClient(app) as client:
        assert client.get("/health").status_code == 200
    assert "migrations_failed" in [e["event"] for e in logs]
    [started] = [e for e in logs if e["event"] == "runner_started"]
    assert started["tasks"] == [
        "alerts",
        "delivery",
        "heartbeat",
        "incidents",
        "migrations",
        "retention",
        "scheduler",
        "status-subscribers",
    ]
