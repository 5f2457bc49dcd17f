"""Alert rules, maintenance windows, integrations and ``depends_on`` validated against the rest of
the file: every seed alert loads as written, and every dangling reference is reported at its
own line with its dotted path (STYLE.md R12)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from opsbook.config import Config, loads
from opsbook.config.alert_expr import AlertExpr
from opsbook.config.alerts import ForSpec
from opsbook.errors import ConfigError

RunCli = Callable[..., Any]

CHECKS = """\
service: shop
checks:
  api: {http: {url: "http://127.0.0.1:8081/health"}}
  db: {postgres: {dsn: "postgresql://app@127.0.0.1:5432/app"}}
  queue: {redis: {url: "redis://127.0.0.1:6379/0", queues: {pending_jobs: celery}}}
  cert: {tls: {host: shop.example}}
  nightly-backup: {heartbeat: {period: 1d, grace: 1h}}
  app:
    metric:
      url: http://127.0.0.1:8081/metrics
      values:
        memory_pct: {sum: process_memory_usage_pct}
        auth_failures_per_min: {sum: auth_failures_per_minute}
        payment_failure_ratio:
          ratio:
            numerator: 'payments_total{status="failed"}'
            denominator: payments_total
channels:
  ops: {webhook: {url: "http://127.0.0.1:9000/hook"}}
