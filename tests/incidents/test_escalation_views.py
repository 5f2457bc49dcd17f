"""Escalations as people see them: in ``GET /api/v1/incidents/{id}``, in ``opsbook incident
show``; update fields through the API and the CLI; ``opsbook incident message`` drafts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from paging_helpers import NOW, Recorder, config_body, declare, make_config, minutes, passes
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine

from api_transport import serve_cli
from auth_helpers import authorize
from opsbook.clock import FrozenClock
from opsbook.config.templates import SHIPPED_INCIDENT_MESSAGES
from opsbook.incidents import records
from opsbook.web import create_app

CONFIG = make_config()


@pytest.fixture
def client(engine: Engine, store_url: str) -> Iterator[TestClient]:
    app = create_app(
        CONFIG,
        environ={"OPSBOOK_DATABASE_URL": store_url},
        clock=FrozenClock(minutes(6)),
        registry=CollectorRegistry(),
    )
    # Not started (no `with`): the incidents task stays off, and the tests run its passes.
    yield TestClient(app)
    app.state.services.engine.dispose()


def test_the_api_shows_an_incident_escalations(client: TestClient, engine: Engine) -> None:
    authorize(client)
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    passes(engine, CONFIG, emit, minutes(5))
    body = client.get(f"/api/v1/incidents/{incident_id}").json()
    [run] = body["escalations"]
    assert run == {
        "id": run["id"],
        "policy": "default",
        "state": "active",
        "step": 2,
        "levels": 4,
        "levels_per_round": 2,
        "next_level": 1,
        "next_round": 2,
        "next_at": "2026-11-23T12:15:00Z",
        "started_at": "2026-11-23T12:00:00Z",
        "ended_at": None,
        "ended_reason": None,
    }
    acked = client.post(f"/api/v1/incidents/{incident_id}/ack", json={})
    assert acked.status_code == 200
    passes(engine, CONFIG, emit, minutes(6))
    [run] = client.get(f"/api/v1/incidents/{incident_id}").json()["escalations"]
    assert (run["state"], run["next_level"], run["next_at"], run["ended_reason"]) == (
        "acknowledged",
        None,
        None,
        "acknowledged by token:test",
    )


def test_the_api_takes_update_fields(client: TestClient, engine: Engine) -> None:
    authorize(client)
    incident_id = declare(engine)
    url = f"/api/v1/incidents/{incident_id}/updates"
    body = {"status": "identified", "message": "bad deploy"}
    bad = client.post(url, json={**body, "fields": {"cause": "x"}})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "$.fields.cause"
    assert bad.json()["error"]["message"].startswith("$.fields.cause: not an update field")
    good = client.post(url, json={**body, "fields": {"eta": "20m", "impact": "checkout"}})
    assert good.status_code == 200, good.text
    last = good.json()["timeline"][-1]
    assert last["detail"]["fields"] == {"eta": "20m", "impact": "checkout"}


@pytest.fixture
def cli(run_cli: Any, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI against ``client``'s app (its clock at 12:06); ``at`` is the CLI's own now."""
    path = tmp_path / "opsbook.yaml"
    path.write_text(yaml.safe_dump(config_body()), encoding="utf-8")
    transport = serve_cli(client, monkeypatch)

    def run(*args: str, at: datetime = NOW) -> Any:
        return run_cli(*args, "--config", str(path), clock=FrozenClock(at), transport=transport)

    run.transport = transport  # type: ignore[attr-defined]
    return run


def test_incident_show_prints_each_escalation(cli: Any, engine: Engine) -> None:
    active, acked = declare(engine), declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    passes(engine, CONFIG, emit, minutes(5))
    assert cli("incident", "ack", str(acked), at=minutes(6)).exit_code == 0
    passes(engine, CONFIG, emit, minutes(6))
    # What "in ..." says is counted from the clock the command was given, never the wall clock.
    shown = cli("incident", "show", str(active), at=minutes(6))
    assert shown.exit_code == 0, shown.stderr
    assert "escalation default: level 1 of 2 (round 2) due 12:15:00 (in 9m)" in shown.stdout
    overdue = cli("incident", "show", str(active), at=minutes(20))
    assert "escalation default: level 1 of 2 (round 2) due 12:15:00 (now)" in overdue.stdout
    assert "level 2: paged CTO (person:cto) via pager; channel ops-room" in shown.stdout
    stopped = cli("incident", "show", str(acked))
    assert (
        "escalation default: stopped: acknowledged by token:cli-test at 2026-11-23 12:06:00 UTC"
        in stopped.stdout
    )
    as_json = cli("incident", "show", str(active), "--json")
    assert '"next_level": 1' in as_json.stdout


def test_incident_update_takes_field_options(cli: Any, engine: Engine) -> None:
    incident_id = declare(engine)
    result = cli(
        "incident",
        "update",
        str(incident_id),
        "identified",
        "-m",
        "bad deploy",
        "--impact",
        "checkout fails",
        "--next-update",
        "in 30 minutes",
        "--root-cause",
        "1.4",
    )
    assert result.exit_code == 0, result.stderr
    with engine.begin() as conn:
        [last] = [e for e in records.timeline(conn, incident_id) if e.kind == "status"]
    assert last.detail["fields"] == {
        "impact": "checkout fails",
        "next_update": "in 30 minutes",
        "root_cause": "1.4",
    }
    long = cli("incident", "update", str(incident_id), "monitoring", "-m", "x", "--eta", "y" * 501)
    assert long.exit_code == 2
    assert "--eta: at most 500 characters" in long.stderr


def test_incident_message_drafts_from_a_shipped_template(cli: Any, engine: Engine) -> None:
    incident_id = declare(engine)
    result = cli("incident", "message", str(incident_id), "--template", "affected-users")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Subject: ")
    assert "Checkout down" in result.stdout


def test_incident_message_refuses_an_unknown_template_or_channel(cli: Any, engine: Engine) -> None:
    incident_id = declare(engine)
    bad = cli("incident", "message", str(incident_id), "--template", "nope")
    assert bad.exit_code == 2
    assert "--template: no incident template named 'nope'" in bad.stderr
    assert ", ".join(SHIPPED_INCIDENT_MESSAGES) in bad.stderr
    channel = cli("incident", "message", str(incident_id), "--channel", "nope")
    assert channel.exit_code == 2
    assert "--channel: no channel named 'nope' (known: email, ops-room, pager, status)" in (
        channel.stderr
    )


def test_level_of_n_comes_from_the_server_not_the_local_config(
    cli: Any, client: TestClient, engine: Engine, run_cli: Any, tmp_path: Path
) -> None:
    """The CLI's own config may name no policy at all (a laptop's copy, an old one): "of 2" is
    what the server runs, sent as ``levels_per_round``."""
    active = declare(engine)
    passes(engine, CONFIG, Recorder(), NOW)
    passes(engine, CONFIG, Recorder(), minutes(5))
    authorize(client)
    body = client.get(f"/api/v1/incidents/{active}").json()
    assert [e["levels_per_round"] for e in body["escalations"]] == [2]
    bare = tmp_path / "bare" / "opsbook.yaml"
    bare.parent.mkdir()
    bare.write_text("service: laptop\n", encoding="utf-8")
    assert cli("incident", "show", str(active), at=minutes(6)).exit_code == 0
    shown = run_cli(
        "incident",
        "show",
        str(active),
        "--config",
        str(bare),
        clock=FrozenClock(minutes(6)),
        transport=cli.transport,
    )
    assert shown.exit_code == 0, shown.stderr
    assert "escalation default: level 1 of 2 (round 2) due 12:15:00 (in 9m)" in shown.stdout
