"""An ingested alert answered 2xx is on disk: kill -9 right after the answer, restart, and every
alert is there (a real ``opsbook serve`` on SQLite, as in test_ping_durability.py)."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from serving import Server, api_token

pytestmark = pytest.mark.slow

TOKEN = "durability-token-0123456789"
ROUTING_KEY = "0123456789abcdef0123456789abcdef"
CONFIG = f"""\
service: t
integrations:
  prometheus:
    alertmanager: {{token: {TOKEN}}}
  tools:
    pagerduty: {{routing_key: {ROUTING_KEY}}}
"""
BATCH = [
    {
        "labels": {"alertname": "HighLatency", "service": f"svc-{i:03}", "severity": "page"},
        "annotations": {"summary": f"p95 of svc-{i:03} is 2.4s"},
    }
    for i in range(100)
]
PD_TRIGGER = {
    "routing_key": ROUTING_KEY,
    "event_action": "trigger",
    "dedup_key": "srv01/HTTP",
    "payload": {"summary": "DISK at 99%", "source": "srv01", "severity": "critical"},
}


def test_ingested_alerts_answered_2xx_survive_a_kill_9(
    serve: Callable[..., Server], sqlite_url: str
) -> None:
    first = serve(CONFIG, database_url=sqlite_url)
    assert first.request_json("POST", "/api/v2/alerts", BATCH, token=TOKEN) == (200, None)
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    second = serve(CONFIG, database_url=sqlite_url)
    status, answer = second.request_json("POST", "/v2/enqueue", PD_TRIGGER)
    assert (status, answer["dedup_key"]) == (202, "srv01/HTTP")
    assert second.stop(signal.SIGKILL) == -signal.SIGKILL

    third = serve(CONFIG, database_url=sqlite_url)
    reader = api_token(sqlite_url)  # /api/v1 wants a role; the ingest token is not one
    status, body = third.request_json("GET", "/api/v1/alerts?limit=1000", token=reader)
    assert status == 200
    found = {
        (a["source"], a["labels"].get("service") or a["labels"]["source"]): a
        for a in body["alerts"]
    }
    assert len(found) == 101
    for i in range(100):
        alert = found["alertmanager", f"svc-{i:03}"]
        assert (alert["status"], alert["annotations"]["summary"]) == (
            "firing",
            f"p95 of svc-{i:03} is 2.4s",
        )
    paged = found["pagerduty", "srv01"]
    assert (paged["status"], paged["severity"], paged["annotations"]["summary"]) == (
        "firing",
        "SEV1",
        "DISK at 99%",
    )
    # The Alertmanager-compatible read agrees, and a retry after the restart adds nothing.
    assert third.request_json("POST", "/api/v2/alerts", BATCH, token=TOKEN) == (200, None)
    _, shown = third.request_json("GET", "/api/v2/alerts", token=TOKEN)
    assert len(shown) == 101
