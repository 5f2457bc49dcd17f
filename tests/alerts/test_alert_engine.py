"""AlertEngine over check rules: results recorded in a real store, then evaluated (SQLite and
PostgreSQL), with a FrozenClock; notices are caught by a recording ``emit``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from sqlalchemy.engine import Connection, Engine

from alert_helpers import stored_alerts
from opsbook.alerts import records
from opsbook.alerts.engine import AlertEngine, EvalReport
from opsbook.alerts.models import Alert, AlertNotice, AlertSource, AlertStatus
from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State, Value
from opsbook.clock import FrozenClock
from opsbook.config import Config, loads

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
s = timedelta(seconds=1)
m = timedelta(minutes=1)

BASE = """
service: shop
components:
  storefront: {name: Storefront, checks: [api]}
checks:
  api: {http: {url: "http://127.0.0.1:1/health"}, every: 30s, labels: {team: web}}
  queue: {metric: {url: "http://127.0.0.1:1/metrics", values: {depth: {sum: jobs_pending}}}}
  nightly-backup: {heartbeat: {period: 1d, grace: 30m}}
channels:
  ops: {webhook: {url: "http://127.0.0.1:1/hook"}}
alerting: {notify: [ops]}
alerts:
"""


class Bench:
    """A store, a config with ``rules``, a frozen clock and an engine; ``probe`` records one
    result at the clock's time and evaluates it, as the scheduler's sink does."""

    def __init__(self, store: Engine, rules: str, *, extra: str = "") -> None:
        self.config: Config = loads(BASE + rules + extra)
        self.store = store
        self.clock = FrozenClock(T0)
        self.notices: list[AlertNotice] = []
        self.committed: list[int] = []
        self.engine = AlertEngine(
            self.config,
            store,
            clock=self.clock,
            emit=self._emit,
            after_commit=self.committed.append,
            external_url="http://opsbook.test",
        )

    def _emit(self, conn: Connection, notices: Sequence[AlertNotice]) -> None:
        self.notices.extend(notices)

    def probe(
        self,
        check: str = "api",
        state: State = State.DOWN,
        *,
        latency_ms: float = 120.0,
        status: int | None = None,
        values: dict[str, Value] | None = None,
        error: str | None = None,
        advance: timedelta = 30 * s,
    ) -> EvalReport:
        self.clock.advance(advance)
        down = state is State.DOWN
        result = ProbeResult(
            check_id=check,
            started_at=self.clock.now(),
            state=state,
            latency_ms=latency_ms,
            error=error,
            failed_conditions=("[STATUS] (500) == 200",) if down and check == "api" else (),
            status=status if status is not None else (500 if down else 200),
            values=values or {},
        )
        with self.store.begin() as conn:
            service.record_results(conn, results=[result], intervals={})
        return self.engine.evaluate(self.clock.now(), results=[result])

    def tick(self, advance: timedelta = 5 * s) -> EvalReport:
        self.clock.advance(advance)
        return self.engine.evaluate(self.clock.now())

    def alerts(self, rule: str | None = None) -> list[Alert]:
        return stored_alerts(self.store, rule)

    def status(self, rule: str) -> list[str]:
        return [a.status.value for a in self.alerts(rule)]

    def events(self, alert_id: int) -> list[tuple[str, str | None, str | None]]:
        with self.store.connect() as conn:
            return [
                (e.kind, e.from_status and e.from_status.value, e.to_status and e.to_status.value)
                for e in records.alert_events(conn, alert_id)
            ]


API_DOWN = "  api-down: {when: api down, for: 3 failures, severity: SEV1, runbook: site-down}\n"


def test_a_three_failure_rule_fires_on_the_third_failure_and_not_before(store: Engine) -> None:
    bench = Bench(store, API_DOWN)
    bench.probe(state=State.UP)
    assert bench.alerts() == []
    assert bench.probe().transitions == 1
    assert bench.status("api-down") == ["pending"]
    assert bench.probe().transitions == 0
    assert bench.status("api-down") == ["pending"]
    assert bench.notices == []
    report = bench.probe()
    assert report == EvalReport(transitions=1, notices=1)
    (fired,) = bench.alerts()
    assert fired.status is AlertStatus.FIRING
    assert fired.started_at == T0 + 60 * s
    assert fired.fired_at == T0 + 120 * s
    assert bench.events(fired.id) == [
        ("pending", None, "pending"),
        ("firing", "pending", "firing"),
        ("notified", None, None),
    ]
    assert bench.committed == [1]
    (notice,) = bench.notices
    assert notice.status == "firing"
    assert [a.id for a in notice.alerts] == [fired.id]
    assert notice.external_url == "http://opsbook.test"


def test_labels_fingerprint_and_default_annotations(store: Engine) -> None:
    bench = Bench(store, API_DOWN)
    for _ in range(3):
        bench.probe()
    (fired,) = bench.alerts()
    assert fired.labels == {
        "alertname": "api-down",
        "severity": "SEV1",
        "check": "api",
        "component": "storefront",
        "team": "web",
    }
    assert fired.fingerprint == records.fingerprint(fired.labels)
    assert fired.source is AlertSource.RULE
    assert fired.check_id == "api"
    assert fired.severity == "SEV1"
    assert fired.annotations == {
        "summary": "api down: [STATUS] (500) == 200",
        "runbook": "site-down",
    }


def test_a_break_before_firing_closes_the_episode_inactive(store: Engine) -> None:
    bench = Bench(store, API_DOWN)
    bench.probe()
    bench.probe()
    bench.probe(state=State.UP)
    bench.probe()
    assert bench.status("api-down") == ["inactive", "pending"]
    first = bench.alerts()[0]
    assert first.resolved_at == T0 + 90 * s
    assert bench.events(first.id)[-1] == ("inactive", "pending", "inactive")


def test_two_successes_resolve_and_one_does_not_end_the_outage(store: Engine) -> None:
    bench = Bench(store, API_DOWN)
    for _ in range(3):
        bench.probe()
    bench.probe(state=State.UP)
    bench.probe()
    assert bench.status("api-down") == ["firing"]
    bench.probe(state=State.UP)
    assert bench.status("api-down") == ["firing"]
    report = bench.probe(state=State.UP)
    assert report.transitions == 1
    (resolved,) = bench.alerts()
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.resolved_at == bench.clock.now()
    assert [n.status for n in bench.notices] == ["firing", "resolved"]
    kinds = [e[0] for e in bench.events(resolved.id)]
    assert kinds == ["pending", "firing", "notified", "resolved", "notified"]


def test_every_transition_has_an_event_with_the_values_that_caused_it(store: Engine) -> None:
    bench = Bench(store, API_DOWN)
    for _ in range(3):
        bench.probe()
    bench.probe(state=State.UP)
    bench.probe(state=State.UP)
    (done,) = bench.alerts()
    with store.connect() as conn:
        events = [e for e in records.alert_events(conn, done.id) if e.kind != "notified"]
    assert [(e.kind, e.values.get("state"), e.values.get("status")) for e in events] == [
        ("pending", "down", 500),
        ("firing", "down", 500),
        ("resolved", "up", 200),
    ]
    assert events[1].message == "[STATUS] (500) == 200 (3 failures)"
    assert events[2].message == "up (clear 2 times in a row)"
    assert events[1].values["failed_conditions"] == ["[STATUS] (500) == 200"]


def test_resolve_after_and_keep_firing_for_from_the_rule(store: Engine) -> None:
    rules = "  api-down: {when: api down, resolve_after: 1, keep_firing_for: 2m}\n"
    bench = Bench(store, rules)
    bench.probe()
    assert bench.status("api-down") == ["firing"]
    bench.probe(state=State.UP)
    bench.tick(60 * s)
    assert bench.status("api-down") == ["firing"]
    # 2 minutes after the first good result, the timer alone resolves it.
    report = bench.tick(60 * s)
    assert report.transitions == 1
    assert bench.status("api-down") == ["resolved"]
    (done,) = bench.alerts()
    assert bench.events(done.id)[-2:] == [
        ("resolved", "firing", "resolved"),
        ("notified", None, None),
    ]
    with store.connect() as conn:
        last = next(e for e in records.alert_events(conn, done.id) if e.kind == "resolved")
    assert last.message == "clear once and for 2m"
    assert last.values["state"] == "up"


def test_a_duration_rule_fires_on_time_without_a_new_result(store: Engine) -> None:
    rules = "  api-down: {when: api down, for: 2m}\n"
    bench = Bench(store, rules)
    bench.probe()
    bench.tick(60 * s)
    assert bench.status("api-down") == ["pending"]
    assert bench.tick(60 * s).transitions == 1
    assert bench.status("api-down") == ["firing"]
    (fired,) = bench.alerts()
    assert fired.fired_at == T0 + 150 * s


def test_a_p95_window_rule_is_evaluated_on_results_and_on_ticks(store: Engine) -> None:
    rules = "  slow: {when: api p95 > 2s, for: 2m, severity: SEV2}\n"
    bench = Bench(store, rules)
    bench.probe(state=State.UP, latency_ms=150)
    assert bench.alerts() == []
    bench.probe(state=State.UP, latency_ms=3500)
    bench.probe(state=State.UP, latency_ms=3500)
    assert bench.status("slow") == ["pending"]
    bench.tick(89 * s)
    assert bench.status("slow") == ["pending"]
    bench.tick(1 * s)
    assert bench.status("slow") == ["firing"]
    (fired,) = bench.alerts()
    assert fired.annotations["summary"].startswith("api p95 > 2s: p95 (")
    assert fired.values["metric"] == "p95"
    value = fired.values["value"]
    assert isinstance(value, float) and value > 3000


def test_a_value_rule(store: Engine) -> None:
    rules = "  backlog: {when: queue depth > 1000, severity: SEV3}\n"
    bench = Bench(store, rules)
    bench.probe("queue", State.UP, values={"depth": 10})
    assert bench.alerts() == []
    bench.probe("queue", State.UP)  # no depth measured: no data, nothing changes
    bench.probe("queue", State.UP, values={"depth": 1500})
    (fired,) = bench.alerts("backlog")
    assert fired.status is AlertStatus.FIRING
    assert fired.annotations["summary"] == "queue depth > 1000: depth (1,500) > 1,000"
    assert fired.values["value"] == 1500
    bench.probe("queue", State.UP)
    assert bench.status("backlog") == ["firing"]
    bench.probe("queue", State.UP, values={"depth": 3})
    bench.probe("queue", State.UP, values={"depth": 2})
    assert bench.status("backlog") == ["resolved"]


def test_a_late_heartbeat(store: Engine) -> None:
    rules = "  backup-late: {when: nightly-backup late, severity: SEV3}\n"
    bench = Bench(store, rules)
    bench.probe("nightly-backup", State.UP, status=0, values={"status": "up"})
    assert bench.alerts() == []
    bench.probe(
        "nightly-backup",
        State.DEGRADED,
        status=0,
        values={"status": "late"},
        error="no ping since 2026-11-22T12:00:00Z",
    )
    (late,) = bench.alerts()
    assert late.status is AlertStatus.FIRING
    assert late.annotations["summary"] == (
        "nightly-backup late: no ping since 2026-11-22T12:00:00Z"
    )


TEMPLATED = """  api-down:
    when: api down
    severity: SEV1
    annotations:
      summary: "{{ check }} is {{ labels.team }}'s problem"
      description: "{{ $labels.alertname }} at {{ severity }}: {{ $value }}"
      broken: "{{ labels.team / 0 }}"