"""


def load(alerts: str, head: str = CHECKS) -> Config:
    return loads(head + textwrap.dedent(alerts).lstrip("\n"), file="opsbook.yaml")


def problems(text: str, head: str = CHECKS) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, head)
    return [str(p) for p in info.value.problems]


HEAD_LINES = CHECKS.count("\n")


THREE = ForSpec(failures=3)
ONCE = ForSpec(failures=1)
M5 = ForSpec(duration=timedelta(minutes=5))
M10 = ForSpec(duration=timedelta(minutes=10))

# The seeds' alert tables, as the issue quotes them, and the rule each one becomes.
SEEDS = [
    # "Health check failure: 3 consecutive -> SEV1"
    ("{when: api down, for: 3 failures, severity: SEV1}", "api", "down", None, None, THREE),
    # "Error rate > 5% for 5min -> SEV2"
    ("{when: api error_rate > 5%, for: 5m, severity: SEV2}", "api", None, "error_rate", 5.0, M5),
    # "p95 > 2s for 10min -> SEV2"
    ("{when: api p95 > 2s, for: 10m, severity: SEV2}", "api", None, "p95", 2000.0, M10),
    # "Database connections > 8/10 for 5min -> SEV3", as a count and as a percentage
    (
        "{when: db connections_used > 8, for: 5m, severity: SEV3}",
        "db",
        None,
        "value.connections_used",
        8.0,
        M5,
    ),
    (
        "{when: db connections > 80%, for: 5m, severity: SEV3}",
        "db",
        None,
        "value.connections_pct",
        80.0,
        M5,
    ),
    # "Memory > 85% for 10min"
    ("{when: app memory > 85%, for: 10m}", "app", None, "value.memory_pct", 85.0, M10),
    # "Pending jobs > 1000"
    ("{when: queue pending_jobs > 1000}", "queue", None, "value.pending_jobs", 1000.0, ONCE),
    # "Certificate expiry < 14 days"
    ("{when: cert days_left < 14}", "cert", None, "value.days_left", 14.0, ONCE),
    # "Auth failures > 10 per minute"
    (
        "{when: app auth_failures_per_min > 10}",
        "app",
        None,
        "value.auth_failures_per_min",
        10.0,
        ONCE,
    ),
    # "Payment failures > 1% of transactions" (a ratio value: 1% is stored as 0.01)
    (
        "{when: app payment_failure_ratio > 1%}",
        "app",
        None,
        "value.payment_failure_ratio",
        0.01,
        ONCE,
    ),
    # A heartbeat: "nightly backup did not report"
    ("{when: nightly-backup late, severity: SEV3}", "nightly-backup", "late", None, None, ONCE),
]


@pytest.mark.parametrize(("rule", "check", "state", "metric", "threshold", "for_"), SEEDS)
def test_it_loads_every_seed_alert_as_written(
    rule: str,
    check: str,
    state: str | None,
    metric: str | None,
    threshold: float | None,
    for_: ForSpec,
) -> None:
    config = load(f"alerts:\n  seed: {rule}\n")
    loaded = config.alerts["seed"]
    assert isinstance(loaded.when, AlertExpr)
    when = loaded.when
    assert (when.check, when.state, when.metric, when.threshold) == (
        check,
        state,
        metric,
        threshold,
    )
    assert loaded.for_ == for_


def test_validating_resolved_rules_again_changes_nothing() -> None:
    config = load("alerts:\n  pay: {when: app payment_failure_ratio > 1%}\n")
    again = Config.model_validate(
        {"service": "shop", "checks": config.checks, "alerts": config.alerts}
    )
    assert again.alerts == config.alerts
    when = again.alerts["pay"].when
    assert when is not None
    assert when.threshold == 0.01


def test_a_window_metric_keeps_its_window() -> None:
    config = load("alerts:\n  slow: {when: api p95 > 2s over 10m, for: 10m}\n")
    when = config.alerts["slow"].when
    assert when is not None
    assert when.window == timedelta(minutes=10)


def test_a_prometheus_rule_may_count_failures() -> None:
    config = load("""
        alerts:
          up:
            prometheus: {url: "http://127.0.0.1:9090", expr: "up == 0"}
            for: 3 failures
    """)
    assert config.alerts["up"].for_.failures == 3


def line(n: int) -> str:
    """The file line of line ``n`` (1-based) of the alerts text that follows ``CHECKS``."""
    return str(HEAD_LINES + n)


@pytest.mark.parametrize(
    ("alerts", "expected"),
    [
        (
            """
            alerts:
              api-down:
                when: apii down
            """,
            [
                f"opsbook.yaml:{line(3)}:11: alerts.api-down.when: unknown check 'apii' "
                "(did you mean 'api'?)"
            ],
        ),
        (
            """
            alerts:
              x:
                when: api explodes
            """,
            [
                f"opsbook.yaml:{line(3)}:11: alerts.x.when: 'api explodes': 'explodes' is not a "
                "state or a metric (use down, up, degraded, failing, late, or a metric such as "
                "p95 > 2s)"
            ],
        ),
        (
            """
            alerts:
              x: {when: api late}
            """,
            [
                f"opsbook.yaml:{line(2)}:13: alerts.x.when: 'api late': 'late' is only for "
                "heartbeat checks; api is an http check (use down, up, degraded or failing)"
            ],
        ),
        (
            """
            alerts:
              x: {when: db connections > 8}
            """,
            [
                f"opsbook.yaml:{line(2)}:13: alerts.x.when: 'db connections > 8': a postgres check "
                "measures connections_used, connections_max, connections_pct, longest_query_s, "
                "idle_in_transaction, replication_lag_s (and latency, p50, p90, p95, p99, avg, "
                "availability, error_rate), not 'connections'; did you mean connections_pct?"
            ],
        ),
        (
            """
            alerts:
              x: {when: cert days_left < 14 days}
            """,
            [
                f"opsbook.yaml:{line(2)}:13: alerts.x.when: 'cert days_left < 14 days': unexpected "
                "'days' after the threshold (to set a window write 'over 10m')"
            ],
        ),
        (
            """
            alerts:
              x: {when: api availability > 100%}
            """,
            [
                f"opsbook.yaml:{line(2)}:13: alerts.x.when: 'api availability > 100%': "
                "availability > 100% can never be true (availability is between 0% and 100%)"
            ],
        ),
        (
            """
            alerts:
              x: {when: nightly-backup p95 > 2s}
            """,
            [
                f"opsbook.yaml:{line(2)}:13: alerts.x.when: 'nightly-backup p95 > 2s': a heartbeat "
                "check measures no metrics, it is only pinged (use a state: down, up, late, "
                "failing, e.g. 'nightly-backup late')"
            ],
        ),
        (
            """
            alerts:
              x: {when: api down, severity: SEV5}
            """,
            [
                f"opsbook.yaml:{line(2)}:33: alerts.x.severity: unknown severity 'SEV5' "
                "(known severities: SEV1, SEV2, SEV3, SEV4)"
            ],
        ),
        (
            """
            alerts:
              x:
                when: api down
                notify: [ops, pager]
            alerting:
              notify: [opz]
            """,
            [
                f"opsbook.yaml:{line(4)}:19: alerts.x.notify[1]: unknown channel 'pager' "
                "(known channels: ops)",
                f"opsbook.yaml:{line(6)}:12: alerting.notify[0]: unknown channel 'opz' "
                "(did you mean 'ops'?)",
            ],
        ),
        (
            """
            alerts:
              x:
                when: api down
                retry_every: 30s
            """,
            [
                f"opsbook.yaml:{line(4)}:18: alerts.x.retry_every: retry_every (30s) must be "
                "shorter than api's every (30s): it re-probes a failing check sooner than its "
                "usual interval"
            ],
        ),
        (
            """
            maintenance:
              upgrade:
                start: 2026-01-01T00:00:00Z
                end: 2026-01-01T01:00:00Z
                components: [web]
                checks: [dbb]
            """,
            [
                f"opsbook.yaml:{line(5)}:18: maintenance.upgrade.components[0]: unknown "
                "component 'web' (no components are defined)",
                f"opsbook.yaml:{line(6)}:14: maintenance.upgrade.checks[0]: unknown check 'dbb' "
                "(did you mean 'db'?)",
            ],
        ),
        (
            """
            integrations:
              am:
                alertmanager: {token: "0123456789abcdef0123"}
                severity: SEV7
            """,
            [
                f"opsbook.yaml:{line(4)}:15: integrations.am.severity: unknown severity 'SEV7' "
                "(known severities: SEV1, SEV2, SEV3, SEV4)"
            ],
        ),
        (
            """
            alerts:
              x:
                when: api down
                labels: {team-name: ops}
                annotations: {summary: "{{ valu }}"}
            """,
            [
                f"opsbook.yaml:{line(4)}:25: alerts.x.labels.team-name: 'team-name' is not a label "
                "name (use letters, digits and '_', not starting with a digit, e.g. team or "
                "service_tier)"
            ],
        ),
        (
            """
            alerts:
              x:
                when: api down
                annotations: {summary: "{{ valu }}"}
            """,
            [
                f"opsbook.yaml:{line(4)}:28: alerts.x.annotations.summary: unknown template "
                "variable valu (use check, labels, rule, severity, threshold, value, values)"
            ],
        ),
    ],
)
def test_it_reports_each_problem_at_its_line(alerts: str, expected: list[str]) -> None:
    assert problems(alerts) == expected


def test_it_reports_every_bad_reference_at_once() -> None:
    assert problems("""
        alerts:
          a: {when: apii down}
          b: {when: api down, severity: SEV7}
          c: {when: db late}
    """) == [
        f"opsbook.yaml:{line(2)}:13: alerts.a.when: unknown check 'apii' (did you mean 'api'?)",
        f"opsbook.yaml:{line(3)}:33: alerts.b.severity: unknown severity 'SEV7' "
        "(known severities: SEV1, SEV2, SEV3, SEV4)",
        f"opsbook.yaml:{line(4)}:13: alerts.c.when: 'db late': 'late' is only for heartbeat "
        "checks; db is a postgres check (use down, up, degraded or failing)",
    ]


def test_every_malformed_expression_is_reported_with_the_reference_errors() -> None:
    # A rule that does not parse no longer hides the reference errors of the rules that do.
    assert problems("""
        alerts:
          a: {when: apii down}
          b: {when: api p95>2s}
          c: {when: api error_rate > 5}
    """) == [
        f"opsbook.yaml:{line(2)}:13: alerts.a.when: unknown check 'apii' (did you mean 'api'?)",
        f"opsbook.yaml:{line(3)}:13: alerts.b.when: 'api p95>2s': put a space on each side of "
        "'>': write 'api p95 > 2s'",
        f"opsbook.yaml:{line(4)}:13: alerts.c.when: 'api error_rate > 5': '5' is not a "
        "percentage (error_rate is a share: use e.g. 5%)",
    ]


DEPENDENCIES = """\
service: shop
checks:
  api:
    http: {url: "http://127.0.0.1:8081/health"}
    depends_on: [db, api]
  db:
    postgres: {dsn: "postgresql://app@127.0.0.1:5432/app"}
    depends_on: [cache]
  cache:
    redis: {url: "redis://127.0.0.1:6379/0"}
    depends_on: [db, dbb]
