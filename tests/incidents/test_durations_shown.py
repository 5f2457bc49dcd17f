"""Times people took, as the CLI shows them: to the second (``3m18s``, not ``3m17s924ms``), in
``opsbook incidents stats`` and ``opsbook incident show``; JSON keeps whole seconds as numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api_transport import serve_cli
from opsbook.clock import FrozenClock
from opsbook.config import load
from opsbook.config.units import format_elapsed
from opsbook.incidents import service
from opsbook.incidents.models import IncidentStatus
from opsbook.web import create_app

DECLARED = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)
ACKED = DECLARED + timedelta(minutes=3, seconds=17, milliseconds=924)
RESOLVED = DECLARED + timedelta(minutes=41, seconds=2, milliseconds=600)
NOW = DECLARED + timedelta(hours=2)
CONFIG = {"service": "demo", "timezone": "UTC"}


@pytest.mark.parametrize(
    ("elapsed", "shown"),
    [
        (timedelta(minutes=3, seconds=17, milliseconds=924), "3m18s"),
        (timedelta(seconds=42, milliseconds=400), "42s"),
        (timedelta(seconds=59, milliseconds=500), "1m"),
        (timedelta(milliseconds=499), "0s"),
        (timedelta(hours=1, minutes=5, milliseconds=200), "1h5m"),
        (timedelta(days=1, hours=2, seconds=3), "1d2h3s"),
        (timedelta(seconds=-3), "0s"),
    ],
)
def test_an_elapsed_time_is_rounded_to_the_second(elapsed: timedelta, shown: str) -> None:
    assert format_elapsed(elapsed) == shown


@pytest.fixture
def cli(
    run_cli: Any, tmp_path: Path, engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The CLI against the app, both at ``NOW``."""
    path = tmp_path / "opsbook.yaml"
    path.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    config = load(path, environ={})
    app = create_app(config, environ={"OPSBOOK_DATABASE_URL": store_url}, clock=FrozenClock(NOW))
    transport = serve_cli(TestClient(app), monkeypatch)

    def run(*args: str) -> Any:
        return run_cli(*args, "--config", str(path), clock=FrozenClock(NOW), transport=transport)

    yield run
    app.state.services.engine.dispose()


@pytest.fixture
def incident_id(engine: Engine) -> int:
    with engine.begin() as conn:
        found = service.declare(
            conn, title="Checkout down", severity="SEV1", actor="user:ana", now=DECLARED
        )
        service.acknowledge(conn, found.id, actor="user:ana", now=ACKED)
        service.update(
            conn,
            found.id,
            status=IncidentStatus.RESOLVED,
            message="rolled back",
            actor="user:ana",
            now=RESOLVED,
        )
    return found.id


def test_stats_show_mtta_and_mttr_to_the_second(cli: Any, incident_id: int) -> None:
    result = cli("incidents", "stats", "--since", "1d")
    assert result.exit_code == 0, result.stderr
    assert "3m18s" in result.stdout
    assert "41m3s" in result.stdout
    assert "ms" not in result.stdout.replace("MTTM", "").replace("MTTA", "")


def test_show_says_acknowledged_after_to_the_second(cli: Any, incident_id: int) -> None:
    result = cli("incident", "show", str(incident_id))
    assert result.exit_code == 0, result.stderr
    assert "respond    within 15m: met (acknowledged after 3m18s)" in result.stdout
    body = json.loads(cli("incident", "show", str(incident_id), "--json").stdout)
    assert body["time_to_acknowledge_s"] == 197