"""


def test_annotation_templates_are_rendered_and_a_broken_one_stays_raw(store: Engine) -> None:
    bench = Bench(store, TEMPLATED)
    with structlog.testing.capture_logs() as logs:
        bench.probe()
    (fired,) = bench.alerts()
    assert fired.annotations == {
        "summary": "api is web's problem",
        "description": "api-down at SEV1: [STATUS] (500) == 200",
        "broken": "{{ labels.team / 0 }}",
    }
    failed = [entry for entry in logs if entry["event"] == "annotation_template_failed"]
    assert [(e["rule"], e["annotation"]) for e in failed] == [("api-down", "broken")]


def test_each_transition_is_logged(store: Engine) -> None:
    bench = Bench(store, API_DOWN)
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            bench.probe()
    (fired,) = bench.alerts()
    lines: list[dict[str, Any]] = [e for e in logs if e["event"] == "alert_transition"]
    assert [(e["alert"], e["rule"], e["from"], e["to"]) for e in lines] == [
        (fired.id, "api-down", None, "pending"),
        (fired.id, "api-down", "pending", "firing"),
    ]


def test_results_of_checks_without_rules_write_nothing(store: Engine) -> None:
    bench = Bench(store, API_DOWN)
    assert bench.probe("queue", State.DOWN) == EvalReport(transitions=0, notices=0)
    assert bench.alerts() == []
    assert bench.committed == []


FLAPPY = """  api-down:
    when: api down
    resolve_after: 1
    flapping: {transitions: 4, window: 1h}
