"""Alerts holding text no encoder takes (a lone surrogate, stored straight into SQLite around
ingest) are listed with that text repaired to U+FFFD by every list route, resolved or not, and by
``opsbook alerts --all``: one bad row never turns a list into a 500 or a crash."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from alert_helpers import hold_alert_engine, open_rule_alert
from api_transport import serve_cli
from auth_helpers import authorize
from frozen import CLI_NOW
from opsbook.accounts import Role
from opsbook.alerts import records
from opsbook.alerts.models import AlertStatus
from opsbook.alerts.tables import alert
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.web import create_app

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BAD = "x\ud800"
TOKEN = "prom-token-0123456789abc"
CONFIG = {
    "service": "shop",
    "checks": {"api": {"http": {"url": "http://127.0.0.1:1/healthz"}}},
    "alerts": {"api-down": {"when": "api down", "severity": "SEV1"}},
    "integrations": {"prom": {"alertmanager": {"token": TOKEN}}},
}
ROUTES = ["/api/v1/alerts", "/api/v2/alerts", "/api/v2/alerts/groups"]


def _poison(engine: Engine, *, now: datetime, resolved: bool) -> int:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL cannot store a lone surrogate (its JSONB refuses it)")
    with engine.begin() as conn:
        alert_id = open_rule_alert(
            conn,
            "api-down",
            check="api",
            now=now,
            labels={"team": BAD},
            annotations={"summary": BAD, "description": BAD},
            values={"body": BAD},
        )
        if resolved:
            found = records.get_alert(conn, alert_id)
            records.set_status(conn, found, AlertStatus.RESOLVED, now=now, message="resolved")
    return alert_id


@pytest.fixture
def client(engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    app = create_app(
        Config.model_validate(CONFIG),
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(NOW),
        registry=CollectorRegistry(),
    )
    # It would judge the alerts the tests write; held before the start, whose first pass could
    # otherwise take the engine's lock after the hold's wait (tests/cli/conftest.py).
    hold_alert_engine(app, monkeypatch)
    with TestClient(app) as test_client:
        # /api/v1 needs a viewer; the /api/v2 requests send the integration's token instead.
        yield authorize(test_client, Role.VIEWER)


@pytest.mark.parametrize("resolved", [False, True], ids=["firing", "resolved"])
@pytest.mark.parametrize("route", ROUTES)
def test_list_routes_repair_a_poisoned_alert(
    client: TestClient, engine: Engine, route: str, resolved: bool
) -> None:
    _poison(engine, now=NOW, resolved=resolved)
    query = {"status": "resolved"} if resolved and route == "/api/v1/alerts" else {}
    headers = {"Authorization": f"Bearer {TOKEN}"} if route.startswith("/api/v2/") else {}
    response = client.get(route, params=query, headers=headers)
    assert response.status_code == 200
    assert "\\ud800" not in response.text
    if not resolved or route == "/api/v1/alerts":
        assert "x\ufffd" in response.json().__repr__()


def test_one_alert_with_its_timeline_is_repaired(client: TestClient, engine: Engine) -> None:
    alert_id = _poison(engine, now=NOW, resolved=False)
    response = client.get(f"/api/v1/alerts/{alert_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["annotations"]["summary"] == "x\ufffd"
    assert body["labels"]["team"] == "x\ufffd"
    assert body["values"] == {"body": "x\ufffd"}


def test_the_cli_lists_a_poisoned_alert(
    run_cli: Any,
    client: TestClient,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The CLI asks the server (``client``'s app) for the list, as a viewer.
    _poison(engine, now=CLI_NOW, resolved=True)
    config_file = tmp_path / "opsbook.yaml"
    config_file.write_text(json.dumps(CONFIG))
    transport = serve_cli(client, monkeypatch, role=Role.VIEWER)
    result = run_cli("alerts", "--all", "--config", str(config_file), transport=transport)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "api-down" in result.stdout
    result = run_cli("alerts", "--all", "--json", "--config", str(config_file), transport=transport)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)[0]["annotations"]["summary"] == "x\ufffd"


def test_an_alert_whose_labels_are_not_an_object_is_listed(
    client: TestClient, engine: Engine
) -> None:
    # Written around every writer (PostgreSQL can hold this, unlike a lone surrogate).
    with engine.begin() as conn:
        alert_id = open_rule_alert(conn, "api-down", check="api", now=NOW)
        conn.execute(alert.update().where(alert.c.id == alert_id).values(labels=["x"]))
    response = client.get("/api/v1/alerts")
    assert response.status_code == 200
    [found] = response.json()["alerts"]
    assert (found["id"], found["labels"]) == (alert_id, {})
