"""An ingested alert answered 2xx is on disk: kill -9 right after the answer, restart, and every
alert is there (a real ``opsbook serve`` on SQLite, as in test_ping_durability.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 30.0
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


class Server:
    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "opsbook", "serve", "--config", str(config), "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.url = ""
        self.lines: list[str] = []
        self._listening = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._listening.wait(START_TIMEOUT_S), "\n".join(self.lines)
        assert self.url, "server exited before listening:\n" + "\n".join(self.lines)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            if '"listening"' in line:
                self.url = json.loads(line)["url"]
                self._listening.set()
        self._listening.set()

    def request(
        self, method: str, path: str, body: object = None, *, token: str | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None

    def kill_9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_ingested_alerts_answered_2xx_survive_a_kill_9(
    tmp_path: Path, servers: list[Server]
) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("OPSBOOK_")}
    env = {**base, "OPSBOOK_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}

    first = Server(config, env)
    servers.append(first)
    assert first.request("POST", "/api/v2/alerts", BATCH, token=TOKEN) == (200, None)
    first.kill_9()

    second = Server(config, env)
    servers.append(second)
    status, answer = second.request("POST", "/v2/enqueue", PD_TRIGGER)
    assert (status, answer["dedup_key"]) == (202, "srv01/HTTP")
    second.kill_9()

    third = Server(config, env)
    servers.append(third)
    status, body = third.request("GET", "/api/v1/alerts?limit=1000")
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
    assert third.request("POST", "/api/v2/alerts", BATCH, token=TOKEN) == (200, None)
    _, shown = third.request("GET", "/api/v2/alerts", token=TOKEN)
    assert len(shown) == 101