"""


def test_a_flapping_alert_fires_once_and_resolves_after_a_calm_window(store: Engine) -> None:
    bench = Bench(store, FLAPPY)
    for _ in range(2):
        bench.probe(advance=m)
        bench.probe(state=State.UP, advance=m)
    assert bench.status("api-down") == ["resolved", "resolved"]
    bench.probe(advance=m)
    assert bench.status("api-down")[-1] == "firing"
    flapping = bench.alerts()[-1]
    assert flapping.flapping
    with store.connect() as conn:
        events = records.alert_events(conn, flapping.id)
    assert [e.kind for e in events][:2] == ["firing", "flapping"]
    assert events[1].message == "flapping: 4 transitions in 1h"
    # One good probe, or many, does not resolve it; a whole hour of good ones does: the first
    # good one starts the hour, the 61st ends it.
    for _ in range(60):
        bench.probe(state=State.UP, advance=m)
    assert bench.status("api-down")[-1] == "firing"
    bench.probe(state=State.UP, advance=m)
    assert bench.status("api-down")[-1] == "resolved"
    with store.connect() as conn:
        kinds = [e.kind for e in records.alert_events(conn, flapping.id) if e.kind != "notified"]
    assert kinds == ["firing", "flapping", "stable", "resolved"]


@pytest.mark.parametrize(
    ("rules", "message", "status"),
    [
        ("  other: {when: api up}\n", "rule api-down is no longer in the config", "resolved"),
        (
            "  api-down: {when: api down, severity: SEV2}\n",
            "rule api-down now labels its alert differently",
            "resolved",
        ),
        (
            '  api-down: {prometheus: {url: "http://127.0.0.1:1", expr: "up == 0"}}\n',
            "rule api-down changed between when and prometheus",
            "resolved",
        ),
    ],
)
def test_alerts_of_a_rule_changed_or_removed_are_closed(
    store: Engine, rules: str, message: str, status: str
) -> None:
    bench = Bench(store, "  api-down: {when: api down, severity: SEV1}\n")
    bench.probe()
    (fired,) = bench.alerts()
    reloaded = AlertEngine(loads(BASE + rules), store, clock=bench.clock)
    bench.clock.advance(5 * s)
    assert reloaded.evaluate(bench.clock.now()).transitions == 1
    with store.connect() as conn:
        closed = records.get_alert(conn, fired.id)
        last = records.alert_events(conn, fired.id)[-1]
    assert closed.status.value == status
    assert (last.kind, last.message) == (status, message)


def test_a_pending_alert_of_a_removed_rule_closes_inactive(store: Engine) -> None:
    bench = Bench(store, API_DOWN)
    bench.probe()
    reloaded = AlertEngine(loads(BASE + "  other: {when: api up}\n"), store, clock=bench.clock)
    reloaded.evaluate(bench.clock.now())
    assert bench.status("api-down") == ["inactive"]
