"""A real Alertmanager forwards to ``opsbook serve`` through its webhook receiver (payload v4).

Alertmanager (Debian's ``prometheus-alertmanager``) routes everything to one webhook pointing at
``/api/v1/integrations/am/alertmanager`` with the integration's token as a Bearer credential; an
alert posted to Alertmanager's ``/api/v2/alerts`` must show up in opsbook's store under
Alertmanager's own fingerprint, and resolve when Alertmanager sends it resolved.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from peers import (
    ALERTMANAGER,
    Peer,
    alertmanager,
    http_json,
    missing,
    opsbook_serve,
    stored_alerts,
    wait_until,
)

from opsbook.alerts.models import Alert, AlertSource, AlertStatus
from opsbook.alerts.records import fingerprint

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(missing(ALERTMANAGER)), reason="prometheus-alertmanager is not installed (make system)"
    ),
]

TOKEN = "am-ingest-token-4f9c2d7e1b"
WAIT_S = 30.0
OPSBOOK_CONFIG = f"""\
service: e2e
integrations:
  am:
    alertmanager: {{token: {TOKEN}}}
"""
LABELS = {
    "alertname": "HealthCheckFailed",
    "instance": "https://api.example.com/healthz",
    "service": "api",
    "severity": "SEV1",
}
ANNOTATIONS = {"runbook_url": "https://runbooks.example.com/api", "summary": "api /healthz failing"}


def am_config(opsbook_url: str, *, token: str) -> str:
    # group_wait/group_interval 1s: Alertmanager sends within a second or two, not 30s/5m.
    return f"""\
route:
  receiver: opsbook
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: opsbook
    webhook_configs:
      - url: {opsbook_url}/api/v1/integrations/am/alertmanager
        send_resolved: true
        http_config:
          authorization: {{credentials: {token}}}
"""


class Stack:
    def __init__(self, opsbook: Peer, am: Peer, database_url: str) -> None:
        self.opsbook = opsbook
        self.am = am
        self.database_url = database_url

    def alerts(self) -> list[Alert]:
        return stored_alerts(self.database_url)

    def post_to_alertmanager(self, alerts: list[dict[str, Any]]) -> None:
        status, body = http_json("POST", f"{self.am.url}/api/v2/alerts", alerts)
        assert status == 200, body

    def alertmanager_fingerprint(self) -> str:
        status, body = http_json("GET", f"{self.am.url}/api/v2/alerts")
        assert status == 200, body
        [only] = body
        fp: str = only["fingerprint"]
        return fp

    def webhook_sends(self, result: str) -> float:
        """Alertmanager's own count of webhook notifications (``result``: total or failed)."""
        with_prefix = f'alertmanager_notifications_{result}_total{{integration="webhook"}} '
        with urllib.request.urlopen(f"{self.am.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        for line in text.splitlines():
            if line.startswith(with_prefix):
                return float(line.split()[-1])
        return 0.0


def _stack(tmp_path: Path, *, am_token: str) -> Iterator[Stack]:
    database_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    with (
        opsbook_serve(tmp_path, config=OPSBOOK_CONFIG, database_url=database_url) as ops,
        alertmanager(tmp_path, config=am_config(ops.url, token=am_token)) as am,
    ):
        yield Stack(ops, am, database_url)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(tmp_path, am_token=TOKEN)


@pytest.fixture
def stack_with_a_wrong_token(tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(tmp_path, am_token="not-the-token-at-all-0000")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def test_an_alert_forwarded_by_alertmanager_is_stored_under_its_fingerprint_and_resolves(
    stack: Stack,
) -> None:
    stack.post_to_alertmanager([{"labels": LABELS, "annotations": ANNOTATIONS}])
    am_fingerprint = stack.alertmanager_fingerprint()

    [firing] = wait_until(
        lambda: stack.alerts() or None,
        what="opsbook stored the alert Alertmanager forwarded",
        timeout_s=WAIT_S,
        detail=stack.opsbook.log_tail,
    )

    # opsbook hashes a label set exactly as Alertmanager does; it stores the alert with its
    # integration as one more label (two integrations never share an alert), hashed the same way.
    assert fingerprint(LABELS) == am_fingerprint
    assert dict(firing.labels) == {**LABELS, "integration": "am"}
    assert firing.fingerprint == fingerprint(firing.labels)
    assert (firing.source, firing.integration, firing.status) == (
        AlertSource.ALERTMANAGER,
        "am",
        AlertStatus.FIRING,
    )
    assert dict(firing.annotations) == ANNOTATIONS
    assert firing.severity == "SEV1"

    stack.post_to_alertmanager([{"labels": LABELS, "annotations": ANNOTATIONS, "endsAt": _now()}])

    [resolved] = wait_until(
        lambda: [a for a in stack.alerts() if a.status is AlertStatus.RESOLVED] or None,
        what="opsbook resolved the alert when Alertmanager sent it resolved",
        timeout_s=WAIT_S,
        detail=stack.opsbook.log_tail,
    )
    assert (resolved.id, resolved.fingerprint) == (firing.id, firing.fingerprint)
    assert resolved.resolved_at is not None
    assert len(stack.alerts()) == 1


def test_a_webhook_with_the_wrong_token_is_refused_and_stores_nothing(
    stack_with_a_wrong_token: Stack,
) -> None:
    stack = stack_with_a_wrong_token
    stack.post_to_alertmanager([{"labels": LABELS, "annotations": ANNOTATIONS}])

    # Alertmanager treats a 4xx as permanent: it counts one failed notification and stops.
    wait_until(
        lambda: stack.webhook_sends("failed") >= 1,
        what="Alertmanager counted a failed webhook notification",
        timeout_s=WAIT_S,
        detail=stack.am.log_tail,
    )

    assert stack.alerts() == []
    assert "unexpected status code 401" in stack.am.log_tail(200)
