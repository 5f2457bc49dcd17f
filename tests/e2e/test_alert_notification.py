"""The whole alerting path with real processes: the demo service goes down, ``opsbook serve``
probes it, the rule fires after its two failures, and the firing and then the resolved
notification reach a webhook receiver with the exact Alertmanager v4 body, signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from peers import free_port, opsbook_serve, wait_until

pytestmark = pytest.mark.slow

SECRET = "whsec-e2e-0123456789abcdef"


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver in a thread: records each POST and answers 200."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                outer.deliveries.append(Delivery(dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def demo_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "opsbook", "demo-service", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url + "/healthz"), timeout_s=20, what="the demo service")
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _stage(demo_url: str, faults: dict[str, object]) -> None:
    request = urllib.request.Request(
        demo_url + "/_faults", data=json.dumps(faults).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _config(demo_url: str, hook_url: str) -> str:
    return f"""\
service: shop
checks:
  healthz:
    http: {{url: "{demo_url}/healthz"}}
    every: 1s
    timeout: 500ms
    labels: {{component: web}}
alerts:
  site-down:
    when: healthz down
    for: 2 failures
    retry_every: 300ms
    severity: SEV1
    runbook: site-down
    annotations:
      summary: "healthz is down: {{{{ value }}}}"
alerting:
  notify: [oncall]
  group_interval: 1s
channels:
  oncall:
    webhook: {{url: "{hook_url}", secret: "{SECRET}"}}
"""


def test_an_outage_pages_once_and_its_end_is_announced(
    tmp_path: Path, receiver: Receiver, demo_url: str
) -> None:
    database_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    with opsbook_serve(
        tmp_path, config=_config(demo_url, receiver.url), database_url=database_url
    ) as opsbook:
        time.sleep(2.5)  # a few healthy probes first: nothing may be sent for them
        assert receiver.deliveries == []

        _stage(demo_url, {"down": True})
        wait_until(lambda: len(receiver.deliveries) >= 1, timeout_s=20, what="the page")
        firing = receiver.deliveries[0]

        _stage(demo_url, {})
        wait_until(lambda: len(receiver.deliveries) >= 2, timeout_s=20, what="the resolve")
        resolved = receiver.deliveries[1]
        time.sleep(1.5)  # anything else would be a duplicate
        assert len(receiver.deliveries) == 2, opsbook.log_tail()

    # Signed with the channel's secret, over the exact body.
    for delivery in (firing, resolved):
        expected = hmac.new(SECRET.encode(), delivery.body, hashlib.sha256).hexdigest()
        assert delivery.headers["X-Opsbook-Signature"] == f"sha256={expected}"
        assert delivery.headers["Content-Type"] == "application/json"
        assert delivery.headers["Idempotency-Key"].startswith("oncall:")
    assert firing.headers["Idempotency-Key"] != resolved.headers["Idempotency-Key"]

    page = firing.json()
    assert page["version"] == "4"
    assert page["status"] == "firing"
    assert page["receiver"] == "oncall"
    assert page["groupKey"] == 'oncall:{alertname="site-down"}'
    assert page["groupLabels"] == {"alertname": "site-down"}
    assert page["notification_reason"] == "first notification"
    assert page["truncatedAlerts"] == 0
    [alert] = page["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"] == {
        "alertname": "site-down",
        "severity": "SEV1",
        "check": "healthz",
        "component": "web",
    }
    assert alert["annotations"]["runbook"] == "site-down"
    assert alert["annotations"]["summary"].startswith("healthz is down: ")
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert len(alert["fingerprint"]) == 16

    end = resolved.json()
    assert end["status"] == "resolved"
    assert end["notification_reason"] == "all alerts resolved"
    [closed] = end["alerts"]
    assert closed["fingerprint"] == alert["fingerprint"]
    assert closed["status"] == "resolved"
    assert closed["endsAt"] != "0001-01-01T00:00:00Z"
