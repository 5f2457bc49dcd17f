"""A real Prometheus (Debian's ``prometheus``) scraping the demo service, both ways round:

(a) Prometheus evaluates a real alerting rule (checked by ``promtool check rules``) and sends to a
    real ``opsbook serve`` listed under ``alerting.alertmanagers`` (API v2, Bearer token);
(b) opsbook's own engine evaluates a ``prometheus: {url, expr}`` rule through Prometheus' HTTP API.

In both, the fault is staged on the demo service (``POST /_faults``) and the alert must fire, then
resolve once the fault is cleared. Every wait polls with a deadline; nothing sleeps to assert.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from peers import (
    PROMETHEUS,
    PROMTOOL,
    AlertmanagerTarget,
    Peer,
    http_json,
    missing,
    opsbook_serve,
    prometheus,
    stored_alerts,
    wait_targets_up,
    wait_until,
)

from opsbook.alerts.engine import AlertEngine
from opsbook.alerts.models import Alert, AlertSource, AlertStatus
from opsbook.alerts.records import fingerprint
from opsbook.config import loads
from opsbook.demo import DemoServer, DemoState, create_demo_app
from opsbook.store import create_engine, upgrade

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(missing(PROMETHEUS, PROMTOOL)), reason="prometheus is not installed (make system)"
    ),
]

T = TypeVar("T")
TOKEN = "prom-to-opsbook-token-8d2f61"
WAIT_S = 40.0

# Error ratio over the last 5 s (five scrapes at 1 s) above 5 %, held for 2 s.
RULES = """\
groups:
  - name: demo
    rules:
      - alert: HighErrorRatio
        expr: |
          sum(rate(http_requests_total{job="demo", code=~"5.."}[5s]))
            / sum(rate(http_requests_total{job="demo"}[5s])) > 0.05
        for: 2s
        labels:
          severity: SEV2
          team: api
        annotations:
          summary: "error ratio {{ $value | humanizePercentage }} on the demo service"
          runbook_url: https://runbooks.example.com/errors
"""
PROMETHEUS_LABELS = {"alertname": "HighErrorRatio", "severity": "SEV2", "team": "api"}
OPSBOOK_INGEST_CONFIG = f"""\
service: e2e
integrations:
  prometheus:
    alertmanager: {{token: {TOKEN}}}
