"""Auto-diagnostics end to end (issue 13): the demo's site goes down, ``site-down`` fires and
opens an incident, and the server runs the linked runbook's read steps (examples/demo/runbooks/
site-down.md) by itself. Their real output, what curl and the http step saw of the dead site,
is on the incident's timeline (the API) and reaches the pager: the follow-up message at once,
and the next escalation level's page as ``diagnosis``.

Everything is real: the demo service and ``opsbook serve`` are processes, the steps run curl
against the demo, and the pages land in a webhook sink that keeps the exact bodies. The bundled
config and runbooks run as shipped except for the demo's address (a free port instead of 8081,
as ``DEMO_URL`` would set it), the timing (probes and passes every second, escalation levels 3 s
apart instead of minutes) and the channels (the sink instead of the demo's inbox).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from peers import Peer, demo_service, opsbook_serve, stage_faults, wait_until
from sinks import WebhookSink, webhook_sink

from serving import http_json

pytestmark = pytest.mark.slow

DEMO = Path(__file__).parents[2] / "examples" / "demo"
DEMO_URL_DEFAULT = "${DEMO_URL:-http://127.0.0.1:8081}"
# The runbooks name the demo where `opsbook demo` runs it; the test's demo has a free port.
RUNBOOK_URL = "http://127.0.0.1:8081"
WAIT_S = 15.0


def _config(demo_url: str, sink: WebhookSink) -> str:
    config: dict[str, Any] = yaml.safe_load(
        (DEMO / "opsbook.yaml").read_text(encoding="utf-8").replace(DEMO_URL_DEFAULT, demo_url)
    )
    healthz = config["checks"]["healthz"]
    healthz["every"], healthz["retry_every"], healthz["timeout"] = "1s", "500ms", "500ms"
    config.setdefault("alerting", {})["evaluate_every"] = "1s"
    for level in config["oncall"]["escalation"]["default"]:
        if "wait" in level:
            level["wait"] = "3s"
    config["channels"] = {
        "pager": {"webhook": {"url": sink.url("/pager")}},
        "incidents": {"webhook": {"url": sink.url("/incidents")}},
    }
    return yaml.safe_dump(config, sort_keys=False)


def _copy_runbooks(folder: Path, demo_url: str) -> None:
    folder.mkdir(parents=True)
    for source in sorted((DEMO / "runbooks").glob("*.md")):
        text = source.read_text(encoding="utf-8").replace(RUNBOOK_URL, demo_url)
        (folder / source.name).write_text(text, encoding="utf-8")


def _bodies(sink: WebhookSink) -> list[dict[str, Any]]:
    return [r.json() for r in sink.delivered("/pager")]


def _diagnosis_event(opsbook: Peer, incident_id: int) -> dict[str, Any] | None:
    status, body = http_json(
        "GET", f"{opsbook.url}/api/v1/incidents/{incident_id}", token=opsbook.token
    )
    assert status == 200, body
    found = [e for e in _events(body) if e["kind"] == "diagnosis"]
    return found[0] if found else None


def _events(incident: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = incident["timeline"]
    return events


def test_a_site_down_page_is_followed_by_the_runbooks_real_output(tmp_path: Path) -> None:
    with demo_service(tmp_path) as demo, webhook_sink() as sink:
        _copy_runbooks(tmp_path / "opsbook" / "runbooks", demo.url)
        with opsbook_serve(
            tmp_path,
            config=_config(demo.url, sink),
            database_url=f"sqlite:///{tmp_path / 'opsbook.db'}",
        ) as opsbook:
            stage_faults(demo, {"down": True})
            [first] = wait_until(
                lambda: [b for b in _bodies(sink) if b["type"] == "page"] or None,
                what="the first page",
                timeout_s=WAIT_S,
                detail=opsbook.log_tail,
            )
            incident_id = first["incident"]["id"]
            event = wait_until(
                lambda: _diagnosis_event(opsbook, incident_id),
                what="a diagnosis on the incident's timeline",
                timeout_s=WAIT_S,
                detail=opsbook.log_tail,
            )
            short = event["message"]
            follow_up, later_page = wait_until(
                lambda: _delivered_diagnosis(sink, short),
                what="the diagnosis in a follow-up and in a later page",
                timeout_s=WAIT_S,
                detail=opsbook.log_tail,
            )

    # The first page left with the declaration, before any step ran.
    assert [a["name"] for a in first["alerts"]] == ["site-down"]
    assert "diagnosis" not in first

    detail = event["detail"]
    assert (detail["alert"], detail["runbook"], event["actor"]) == (
        "site-down",
        "site-down",
        "system:diagnostics",
    )
    steps = {s["id"]: s for s in detail["steps"]}
    assert list(steps) == ["healthz", "api-and-database"]  # the read steps, in order
    # What the http step really saw of a site that drops every connection.
    assert steps["healthz"] == {
        "id": "healthz",
        "state": "failed",
        "output": "ServerDisconnectedError: Server disconnected",
    }
    assert short.startswith("healthz: ServerDisconnectedError: Server disconnected; ")

    assert follow_up["type"] == "incident"
    assert follow_up["event"]["kind"] == "diagnosis"
    assert follow_up["event"]["message"] == short
    assert follow_up["incident"]["id"] == incident_id
    assert later_page["incident"]["id"] == incident_id
    assert later_page["page"]["level"] > 1
    assert later_page["diagnosis"] == short

    # Every read step runs (runner.execute_run's keep_going): during an outage the first read
    # step always fails, and the shell step is the one that says whether the API and its
    # database answer.
    assert steps["api-and-database"]["state"] == "failed", steps
    assert "curl: (52) Empty reply from server" in steps["api-and-database"]["output"]
    assert short.endswith("; api-and-database: curl: (52) Empty reply from server")


def _delivered_diagnosis(
    sink: WebhookSink, short: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    bodies = _bodies(sink)
    follow_ups = [
        b for b in bodies if b["type"] == "incident" and b["event"]["kind"] == "diagnosis"
    ]
    pages = [b for b in bodies if b["type"] == "page" and b.get("diagnosis") == short]
    return (follow_ups[0], pages[0]) if follow_ups and pages else None
