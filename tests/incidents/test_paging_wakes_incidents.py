"""A paging alert that starts firing wakes the incidents task: the incident and its first page
do not wait for the task's next ``alerting.evaluate_every``.

The alert engine says so through ``on_page`` (rules), ingest through ``IngestReport.fired``
(Alertmanager, PagerDuty, webhooks); ``create_app`` wires both to ``IncidentsTask.wake``, and
the real server shows the whole path: with ``evaluate_every: 1h``, pages still arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy.engine import Connection, Engine

from opsbook.alerts.engine import AlertEngine, paging_severities
from opsbook.alerts.ingest import ingest_pagerduty
from opsbook.alerts.ingest_models import parse_pagerduty_event
from opsbook.alerts.ingest_writes import IngestReport
from opsbook.alerts.models import AlertNotice
from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State
from opsbook.clock import FrozenClock
from opsbook.config import loads
from opsbook.incidents import IncidentsTask
from opsbook.incidents.loop import PassReport
from opsbook.notify import Deliverer, IncidentEmitter
from paging_servers import Pager, Target, serve_with_pager, wait_for
from serving import Server

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PD_KEY = "0123456789abcdef0123456789abcdef"

ENGINE_CONFIG = f"""
service: shop
severities:
  SEV1: {{respond_within: 15m, page: true}}
  SEV3: {{respond_within: 4h}}
checks:
  api: {{http: {{url: "http://127.0.0.1:1/health"}}}}
  docs: {{http: {{url: "http://127.0.0.1:1/docs"}}}}
integrations:
  monitoring: {{pagerduty: {{routing_key: "{PD_KEY}"}}}}
alerts:
  api-down: {{when: api down, for: 2 failures, severity: SEV1}}
  docs-down: {{when: docs down, severity: SEV3}}
"""


class Bench:
    """The alert engine over a FrozenClock, recording each ``on_page`` call."""

    def __init__(self, store: Engine) -> None:
        self.store = store
        self.clock = FrozenClock(T0)
        self.config = loads(ENGINE_CONFIG)
        self.pages = 0
        self.engine = AlertEngine(
            self.config, store, clock=self.clock, emit=self._emit, on_page=self._on_page
        )

    def _emit(self, conn: Connection, notices: Sequence[AlertNotice]) -> None:
        pass

    def _on_page(self) -> None:
        self.pages += 1

    def probe(self, check_id: str, state: State) -> None:
        self.clock.advance(timedelta(seconds=1))
        results = [
            ProbeResult(check_id=check_id, started_at=self.clock.now(), state=state, latency_ms=2)
        ]
        with self.store.begin() as conn:
            service.record_results(conn, results=results, intervals={})
        self.engine.evaluate(self.clock.now(), results=results)


def test_on_page_is_called_once_the_paging_alert_fires_not_while_it_is_pending(
    engine: Engine,
) -> None:
    bench = Bench(engine)
    bench.probe("api", State.DOWN)  # pending: 1 of 2 failures
    assert bench.pages == 0
    bench.probe("api", State.DOWN)  # firing
    assert bench.pages == 1
    bench.probe("api", State.DOWN)  # still firing: nothing new to declare
    assert bench.pages == 1


def test_an_alert_that_does_not_page_does_not_call_on_page(engine: Engine) -> None:
    bench = Bench(engine)
    bench.probe("docs", State.DOWN)  # SEV3 fires at once, and SEV3 does not page
    assert bench.pages == 0


def test_a_timed_evaluation_that_fires_a_paging_alert_calls_on_page(engine: Engine) -> None:
    config = loads(ENGINE_CONFIG.replace("for: 2 failures", "for: 30s"))
    calls: list[str] = []
    clock = FrozenClock(T0)
    alerts = AlertEngine(config, engine, clock=clock, on_page=lambda: calls.append("page"))
    result = ProbeResult(check_id="api", started_at=T0, state=State.DOWN, latency_ms=2)
    with engine.begin() as conn:
        service.record_results(conn, results=[result], intervals={})
    alerts.evaluate(T0, results=[result])
    assert calls == []
    alerts.evaluate(T0 + timedelta(seconds=31))  # the `for` ran out: no new result needed
    assert calls == ["page"]


def _trigger(severity: str, dedup_key: str) -> Any:
    return parse_pagerduty_event(
        {
            "routing_key": PD_KEY,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": "disk full", "source": "db1", "severity": severity},
        }
    )


def test_an_ingest_report_names_the_severities_it_fired(engine: Engine) -> None:
    config = loads(ENGINE_CONFIG)
    paging = paging_severities(config)
    assert paging == {"SEV1"}
    opened, again, other = IngestReport(), IngestReport(), IngestReport()
    with engine.begin() as conn:
        for report, severity, key in (
            (opened, "critical", "disk"),  # critical: the first configured severity, SEV1
            (again, "critical", "disk"),  # a re-send fires nothing new
            (other, "error", "cpu"),  # error: the second, SEV3
        ):
            ingest_pagerduty(
                conn,
                config=config,
                integration="monitoring",
                event=_trigger(severity, key),
                now=T0,
                report=report,
            )
    assert opened.fired == {"SEV1"} and not opened.fired.isdisjoint(paging)
    assert again.fired == set()
    assert other.fired == {"SEV3"} and other.fired.isdisjoint(paging)
    total = IngestReport()
    total.add(opened)
    total.add(other)
    assert total.fired == {"SEV1", "SEV3"}


# -- the chain, in process: no interval and no poll can carry the page -------------------------


async def test_the_page_goes_out_through_wakes_alone(engine: Engine) -> None:
    """Alert engine -> ``on_page`` -> incidents pass -> ``after_commit`` -> deliverer -> webhook,
    wired as ``create_app`` wires them, with ``evaluate_every`` and the deliverer's poll at an
    hour and a FrozenClock: only the wakes can get the page to the sink."""
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/pager", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    config = loads(
        ENGINE_CONFIG.replace("page: true}", "page: true, escalation: default}")
        + f"""
