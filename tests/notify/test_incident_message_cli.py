"""``opsbook incident message`` through the real CLI entry point: the exact draft of the default
email (no channel, so no "to"), and of the affected-users email of an open incident whose
component the config names "Website"."""

from __future__ import annotations

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
from opsbook.incidents import service
from opsbook.web import create_app

DECLARED = datetime(2026, 12, 5, 10, 0, 12, tzinfo=UTC)
NOW = DECLARED + timedelta(minutes=7, seconds=3)
CONFIG = {
    "service": "demo",
    "timezone": "UTC",
    "severities": {"SEV1": {"respond_within": "15m", "page": True}},
    "components": {"web": {"name": "Website", "checks": []}},
}


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
            conn,
            title="site-down: healthz is down",
            severity="SEV1",
            actor="system:incidents",
            now=DECLARED,
            component="web",
        )
    return found.id


def test_the_default_draft_names_no_empty_recipient(cli: Any, incident_id: int) -> None:
    result = cli("incident", "message", str(incident_id))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Subject: [Investigating] SEV1 site-down: healthz is down (incident {incident_id})\n"
        "\n"
        f"Incident {incident_id}: site-down: healthz is down\n"
        "\n"
        "Severity: SEV1\n"
        "Status: Investigating\n"
        "Impact: none\n"
        "\n"
        "declared SEV1: site-down: healthz is down\n"
        "\n"
        "Declared: 2026-12-05 10:00:12 UTC\n"
        "Open for: 7m\n"
        "\n"
        "Sent by opsbook at 2026-12-05 10:07:15 UTC.\n"
    )


def test_the_affected_users_draft_of_an_open_incident(cli: Any, incident_id: int) -> None:
    result = cli("incident", "message", str(incident_id), "--template", "affected-users")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Subject: Service Disruption - Investigating\n"
        "\n"
        "Hi there,\n"
        "\n"
        "We're experiencing a service disruption, since 2026-12-05 10:00 UTC, that may affect "
        "Website.\n"
        "\n"
        "What's happening:\n"
        "- site-down: healthz is down\n"
        "\n"
        "What we're doing:\n"
        "- We're working to restore the service.\n"
        "\n"
        "We'll write again when the service is restored. We apologize for the inconvenience.\n"
        "\n"
        "Best,\n"
        "The team\n"
    )
