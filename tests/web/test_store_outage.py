"""A store outage met by a request is a 503 with ``Retry-After`` and one warning line, never a
500 with a traceback: a ping gets plain text (``store unavailable, retry``), the JSON API the
common error body. On PostgreSQL the outage is real: the app's database is dropped (its
connections terminated) while the app runs; on SQLite the store's file cannot be opened.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from opsbook.checks.heartbeats import heartbeat_uuid
from opsbook.config import Config
from opsbook.web.errors import RETRY_AFTER_SECONDS

CONFIG = {"service": "t", "checks": {"worker": {"heartbeat": {"period": "5m"}}}}
WORKER = heartbeat_uuid(service="t", check_id="worker")
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def throwaway_pg() -> Iterator[str]:
    """A database of this test's own (the shared one is never touched), dropped at the end."""
    name = f"opsbook_outage_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def outage(
    request: pytest.FixtureRequest, make_app: Callable[..., FastAPI], tmp_path: Path
) -> Iterator[TestClient]:
    """A client of an app whose store is down by the time the test sends its requests."""
    config = Config.model_validate(CONFIG)
    if request.param == "sqlite":
        # A store folder that is a file: SQLite cannot open (SQLITE_CANTOPEN), as with a
        # volume that went away.
        (tmp_path / "gone").write_text("not a folder", encoding="utf-8")
        app = make_app(f"sqlite:///{tmp_path / 'gone' / 'opsbook.db'}", config=config)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client
        return
    name = request.getfixturevalue("throwaway_pg")
    app = make_app(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", config=config)
    with TestClient(app, raise_server_exceptions=False) as client:
        # Up first (migrated, a ping stored), then the database goes away under the app.
        assert client.get(f"/ping/{WORKER}").status_code == 200
        _drop(name)
        yield client


def _assert_one_warning(logs: Sequence[MutableMapping[str, Any]], path: str) -> None:
    """The request logged one warning line and no traceback (the background tasks, failing on
    the same outage meanwhile, log their own lines)."""
    mine = [e for e in logs if e.get("path") == path and e["log_level"] in ("warning", "error")]
    assert [e["event"] for e in mine] == ["store_unavailable"], logs
    assert "exc_info" not in mine[0]
    assert "unable to open" in str(mine[0]["error"]) or "unreachable" in str(mine[0]["error"])
    assert not [e for e in logs if e["event"] == "unhandled_error"], logs


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
def test_a_ping_during_a_store_outage_is_a_plain_text_503_with_retry_after(
    outage: TestClient, method: str
) -> None:
    with capture_logs() as logs:
        response = outage.request(method, f"/ping/{WORKER}/start")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    if method != "HEAD":
        assert response.text == "store unavailable, retry"
    _assert_one_warning(logs, f"/ping/{WORKER}/start")


@pytest.mark.parametrize(
    "path", ["/api/v1/alerts", "/api/v1/incidents", "/api/v1/checks/worker/pings"]
)
def test_an_api_read_during_a_store_outage_is_a_json_503_with_retry_after(
    outage: TestClient, path: str
) -> None:
    with capture_logs() as logs:
        response = outage.get(path)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert response.json() == {
        "error": {
            "message": "the store is unavailable; retry later",
            "field": None,
            "location": None,
        }
    }
    _assert_one_warning(logs, path)


def test_an_api_write_during_a_store_outage_is_a_503(outage: TestClient) -> None:
    response = outage.post(
        "/api/v1/incidents", json={"title": "t", "severity": "SEV1", "author": "ana"}
    )
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