"""


def test_it_refuses_unknown_self_and_circular_dependencies() -> None:
    assert problems("", head=DEPENDENCIES) == [
        "opsbook.yaml:5:22: checks.api.depends_on[1]: a check cannot depend on itself (api)",
        "opsbook.yaml:8:18: checks.db.depends_on[0]: depends_on makes a cycle: db -> cache -> db",
        "opsbook.yaml:11:22: checks.cache.depends_on[1]: unknown check 'dbb' (did you mean 'db'?)",
    ]


def test_it_finds_a_longer_cycle_once() -> None:
    head = """\
service: shop
checks:
  a: {tcp: {host: a, port: 1}, depends_on: [b]}
  b: {tcp: {host: b, port: 1}, depends_on: [c]}
  c: {tcp: {host: c, port: 1}, depends_on: [a]}
"""
    assert problems("", head=head) == [
        "opsbook.yaml:3:45: checks.a.depends_on[0]: depends_on makes a cycle: a -> b -> c -> a",
    ]


def test_a_dependency_tree_loads() -> None:
    head = """\
service: shop
checks:
  api: {tcp: {host: a, port: 1}, depends_on: [db, cache]}
  worker: {tcp: {host: w, port: 1}, depends_on: [db, cache]}
  cache: {tcp: {host: c, port: 1}, depends_on: [db]}
  db: {tcp: {host: d, port: 1}}
