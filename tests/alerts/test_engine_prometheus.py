"""AlertEngine over Prometheus answers (samples mapped to alerts, a failed query is no data)
and the expiry of alerts ingested through the Alertmanager API (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.engine import Engine

from alert_helpers import stored_alerts
from opsbook.alerts import records
from opsbook.alerts.engine import AlertEngine
from opsbook.alerts.models import Alert, AlertSource, AlertStatus
from opsbook.alerts.prometheus import Sample
from opsbook.clock import FrozenClock
from opsbook.config import loads

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
s = timedelta(seconds=1)

CONFIG = """
service: shop
alerts:
  instance-down:
    prometheus: {url: "http://127.0.0.1:1", expr: "up == 0"}
    severity: SEV2
    labels: {team: infra}
    annotations:
      summary: "{{ $labels.instance }} of {{ $labels.job }} is down (up = {{ $value }})"
  slow-burn:
    prometheus: {url: "http://127.0.0.1:1", expr: "rate(errors[5m]) > 1"}
    for: 1m
"""


def up(instance: str, job: str = "node") -> Sample:
    return Sample(labels={"instance": instance, "job": job}, value=0.0)


class Bench:
    def __init__(self, store: Engine) -> None:
        self.store = store
        self.clock = FrozenClock(T0)
        self.engine = AlertEngine(loads(CONFIG), store, clock=self.clock)

    def answer(
        self, answers: Mapping[str, Sequence[Sample] | str], advance: timedelta = 30 * s
    ) -> int:
        self.clock.advance(advance)
        return self.engine.evaluate(self.clock.now(), prometheus=answers).transitions

    def alerts(self, rule: str | None = None) -> list[Alert]:
        return stored_alerts(self.store, rule)


def test_each_series_of_the_answer_is_one_alert(store: Engine) -> None:
    bench = Bench(store)
    assert bench.answer({"instance-down": [up("a:9100"), up("b:9100")]}) == 2
    first, second = bench.alerts()
    assert first.labels == {
        "alertname": "instance-down",
        "severity": "SEV2",
        "team": "infra",
        "instance": "a:9100",
        "job": "node",
    }
    assert first.fingerprint == records.fingerprint(first.labels)
    assert second.labels["instance"] == "b:9100"
    assert {a.status for a in (first, second)} == {AlertStatus.FIRING}
    assert first.source is AlertSource.PROMETHEUS
    assert first.check_id is None
    assert first.annotations["summary"] == "a:9100 of node is down (up = 0.0)"
    assert first.values == {"value": 0.0, "series": {"instance": "a:9100", "job": "node"}}


def test_the_same_series_again_keeps_its_alert(store: Engine) -> None:
    bench = Bench(store)
    bench.answer({"instance-down": [up("a:9100")]})
    assert bench.answer({"instance-down": [up("a:9100")]}) == 0
    assert len(bench.alerts()) == 1


def test_a_series_gone_from_the_answer_resolves_after_resolve_after(store: Engine) -> None:
    bench = Bench(store)
    bench.answer({"instance-down": [up("a:9100"), up("b:9100")]})
    bench.answer({"instance-down": [up("b:9100")]})
    assert [a.status for a in bench.alerts()] == [AlertStatus.FIRING, AlertStatus.FIRING]
    assert bench.answer({"instance-down": [up("b:9100")]}) == 1
    gone, stays = bench.alerts()
    assert (gone.status, stays.status) == (AlertStatus.RESOLVED, AlertStatus.FIRING)
    with store.connect() as conn:
        last = records.alert_events(conn, gone.id)[-1]
    assert (last.kind, last.message) == (
        "resolved",
        "the series is no longer in the answer (clear 2 times in a row)",
    )


def test_a_failed_query_is_no_data(store: Engine) -> None:
    bench = Bench(store)
    bench.answer({"instance-down": [up("a:9100")]})
    bench.answer({"instance-down": []})
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            assert bench.answer({"instance-down": "Prometheus at http://127.0.0.1:1: refused"}) == 0
    (still,) = bench.alerts()
    assert still.status is AlertStatus.FIRING
    warnings = [e for e in logs if e["event"] == "prometheus_rule_no_data"]
    assert len(warnings) == 3
    assert warnings[0]["rule"] == "instance-down"
    assert warnings[0]["error"] == "Prometheus at http://127.0.0.1:1: refused"
    # The one false answer before the failures still counts: one more resolves it.
    bench.answer({"instance-down": []})
    assert bench.alerts()[0].status is AlertStatus.RESOLVED


def test_for_applies_to_prometheus_rules_and_time_alone_fires_them(store: Engine) -> None:
    bench = Bench(store)
    burning = Sample(labels={"service": "checkout"}, value=2.5)
    bench.answer({"slow-burn": [burning]})
    (pending,) = bench.alerts("slow-burn")
    assert pending.status is AlertStatus.PENDING
    assert pending.severity == "SEV4"  # no severity: the least urgent configured
    # Not queried in this pass (not due): the timer alone fires it once `for` has passed.
    assert bench.answer({}, advance=59 * s) == 0
    assert bench.answer({}, advance=1 * s) == 1
    (fired,) = bench.alerts("slow-burn")
    assert fired.status is AlertStatus.FIRING
    assert fired.annotations == {
        "summary": 'slow-burn: rate(errors[5m]) > 1 = 2.5 for {service="checkout"}'
    }


def ingest(store: Engine, *, ends_at: datetime | None, source: AlertSource, name: str) -> int:
    labels = {"alertname": name, "severity": "SEV3"}
    with store.begin() as conn:
        return records.open_alert(
            conn,
            fingerprint=records.fingerprint(labels),
            source=source,
            labels=labels,
            severity="SEV3",
            status=AlertStatus.FIRING,
            now=T0,
            integration="prom",
            ends_at=ends_at,
            message="received",
        )


def test_ingested_alerts_resolve_when_ends_at_passes(store: Engine) -> None:
    bench = Bench(store)
    expiring = ingest(store, ends_at=T0 + 60 * s, source=AlertSource.ALERTMANAGER, name="DiskFull")
    endless = ingest(store, ends_at=None, source=AlertSource.ALERTMANAGER, name="Endless")
    paged = ingest(store, ends_at=None, source=AlertSource.PAGERDUTY, name="Paged")
    assert bench.answer({}, advance=59 * s) == 0
    assert bench.answer({}, advance=1 * s) == 1
    with store.connect() as conn:
        done = records.get_alert(conn, expiring)
        assert done.status is AlertStatus.RESOLVED
        assert done.resolved_at == T0 + 60 * s
        last = records.alert_events(conn, expiring)[-1]
        assert (last.kind, last.message) == (
            "resolved",
            "endsAt passed (2026-11-22T12:01:00+00:00)",
        )
        assert records.get_alert(conn, endless).status is AlertStatus.FIRING
        assert records.get_alert(conn, paged).status is AlertStatus.FIRING
