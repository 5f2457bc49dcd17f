"""One crafted event must never stop paging (issue 11): a real ``opsbook serve`` takes a poisoned
event on each ingest route (lone surrogates, NULs, NaN, deep nesting, a huge number), and then a
genuine outage still pages at once, on SQLite and PostgreSQL.

``evaluate_every: 1h`` means only the wake of a firing paging alert can deliver the page in the
minute a stage waits: a pass that failed on the poison (and backed off) would never deliver it.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paging_servers import Pager, Target, serve_with_pager, wait_for
from serving import Server

AM_TOKEN = "am-token-poisoned-events-0123456789"
HOOK_TOKEN = "hook-token-poisoned-events-0123456789"
PD_KEY = "fedcba9876543210fedcba9876543210"
SURROGATE = "x\ud800"  # json.dumps writes it as the escape "\\ud800": valid JSON, invalid text
NUL = "a\u0000b"


def _config(target: str, pager: str) -> str:
    return f"""\
service: shop
severities:
  SEV1: {{respond_within: 15m, page: true, escalation: default}}
  SEV3: {{respond_within: 4h}}
checks:
  web: {{http: {{url: "{target}"}}, every: 1s, timeout: 500ms}}
alerts:
  web-down: {{when: web down, for: 2 failures, retry_every: 500ms, severity: SEV1}}
alerting:
  evaluate_every: 1h
integrations:
  prometheus: {{alertmanager: {{token: "{AM_TOKEN}"}}}}
  monitoring: {{pagerduty: {{routing_key: "{PD_KEY}"}}}}
  hooks: {{webhook: {{token: "{HOOK_TOKEN}"}}, severity: SEV1}}
oncall:
  people:
    ana: {{name: Ana, notify: [pager]}}
  schedules:
    primary: {{rotation: weekly, people: [ana]}}
  escalation:
    default:
      - {{notify: [schedule:primary], wait: 1h}}
channels:
  pager:
    webhook: {{url: "{pager}"}}
"""


@pytest.fixture
def served(tmp_path: Path, store_url: str) -> Iterator[tuple[Server, Target, Pager]]:
    with serve_with_pager(tmp_path, store_url, _config) as served:
        yield served


def _raw(server: Server, path: str, body: bytes, token: str | None = None) -> int:
    """POST bytes as they are (deep nesting, huge numbers: what json.dumps would not write)."""
    request = urllib.request.Request(server.url + path, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _poison(server: Server) -> list[tuple[str, int]]:
    """One crafted event per route and kind; returns (what, status) for each."""
    am_alert: dict[str, Any] = {
        "labels": {"alertname": "PoisonedSummary", "severity": "SEV1", "component": "queue"},
        "annotations": {"summary": SURROGATE},
    }
    am_nul = {"labels": {"alertname": "PoisonedLabel", "severity": "SEV1", "bad": NUL}}
    webhook_v4 = {
        "version": "4",
        "groupKey": '{}:{alertname="Poisoned"}',
        "status": "firing",
        "receiver": SURROGATE,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "PoisonedWebhook", "severity": "SEV1", "x": NUL},
                "annotations": {"summary": SURROGATE},
            }
        ],
    }
    pd_event = {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "dedup_key": "poisoned",
        "payload": {
            "summary": SURROGATE,
            "source": "db1",
            "severity": "critical",
            "component": "database",
            "custom_details": {"nan": float("nan"), "nul": NUL, "bad": SURROGATE},
        },
    }
    hook = {"summary": SURROGATE, "labels": {"job": NUL}}
    deep = b"[" * 100_000 + b"]" * 100_000
    huge = b'{"summary": ' + b"9" * 5000 + b"}"
    sent = [
        ("am surrogate", server.request_json("POST", "/api/v2/alerts", [am_alert], token=AM_TOKEN)),
        ("am NUL label", server.request_json("POST", "/api/v2/alerts", [am_nul], token=AM_TOKEN)),
        (
            "am webhook",
            server.request_json(
                "POST", "/api/v1/integrations/prometheus/alertmanager", webhook_v4, token=AM_TOKEN
            ),
        ),
        ("pagerduty", server.request_json("POST", "/v2/enqueue", pd_event)),
        (
            "webhook",
            server.request_json(
                "POST", "/api/v1/integrations/hooks/webhook", hook, token=HOOK_TOKEN
            ),
        ),
    ]
    statuses = [(what, status) for what, (status, _) in sent]
    for path, token in (
        ("/api/v2/alerts", AM_TOKEN),
        ("/api/v1/integrations/prometheus/alertmanager", AM_TOKEN),
        ("/v2/enqueue", None),
        ("/api/v1/integrations/hooks/webhook", HOOK_TOKEN),
    ):
        statuses.append((f"deep {path}", _raw(server, path, deep, token)))
        statuses.append((f"huge number {path}", _raw(server, path, huge, token)))
    return statuses


@pytest.mark.slow
def test_a_genuine_outage_pages_after_poisoned_events_on_every_route(
    served: tuple[Server, Target, Pager],
) -> None:
    server, target, pager = served

    def check_is_up() -> bool:
        status, body = server.request_json("GET", "/api/v1/checks/web")
        return status == 200 and body.get("state") == "up"

    wait_for(check_is_up, what="the check was not up", server=server)
    statuses = _poison(server)
    # Each is refused with a 4xx, or accepted with its text repaired: never a 5xx.
    assert [(what, s) for what, s in statuses if s >= 500] == []
    # What was accepted reads back: the lists that once answered 500 on a poisoned alert.
    # /api/v1 wants a role (the server's admin token); the Alertmanager API its integration token.
    for path, token in (
        ("/api/v1/alerts", None),
        ("/api/v2/alerts", AM_TOKEN),
        ("/api/v2/alerts/groups", AM_TOKEN),
    ):
        status, _ = server.request_json("GET", path, token=token)
        assert status == 200, path

    target.failing = True

    def web_down_paged() -> bool:
        return any(
            "web-down" in [a["name"] for a in page.get("alerts", [])] for page in pager.pages()
        )

    wait_for(web_down_paged, what="no page for the genuine outage (web-down)", server=server)
    status, ready = server.request_json("GET", "/ready")
    assert status == 200, json.dumps(ready)