"""


class Demo:
    """The demo service on a free port, and a thread sending it steady traffic so counters move."""

    def __init__(self) -> None:
        self.state = DemoState()
        self.server = DemoServer(create_demo_app(self.state), port=0)
        self._stop = threading.Event()
        self._traffic = threading.Thread(target=self._drive, name="demo-traffic", daemon=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def stage(self, faults: dict[str, object]) -> None:
        status, body = http_json("POST", f"{self.server.url}/_faults", faults)
        assert status == 200, body

    def _drive(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(f"{self.server.url}/healthz", timeout=2) as response:
                    response.read()
            except OSError:
                pass  # a staged 500 is the point; keep driving
            time.sleep(0.01)

    def __enter__(self) -> Demo:
        self.server.start()
        self._traffic.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._traffic.join(timeout=5)
        self.server.stop()


@pytest.fixture
def demo() -> Iterator[Demo]:
    with Demo() as running:
        yield running


def test_prometheus_sends_its_alert_to_opsbook_and_the_resolution_after_it(
    tmp_path: Path, demo: Demo
) -> None:
    database_url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    with opsbook_serve(tmp_path, config=OPSBOOK_INGEST_CONFIG, database_url=database_url) as ops:
        target = AlertmanagerTarget(host_port=ops.url.removeprefix("http://"), token=TOKEN)
        with prometheus(
            tmp_path, scrape={"demo": demo.target}, rules=RULES, alertmanager=target
        ) as prom:
            wait_targets_up(prom, job="demo")
            assert stored_alerts(database_url) == []

            demo.stage({"error_rate": 0.5})
            [firing] = wait_until(
                lambda: stored_alerts(database_url) or None,
                what="opsbook stored the alert Prometheus sent",
                timeout_s=WAIT_S,
                detail=lambda: _logs(ops, prom),
            )

            assert (firing.source, firing.integration, firing.status) == (
                AlertSource.ALERTMANAGER,
                "prometheus",
                AlertStatus.FIRING,
            )
            # Prometheus' labels, plus the integration it came through (part of the identity).
            assert dict(firing.labels) == {**PROMETHEUS_LABELS, "integration": "prometheus"}
            assert firing.fingerprint == fingerprint(firing.labels)
            assert firing.severity == "SEV2"
            assert set(firing.annotations) == {"summary", "runbook_url"}
            assert re.fullmatch(
                r"error ratio \d+(\.\d+)?% on the demo service", firing.annotations["summary"]
            ), firing.annotations
            assert firing.annotations["runbook_url"] == "https://runbooks.example.com/errors"

            demo.stage({"error_rate": 0})
            [resolved] = wait_until(
                lambda: _resolved(stored_alerts(database_url)),
                what="opsbook resolved the alert after Prometheus sent its endsAt",
                timeout_s=WAIT_S,
                detail=lambda: _logs(ops, prom),
            )

    assert resolved.id == firing.id
    assert resolved.resolved_at is not None and resolved.resolved_at >= firing.started_at


def _resolved(alerts: list[Alert]) -> list[Alert] | None:
    if alerts and all(a.status is AlertStatus.RESOLVED for a in alerts):
        return alerts
    return None


def _logs(*peers: Peer) -> str:
    return "\n".join(p.log_tail(30) for p in peers)


# --- (b) opsbook's engine asks Prometheus -------------------------------------------------------


async def eventually(probe: Callable[[], T | None], *, what: str, timeout_s: float = WAIT_S) -> T:
    """``wait_until`` for a test whose event loop must keep running (the engine is on it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = await asyncio.to_thread(probe)
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:g}s")
        await asyncio.sleep(0.2)


async def _stop(task: Awaitable[None]) -> None:
    assert isinstance(task, asyncio.Task)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_opsbook_prometheus_rule_fires_and_resolves_through_a_real_prometheus(
    tmp_path: Path, demo: Demo, sqlite_url: str
) -> None:
    with prometheus(tmp_path, scrape={"demo": demo.target}) as prom:
        wait_targets_up(prom, job="demo")
        config = loads(
            f"""\
service: e2e
alerting:
  evaluate_every: 1s
alerts:
  deep-queue:
    prometheus:
      url: {prom.url}
      expr: 'queue_depth{{job="demo"}} > 1000'
      every: 1s
    for: 2s
    severity: SEV3
    labels: {{team: jobs}}
"""
        )
        store = create_engine(sqlite_url)
        upgrade(store)
        engine = AlertEngine(config, store)
        task = asyncio.create_task(engine.run())
        try:
            demo.stage({"queue_depth": 5000})
            firing = await eventually(
                lambda: _only(stored_alerts(sqlite_url), AlertStatus.FIRING),
                what="the deep-queue rule fired",
            )
            expected = {
                "alertname": "deep-queue",
                "severity": "SEV3",
                "team": "jobs",
                "instance": demo.target,
                "job": "demo",
            }
            assert (firing.source, firing.rule, dict(firing.labels)) == (
                AlertSource.PROMETHEUS,
                "deep-queue",
                expected,
            )
            assert firing.fired_at is not None and firing.fired_at > firing.started_at

            demo.stage({"queue_depth": 0})
            resolved = await eventually(
                lambda: _only(stored_alerts(sqlite_url), AlertStatus.RESOLVED),
                what="the deep-queue rule resolved",
            )
            assert resolved.id == firing.id
        finally:
            await _stop(task)
            store.dispose()


def _only(alerts: list[Alert], status: AlertStatus) -> Alert | None:
    if len(alerts) == 1 and alerts[0].status is status:
        return alerts[0]
    assert len(alerts) <= 1, alerts
    return None