"""
    config = load("", head=head)
    assert config.checks["api"].depends_on == ["db", "cache"]


def test_check_prints_the_alerts(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("opsbook.yaml").write_text(
        CHECKS
        + "alerts:\n"
        + "  api-down: {when: api down, for: 3 failures, severity: SEV1}\n"
        + "  slow: {when: api p95 > 2s, for: 10m, severity: SEV2}\n"
        + "  up: {prometheus: {url: 'http://127.0.0.1:9090', expr: up == 0}}\n"
    )
    result = run_cli("check", "opsbook.yaml")
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0].endswith(" · 4 severities · 3 alerts")
    rows = {line.split("│")[1].strip(): line for line in lines if line.startswith("│")}
    assert [cell.strip() for cell in rows["api-down"].split("│")[1:-1]] == [
        "api-down",
        "api down",
        "3 failures",
        "SEV1",
    ]
    assert [cell.strip() for cell in rows["slow"].split("│")[1:-1]] == [
        "slow",
        "api p95 > 2s",
        "10m",
        "SEV2",
    ]
    assert [cell.strip() for cell in rows["up"].split("│")[1:-1]] == [
        "up",
        "prometheus: up == 0",
        "1 failure",
        "-",
    ]


def test_check_reports_a_broken_alert_and_exits_2(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("opsbook.yaml").write_text(
        CHECKS + "alerts:\n  x:\n    when: api p95 > potato\n    severity: SEV1\n"
    )
    result = run_cli("check", "opsbook.yaml")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"opsbook.yaml:{line(3)}:11: alerts.x.when: 'api p95 > potato': 'potato' is not a "
        "duration (p95 is a latency: use e.g. 2s or 500ms)",
        "1 error",
    ]
    assert "Traceback" not in result.stderr


def test_a_value_named_like_a_builtin_metric_must_be_spelled_out() -> None:
    head = CHECKS.replace(
        "        memory_pct: {sum: process_memory_usage_pct}\n",
        "        memory_pct: {sum: process_memory_usage_pct}\n"
        "        error_rate: {sum: http_errors_ratio}\n",
    )
    found = problems("alerts:\n  errors: {when: app error_rate > 5%}\n", head)
    assert len(found) == 1
    assert found[0].startswith(f"opsbook.yaml:{head.count(chr(10)) + 2}:")
    assert (
        "error_rate is ambiguous: app measures a value named error_rate and error_rate is also "
        "opsbook's own share of failed probes; write 'value.error_rate' for the check's value"
    ) in found[0]
    rule = load("alerts:\n  errors: {when: app value.error_rate > 0.05}\n", head).alerts["errors"]
    assert rule.when is not None and rule.when.metric == "value.error_rate"