alerting: {{evaluate_every: 1h}}
oncall:
  people: {{ana: {{name: Ana, notify: [pager]}}}}
  schedules: {{primary: {{rotation: weekly, people: [ana]}}}}
  escalation: {{default: [{{notify: ["schedule:primary"]}}]}}
channels:
  pager: {{webhook: {{url: "http://127.0.0.1:{port}/pager"}}}}
"""
    )
    clock = FrozenClock(T0)
    deliverer = Deliverer(config, engine, clock=clock, poll_every=timedelta(hours=1))
    incidents = IncidentsTask(
        engine,
        config=config,
        emit=IncidentEmitter(config, clock=clock),
        after_commit=deliverer.wake,
        clock=clock,
    )
    passes: list[int] = []
    run_once = incidents.run_once

    def counted(now: datetime) -> PassReport:
        report = run_once(now)
        passes.append(report.notices)
        return report

    incidents.run_once = counted  # type: ignore[method-assign]
    alerts = AlertEngine(config, engine, clock=clock, on_page=incidents.wake)
    tasks = [asyncio.create_task(incidents.run()), asyncio.create_task(deliverer.run())]
    try:
        # Both loops idle: the start-up pass found nothing, the deliverer waits for an hour.
        await _eventually(lambda: passes == [0] and deliverer.waits >= 1)
        for _ in range(2):  # api-down fires on the second failure
            clock.advance(timedelta(seconds=1))
            result = ProbeResult(
                check_id="api", started_at=clock.now(), state=State.DOWN, latency_ms=2
            )
            await asyncio.to_thread(_store_and_evaluate, engine, alerts, result)
        await _eventually(lambda: bool(received))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()
    assert passes[:2] == [0, 1]  # the woken pass declared the incident and queued Ana's page
    [page] = received
    assert page["type"] == "page" and page["person"]["id"] == "ana"
    assert [a["name"] for a in page["alerts"]] == ["api-down"]


def _store_and_evaluate(store: Engine, alerts: AlertEngine, result: ProbeResult) -> None:
    with store.begin() as conn:
        service.record_results(conn, results=[result], intervals={})
    alerts.evaluate(result.started_at, results=[result])


async def _eventually(condition: Callable[[], bool]) -> None:
    """Poll every 10 ms; fail (not hang) after 30 s, against the hour the intervals are set to."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the condition did not hold within 30 s")


# -- the real server ---------------------------------------------------------------------------

TOKEN = "am-token-paging-wake-0123456789"


def server_config(target: str, pager: str) -> str:
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
  prometheus: {{alertmanager: {{token: "{TOKEN}"}}}}
  monitoring: {{pagerduty: {{routing_key: "{PD_KEY}"}}}}
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
def paging_server(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Server, Target, Pager]]:
    with serve_with_pager(tmp_path, sqlite_url, server_config) as served:
        yield served


def _paged(pager: Pager, count: int) -> Callable[[], bool]:
    return lambda: len(pager.pages()) >= count


@pytest.mark.slow
def test_paging_alerts_page_at_once_from_a_rule_and_from_ingest(
    paging_server: tuple[Server, Target, Pager],
) -> None:
    server, target, pager = paging_server

    # 1. A rule: the check answers 500; two failures fire web-down (SEV1), which pages Ana. The
    # incidents task ran its start-up pass long before, and would next run in an hour.
    def check_is_up() -> bool:
        status, body = server.request_json("GET", "/api/v1/checks/web")
        return status == 200 and body.get("state") == "up"

    wait_for(check_is_up, what="the check was not up", server=server)
    target.failing = True
    wait_for(_paged(pager, 1), what="no page for web-down", server=server)
    [page] = pager.pages()
    assert page["person"]["id"] == "ana"
    assert [a["name"] for a in page["alerts"]] == ["web-down"]

    # 2. The Alertmanager API: a SEV1 alert, a new incident (another component), a page now.
    alert = {
        "labels": {"alertname": "QueueStuck", "severity": "SEV1", "component": "queue"},
        "annotations": {"summary": "The queue is stuck"},
    }
    status, body = server.request_json("POST", "/api/v2/alerts", [alert], token=TOKEN)
    assert status == 200, body
    wait_for(_paged(pager, 2), what="no page for QueueStuck", server=server)
    assert pager.pages()[1]["incident"]["title"] == "The queue is stuck"

    # 3. PagerDuty Events v2: critical is the first severity, SEV1.
    event = {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "dedup_key": "disk-full",
        "payload": {
            "summary": "The disk is full",
            "source": "db1",
            "severity": "critical",
            "component": "database",
        },
    }
    status, body = server.request_json("POST", "/v2/enqueue", event)
    assert status == 202, body
    wait_for(_paged(pager, 3), what="no page for the full disk", server=server)
    assert pager.pages()[2]["incident"]["title"] == "The disk is full"
    assert len(pager.pages()) == 3
