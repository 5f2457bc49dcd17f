"""``depends_on``: while a dependency is down, dependents' alerts are suppressed and linked to
the root cause's alert instead of paging separately (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from opsbook.alerts import records
from opsbook.alerts.engine import AlertEngine
from opsbook.alerts.models import Alert, AlertNotice, AlertStatus
from opsbook.alerts.tables import alert
from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State
from opsbook.clock import FrozenClock
from opsbook.config import loads

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=30)

CONFIG = """
service: shop
checks:
  db: {tcp: {host: 127.0.0.1, port: 5432}}
  api: {http: {url: "http://127.0.0.1:1/health"}, depends_on: [db]}
  web: {http: {url: "http://127.0.0.1:1/"}, depends_on: [api]}
channels:
  ops: {webhook: {url: "http://127.0.0.1:1/hook"}}
alerting: {notify: [ops], group_by: [alertname]}
alerts:
  db-down: {when: db down, for: DB_FOR, severity: SEV1}
  api-down: {when: api down, severity: SEV1}
  web-down: {when: web down, severity: SEV2}
"""


class Bench:
    def __init__(self, store: Engine, *, db_for: str = "1 failures") -> None:
        self.store = store
        self.clock = FrozenClock(T0)
        self.notices: list[AlertNotice] = []
        self.engine = AlertEngine(
            loads(CONFIG.replace("DB_FOR", db_for)), store, clock=self.clock, emit=self._emit
        )

    def _emit(self, conn: Connection, notices: Sequence[AlertNotice]) -> None:
        self.notices.extend(notices)

    def probe(self, **states: State) -> None:
        """One batch: a result per named check, as the scheduler's sink writes them."""
        self.clock.advance(STEP)
        results = [
            ProbeResult(
                check_id=check_id,
                started_at=self.clock.now(),
                state=state,
                latency_ms=5.0,
                error=None if state is State.UP else f"{check_id} refused the connection",
            )
            for check_id, state in states.items()
        ]
        with self.store.begin() as conn:
            service.record_results(conn, results=results, intervals={})
        self.engine.evaluate(self.clock.now(), results=results)

    def open_alert(self, rule: str) -> Alert:
        with self.store.connect() as conn:
            row = conn.execute(
                sa.select(alert).where(alert.c.rule == rule, alert.c.open_key.is_not(None))
            ).one()
        return records.row_to_alert(row)

    def kinds(self, alert_id: int) -> list[str]:
        with self.store.connect() as conn:
            return [e.kind for e in records.alert_events(conn, alert_id)]

    def notified(self) -> list[str]:
        names = [a.labels["alertname"] for n in self.notices for a in n.alerts]
        self.notices.clear()
        return names


DOWN, UP = State.DOWN, State.UP


def test_one_database_outage_pages_once_and_links_the_dependents(store: Engine) -> None:
    bench = Bench(store)
    bench.probe(db=DOWN, api=DOWN)
    db, api = bench.open_alert("db-down"), bench.open_alert("api-down")
    assert (db.status, api.status) == (AlertStatus.FIRING, AlertStatus.FIRING)
    assert (db.suppressed_reason, db.suppressed_by) == (None, None)
    assert (api.suppressed_reason, api.suppressed_by) == ("db is down", db.id)
    assert bench.notified() == ["db-down"]
    assert bench.kinds(api.id) == ["firing", "suppressed"]

    # The database comes back while the api is still down: the api now pages on its own.
    bench.probe(db=UP, api=DOWN)
    api = bench.open_alert("api-down")
    assert (api.suppressed_reason, api.suppressed_by) == (None, None)
    assert bench.kinds(api.id) == ["firing", "suppressed", "unsuppressed", "notified"]
    assert bench.notified() == ["api-down"]


def test_a_dependency_down_before_the_dependent_fails_suppresses_it_from_the_start(
    store: Engine,
) -> None:
    bench = Bench(store)
    bench.probe(db=DOWN, api=UP)
    bench.notified()
    bench.probe(db=DOWN, api=DOWN)
    api = bench.open_alert("api-down")
    assert api.suppressed_by == bench.open_alert("db-down").id
    assert bench.notified() == []


def test_the_root_cause_is_the_deepest_dependency_down(store: Engine) -> None:
    bench = Bench(store)
    bench.probe(db=DOWN, api=DOWN, web=DOWN)
    db = bench.open_alert("db-down")
    for rule in ("api-down", "web-down"):
        dependent = bench.open_alert(rule)
        assert (dependent.suppressed_reason, dependent.suppressed_by) == ("db is down", db.id)
    assert bench.notified() == ["db-down"]
    # The database is back, the api is not: the web alert now hangs off the api's.
    bench.probe(db=UP, api=DOWN, web=DOWN)
    api = bench.open_alert("api-down")
    web = bench.open_alert("web-down")
    assert api.suppressed_reason is None
    assert (web.suppressed_reason, web.suppressed_by) == ("api is down", api.id)
    assert bench.notified() == ["api-down"]


def test_the_link_is_made_when_the_root_cause_alert_fires_later(store: Engine) -> None:
    bench = Bench(store, db_for="3 failures")
    bench.probe(db=DOWN, api=DOWN)
    api = bench.open_alert("api-down")
    db = bench.open_alert("db-down")
    assert db.status is AlertStatus.PENDING
    # A pending root alert is already the link: it is the root cause being confirmed.
    assert (api.suppressed_reason, api.suppressed_by) == ("db is down", db.id)
    bench.probe(db=DOWN, api=DOWN)
    bench.probe(db=DOWN, api=DOWN)
    assert bench.open_alert("db-down").status is AlertStatus.FIRING
    assert bench.open_alert("api-down").suppressed_by == db.id
    assert bench.kinds(api.id) == ["firing", "suppressed"]
    assert bench.notified() == ["db-down"]


def test_a_dependency_without_an_alert_still_suppresses(store: Engine) -> None:
    bench = Bench(store)
    bench.probe(db=UP, api=UP)
    bench.clock.advance(STEP)
    db_result = ProbeResult(check_id="db", started_at=bench.clock.now(), state=DOWN, latency_ms=1)
    with store.begin() as conn:
        service.record_results(conn, results=[db_result], intervals={})
    # Only the api result is evaluated: the db is down in the store but has no alert yet.
    api_result = ProbeResult(
        check_id="api", started_at=bench.clock.now(), state=DOWN, latency_ms=1.0
    )
    with store.begin() as conn:
        service.record_results(conn, results=[api_result], intervals={})
    bench.engine.evaluate(bench.clock.now(), results=[api_result])
    api = bench.open_alert("api-down")
    assert (api.suppressed_reason, api.suppressed_by) == ("db is down", None)
    assert bench.notified() == []
