"""The engine's loop: evaluation after the scheduler stores results, on a wake from any thread,
and Prometheus rules queried over HTTP before each evaluation (a local server plays Prometheus).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import structlog
from aiohttp import web
from sqlalchemy.engine import Connection, Engine

from alert_helpers import stored_alerts
from opsbook.alerts import records
from opsbook.alerts.engine import AlertEngine
from opsbook.alerts.models import AlertNotice, AlertSource, AlertStatus
from opsbook.checks import service
from opsbook.checks.models import Check, ProbeResult, State
from opsbook.checks.tables import check_result
from opsbook.clock import FrozenClock
from opsbook.config import Config, loads
from opsbook.store import create_engine, upgrade
from opsbook.tasks import TaskFailures

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

CONFIG = """
service: shop
checks:
  api: {http: {url: "http://127.0.0.1:1/health"}}
channels:
  ops: {webhook: {url: "http://127.0.0.1:1/hook"}}
alerting: {notify: [ops], evaluate_every: 1h}
alerts:
  api-down: {when: api down, severity: SEV1}
"""


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Engine]:
    engine = create_engine(sqlite_url)
    upgrade(engine)
    yield engine
    engine.dispose()


async def eventually(condition: Callable[[], bool], *, polls: int = 1000) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail (not hang) after ``polls`` tries."""
    for _ in range(polls):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the condition did not hold in time")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def down(at: datetime) -> ProbeResult:
    return ProbeResult(check_id="api", started_at=at, state=State.DOWN, latency_ms=3.0)


async def test_results_written_by_the_sink_are_evaluated_after_the_commit(store: Engine) -> None:
    config = loads(CONFIG)
    clock = FrozenClock(T0)
    committed: list[int] = []
    engine = AlertEngine(config, store, clock=clock, after_commit=committed.append)
    checks = [Check(id=i, spec=spec) for i, spec in config.checks.items()]
    sink = service.StoreSink(store, checks=checks, clock=clock, after_write=engine.on_results)
    await sink.write([down(T0)])
    (fired,) = stored_alerts(store)
    assert fired.status is AlertStatus.FIRING
    assert committed == [1]


async def test_a_failed_evaluation_is_logged_and_the_results_are_not_written_again(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_dispatch(conn: Connection, **kwargs: object) -> list[AlertNotice]:
        raise RuntimeError("dispatch is broken")

    monkeypatch.setattr("opsbook.alerts.engine.dispatch", broken_dispatch)
    config = loads(CONFIG)
    engine = AlertEngine(config, store, clock=FrozenClock(T0))
    checks = [Check(id=i, spec=spec) for i, spec in config.checks.items()]
    sink = service.StoreSink(store, checks=checks, after_write=engine.on_results)
    with structlog.testing.capture_logs() as logs:
        await sink.write([down(T0)])
    # The evaluation's transaction rolled back as a whole; the results stayed, once.
    assert stored_alerts(store) == []
    with store.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(check_result)) == 1
    (failure,) = [e for e in logs if e["event"] == "alert_evaluation_failed"]
    assert failure["error_type"] == "RuntimeError"


async def test_a_notice_that_cannot_be_stored_fails_alone_and_the_alert_still_fires(
    store: Engine,
) -> None:
    def broken_emit(conn: Connection, notices: Sequence[AlertNotice]) -> None:
        raise RuntimeError("outbox is broken")

    config = loads(CONFIG)
    failures = TaskFailures()
    engine = AlertEngine(config, store, clock=FrozenClock(T0), emit=broken_emit, failures=failures)
    checks = [Check(id=i, spec=spec) for i, spec in config.checks.items()]
    sink = service.StoreSink(store, checks=checks, after_write=engine.on_results)
    await sink.write([down(T0)])
    (fired,) = stored_alerts(store)
    assert fired.status is AlertStatus.FIRING
    with store.connect() as conn:
        failed = [e.message for e in records.alert_events(conn, fired.id) if e.kind == "failed"]
    assert failed == ["alerts: RuntimeError: outbox is broken"]
    assert failures.items == {"alerts": 1}


async def test_the_loop_reports_each_pass_to_the_server(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = loads(CONFIG)
    reports: list[Exception | None] = []
    engine = AlertEngine(config, store, clock=FrozenClock(T0), on_pass=reports.append)
    broken = True
    real = engine.evaluate

    def evaluate(now: datetime, **kwargs: object) -> object:
        if broken:
            raise RuntimeError("store is gone")
        return real(now)

    monkeypatch.setattr(engine, "evaluate", evaluate)
    task = asyncio.create_task(engine.run())
    async with asyncio.timeout(10):
        while not reports:  # noqa: ASYNC110 - state the loop owns
            await asyncio.sleep(0.01)
        broken = False
        engine.wake()
        while reports[-1] is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert isinstance(reports[0], RuntimeError) and str(reports[0]) == "store is gone"


def ingest_expired(store: Engine) -> int:
    labels = {"alertname": "DiskFull", "severity": "SEV3"}
    with store.begin() as conn:
        return records.open_alert(
            conn,
            fingerprint=records.fingerprint(labels),
            source=AlertSource.ALERTMANAGER,
            labels=labels,
            severity="SEV3",
            status=AlertStatus.FIRING,
            now=T0,
            ends_at=T0 + timedelta(minutes=1),
            message="received",
        )


def status_of(store: Engine, alert_id: int) -> AlertStatus:
    with store.connect() as conn:
        return records.get_alert(conn, alert_id).status


@pytest.mark.parametrize("from_thread", [False, True], ids=["loop", "thread"])
async def test_wake_runs_an_evaluation_now(store: Engine, from_thread: bool) -> None:
    clock = FrozenClock(T0)
    engine = AlertEngine(loads(CONFIG), store, clock=clock)
    task = asyncio.create_task(engine.run())
    try:
        # The first evaluation runs at start; then the loop waits an hour unless woken.
        await asyncio.sleep(0.2)
        alert_id = ingest_expired(store)
        clock.advance(timedelta(minutes=2))
        if from_thread:
            waker = threading.Thread(target=engine.wake)
            waker.start()
            waker.join()
        else:
            engine.wake()
        await eventually(lambda: status_of(store, alert_id) is AlertStatus.RESOLVED)
    finally:
        await stop(task)


async def test_the_first_evaluation_runs_at_start(store: Engine) -> None:
    alert_id = ingest_expired(store)
    clock = FrozenClock(T0 + timedelta(minutes=5))
    task = asyncio.create_task(AlertEngine(loads(CONFIG), store, clock=clock).run())
    try:
        await eventually(lambda: status_of(store, alert_id) is AlertStatus.RESOLVED)
    finally:
        await stop(task)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def fake_prometheus() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def serve(handler: Handler) -> str:
        app = web.Application()
        app.router.add_get("/api/v1/query", handler)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield serve
    for runner in runners:
        await runner.cleanup()


def prometheus_config(url: str) -> Config:
    return loads(
        f"""
service: shop
alerting: {{evaluate_every: 1h}}
alerts:
  instance-down:
    prometheus: {{url: "{url}", expr: "up == 0", every: 30s}}
    severity: SEV2
"""
    )


async def test_due_prometheus_rules_are_queried_before_the_evaluation(
    store: Engine, fake_prometheus: Callable[[Handler], Awaitable[str]]
) -> None:
    queries: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        queries.append(request.query["query"])
        series = {"__name__": "up", "instance": "db:9100", "job": "node"}
        return web.json_response(
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": series, "value": [0, "0"]}]},
            }
        )

    url = await fake_prometheus(answer)
    task = asyncio.create_task(
        AlertEngine(prometheus_config(url), store, clock=FrozenClock(T0)).run()
    )
    try:
        await eventually(lambda: len(stored_alerts(store)) == 1)
    finally:
        await stop(task)
    (fired,) = stored_alerts(store)
    assert fired.labels == {
        "alertname": "instance-down",
        "severity": "SEV2",
        "instance": "db:9100",
        "job": "node",
    }
    assert fired.status is AlertStatus.FIRING
    assert queries == ["up == 0"]


async def test_a_failing_prometheus_is_logged_as_no_data(
    store: Engine, fake_prometheus: Callable[[Handler], Awaitable[str]]
) -> None:
    async def fail(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "error", "errorType": "bad_data", "error": "parse error"}, status=400
        )

    url = await fake_prometheus(fail)
    engine = AlertEngine(prometheus_config(url), store, clock=FrozenClock(T0))
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(engine.run())
        try:
            await eventually(lambda: any(e["event"] == "prometheus_rule_no_data" for e in logs))
        finally:
            await stop(task)
    (warning,) = [e for e in logs if e["event"] == "prometheus_rule_no_data"]
    assert warning["rule"] == "instance-down"
    assert "HTTP 400 (bad_data): parse error" in warning["error"]
    assert stored_alerts(store) == []
