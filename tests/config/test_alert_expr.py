"""The ``when:`` language: accepted expressions and their exact fields, rejected ones and their
exact sentences (STYLE.md R12, R23)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from opsbook.config.alert_expr import (
    POSTGRES_VALUES,
    TLS_VALUES,
    AlertExpr,
    parse_alert_expr,
    resolve,
)
from opsbook.config.checks import REDIS_VALUES

M5 = timedelta(minutes=5)
H1 = timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api down", AlertExpr("api down", "api", state="down")),
        ("api up", AlertExpr("api up", "api", state="up")),
        ("api degraded", AlertExpr("api degraded", "api", state="degraded")),
        ("api failing", AlertExpr("api failing", "api", state="failing")),
        ("nightly-backup late", AlertExpr("nightly-backup late", "nightly-backup", state="late")),
        ("  api   down ", AlertExpr("api down", "api", state="down")),
        (
            "api p95 > 2s",
            AlertExpr("api p95 > 2s", "api", metric="p95", op=">", threshold=2000.0, window=M5),
        ),
        (
            "api p95 > 2s over 10m",
            AlertExpr(
                "api p95 > 2s over 10m",
                "api",
                metric="p95",
                op=">",
                threshold=2000.0,
                window=timedelta(minutes=10),
            ),
        ),
        (
            "api p99 >= 1500",
            AlertExpr("api p99 >= 1500", "api", metric="p99", op=">=", threshold=1500.0, window=M5),
        ),
        (
            "api avg > 250ms",
            AlertExpr("api avg > 250ms", "api", metric="avg", op=">", threshold=250.0, window=M5),
        ),
        (
            "api latency > 500ms",
            AlertExpr("api latency > 500ms", "api", metric="latency", op=">", threshold=500.0),
        ),
        (
            "api availability < 99.9%",
            AlertExpr(
                "api availability < 99.9%",
                "api",
                metric="availability",
                op="<",
                threshold=99.9,
                window=H1,
                percent=True,
            ),
        ),
        (
            "api error_rate > 5%",
            AlertExpr(
                "api error_rate > 5%",
                "api",
                metric="error_rate",
                op=">",
                threshold=5.0,
                window=M5,
                percent=True,
            ),
        ),
        (
            "api status >= 500",
            AlertExpr("api status >= 500", "api", metric="status", op=">=", threshold=500.0),
        ),
        (
            "api status != 200",
            AlertExpr("api status != 200", "api", metric="status", op="!=", threshold=200.0),
        ),
        (
            "db connections_pct > 80",
            AlertExpr(
                "db connections_pct > 80", "db", metric="connections_pct", op=">", threshold=80.0
            ),
        ),
        (
            "db connections > 80%",
            AlertExpr(
                "db connections > 80%",
                "db",
                metric="connections",
                op=">",
                threshold=80.0,
                percent=True,
            ),
        ),
        (
            "queue value.depth > 1000",
            AlertExpr(
                "queue value.depth > 1000", "queue", metric="value.depth", op=">", threshold=1000.0
            ),
        ),
        (
            "cert days_left < 14",
            AlertExpr("cert days_left < 14", "cert", metric="days_left", op="<", threshold=14.0),
        ),
        (
            "cert hostname_match == false",
            AlertExpr(
                "cert hostname_match == false",
                "cert",
                metric="hostname_match",
                op="==",
                threshold=False,
            ),
        ),
        (
            "job exit_code != 0",
            AlertExpr("job exit_code != 0", "job", metric="exit_code", op="!=", threshold=0.0),
        ),
        (
            "app temp_delta < -2.5",
            AlertExpr("app temp_delta < -2.5", "app", metric="temp_delta", op="<", threshold=-2.5),
        ),
    ],
)
def test_it_parses_an_expression(text: str, expected: AlertExpr) -> None:
    assert parse_alert_expr(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the expression is empty (write e.g. 'api down' or 'api p95 > 2s')"),
        (
            "api",
            "'api': 'api' names a check but no state or comparison "
            "(write e.g. 'api down' or 'api p95 > 2s')",
        ),
        (
            "api explodes",
            "'api explodes': 'explodes' is not a state or a metric (use down, up, degraded, "
            "failing, late, or a metric such as p95 > 2s)",
        ),
        (
            "api p95 > potato",
            "'api p95 > potato': 'potato' is not a duration "
            "(p95 is a latency: use e.g. 2s or 500ms)",
        ),
        ("api p95>2s", "'api p95>2s': put a space on each side of '>': write 'api p95 > 2s'"),
        (
            "api error_rate >5%",
            "'api error_rate >5%': put a space on each side of '>': write 'api error_rate > 5%'",
        ),
        (
            "api status = 500",
            "'api status = 500': '=' is not an operator; write 'api status == 500'",
        ),
        (
            "api p95 =< 2s",
            "'api p95 =< 2s': '=<' is not an operator; write 'api p95 <= 2s'",
        ),
        (
            "api p95 >",
            "'api p95 >': nothing after '>': write a threshold (e.g. 'api p95 > 2s')",
        ),
        ("api > 2s", "'api > 2s': nothing before '>': name a metric (e.g. 'api p95 > 2s')"),
        (
            "Api down",
            "'Api down': 'Api' is not a check id (use the id from checks:, lowercase letters, "
            "digits, '-' and '_', e.g. api-health)",
        ),
        ("api p95", "'api p95': 'p95' needs a comparison (write e.g. 'api p95 > 2s')"),
        (
            "api down now",
            "'api down now': unexpected 'now' after 'down' "
            "(a state is written alone, e.g. 'api down')",
        ),
        ("api down > 3", "'api down > 3': 'down' is a state, not a metric: write 'api down'"),
        (
            "api p95 > 2s for 10m",
            "'api p95 > 2s for 10m': 'for' is a key of its own: "
            "write when: 'api p95 > 2s' and for: '10m'",
        ),
        (
            "api p95 > 2s 10m",
            "'api p95 > 2s 10m': unexpected '10m' after the threshold "
            "(to set a window write 'over 10m')",
        ),
        (
            "api p95 > 2s over soon",
            "'api p95 > 2s over soon': 'soon' is not a window (use e.g. over 10m or over 1h)",
        ),
        (
            "api p95 > 2s over",
            "'api p95 > 2s over': 'over' takes one duration (e.g. over 10m)",
        ),
        (
            "api latency > 2s over 5m",
            "'api latency > 2s over 5m': 'over' sets a window, and latency has none (windows go "
            "with p50, p90, p95, p99, avg, availability, error_rate)",
        ),
        (
            "api p95 > 2s > 1s",
            "'api p95 > 2s > 1s': it has 2 operators; an expression compares one metric with one "
            "threshold (write one rule per comparison)",
        ),
        (
            "api p95 > 20%",
            "'api p95 > 20%': '20%' is not a duration (p95 is a latency: use e.g. 2s or 500ms)",
        ),
        ("api p95 < 0ms", "'api p95 < 0ms': p95 < 0ms can never be true (p95 is never negative)"),
        (
            "api error_rate > 5",
            "'api error_rate > 5': '5' is not a percentage (error_rate is a share: use e.g. 5%)",
        ),
        (
            "api availability > 100%",
            "'api availability > 100%': availability > 100% can never be true "
            "(availability is between 0% and 100%)",
        ),
        (
            "api availability < 0%",
            "'api availability < 0%': availability < 0% can never be true "
            "(availability is between 0% and 100%)",
        ),
        (
            "api availability < 120%",
            "'api availability < 120%': '120%' is out of range "
            "(availability is between 0% and 100%)",
        ),
        (
            "api error_rate >= 0%",
            "'api error_rate >= 0%': error_rate >= 0% is always true "
            "(error_rate is between 0% and 100%)",
        ),
        (
            "api status >= 700",
            "'api status >= 700': '700' is not an HTTP status (use a number from 100 to 599)",
        ),
        (
            "api status == ok",
            "'api status == ok': 'ok' is not an HTTP status (use a number from 100 to 599)",
        ),
        (
            "db longest_query_s > 30s",
            "'db longest_query_s > 30s': longest_query_s is in seconds: write 30 instead of '30s'",
        ),
        (
            "queue depth > 5m",
            "'queue depth > 5m': '5m' is a duration, but depth is a number (only the latency "
            "metrics latency, p50, p90, p95, p99, avg take durations)",
        ),
        (
            "queue depth > lots",
            "'queue depth > lots': 'lots' is not a threshold "
            "(use a number, a percentage such as 80%, true or false)",
        ),
        (
            "cert hostname_match > true",
            "'cert hostname_match > true': true compares only with == or != "
            "(write 'hostname_match == true')",
        ),
        (
            "db connections > 101%",
            "'db connections > 101%': '101%' is out of range (connections is between 0% and 100%)",
        ),
    ],
)
def test_it_rejects_an_expression(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_alert_expr(text)
    assert str(info.value) == message


PG = frozenset(POSTGRES_VALUES)
TLS = frozenset(TLS_VALUES)
REDIS = frozenset((*REDIS_VALUES, "default_depth"))
METRIC = frozenset({"failure_ratio", "auth_failures_per_min", "memory_pct"})
FRACTIONS = frozenset({"failure_ratio"})
NONE: frozenset[str] = frozenset()


@pytest.mark.parametrize(
    ("text", "kind", "values", "metric", "threshold"),
    [
        ("api down", "http", NONE, None, None),
        ("beat late", "heartbeat", NONE, None, None),
        ("beat failing", "heartbeat", NONE, None, None),
        ("api p95 > 2s", "http", NONE, "p95", 2000.0),
        ("api status >= 500", "http", NONE, "status", 500.0),
        ("db p95 > 2s", "postgres", PG, "p95", 2000.0),
        ("gw error_rate > 5%", "tcp", NONE, "error_rate", 5.0),
        ("db connections_used > 8", "postgres", PG, "value.connections_used", 8.0),
        ("db connections_pct > 80", "postgres", PG, "value.connections_pct", 80.0),
        ("db connections > 80%", "postgres", PG, "value.connections_pct", 80.0),
        ("db value.replication_lag_s > 30", "postgres", PG, "value.replication_lag_s", 30.0),
        ("cache memory > 85%", "redis", REDIS, "value.memory_pct", 85.0),
        ("cache value.default_depth > 1000", "redis", REDIS, "value.default_depth", 1000.0),
        ("cert days_left < 14", "tls", TLS, "value.days_left", 14.0),
        ("cert chain_valid == false", "tls", TLS, "value.chain_valid", False),
        ("job exit_code != 0", "command", frozenset({"exit_code"}), "value.exit_code", 0.0),
        ("app memory_pct > 85", "metric", METRIC, "value.memory_pct", 85.0),
        ("app memory > 85%", "metric", METRIC, "value.memory_pct", 85.0),
        ("app auth_failures_per_min > 10", "metric", METRIC, "value.auth_failures_per_min", 10.0),
        ("app failure_ratio > 1%", "metric", METRIC, "value.failure_ratio", 0.01),
        ("app failure_ratio > 0.05", "metric", METRIC, "value.failure_ratio", 0.05),
        ("app anything > 3", "metric", None, "value.anything", 3.0),
    ],
)
def test_it_resolves_against_what_the_kind_measures(
    text: str,
    kind: str,
    values: frozenset[str] | None,
    metric: str | None,
    threshold: float | bool | None,
) -> None:
    resolved = resolve(parse_alert_expr(text), kind=kind, values=values, fractions=FRACTIONS)
    assert (resolved.metric, resolved.threshold) == (metric, threshold)
    assert resolved.text == text
    again = resolve(resolved, kind=kind, values=values, fractions=FRACTIONS)
    assert again == resolved


PG_MEASURES = (
    "a postgres check measures connections_used, connections_max, connections_pct, "
    "longest_query_s, idle_in_transaction, replication_lag_s "
    "(and latency, p50, p90, p95, p99, avg, availability, error_rate)"
)


@pytest.mark.parametrize(
    ("text", "kind", "values", "message"),
    [
        (
            "api late",
            "http",
            NONE,
            "'api late': 'late' is only for heartbeat checks; api is an http check "
            "(use down, up, degraded or failing)",
        ),
        (
            "beat degraded",
            "heartbeat",
            NONE,
            "'beat degraded': a heartbeat check is up, late or down, never degraded "
            "(use down, up, late, failing)",
        ),
        (
            "beat p95 > 2s",
            "heartbeat",
            NONE,
            "'beat p95 > 2s': a heartbeat check measures no metrics, it is only pinged "
            "(use a state: down, up, late, failing, e.g. 'beat late')",
        ),
        (
            "gw status >= 500",
            "tcp",
            NONE,
            "'gw status >= 500': status is the HTTP status and gw is a tcp check (a tcp check "
            "measures latency, p50, p90, p95, p99, avg, availability, error_rate)",
        ),
        (
            "api depth > 3",
            "http",
            NONE,
            "'api depth > 3': an http check measures latency, p50, p90, p95, p99, avg, "
            "availability, error_rate, status, not 'depth'",
        ),
        (
            "db connections > 8",
            "postgres",
            PG,
            f"'db connections > 8': {PG_MEASURES}, not 'connections'; "
            "did you mean connections_pct?",
        ),
        (
            "db value.connections > 80%",
            "postgres",
            PG,
            f"'db value.connections > 80%': {PG_MEASURES}, not 'connections'; "
            "did you mean connections_pct?",
        ),
        (
            "db days_left < 14",
            "postgres",
            PG,
            f"'db days_left < 14': {PG_MEASURES}, not 'days_left'",
        ),
        (
            "db connections_used > 80%",
            "postgres",
            PG,
            "'db connections_used > 80%': connections_used is not a percentage (drop the % and "
            "compare a number, or compare a value ending in _pct)",
        ),
        (
            "db connections_pct > 150",
            "postgres",
            PG,
            "'db connections_pct > 150': '150' is out of range "
            "(connections_pct is between 0 and 100)",
        ),
        (
            "db connections_pct <= 100",
            "postgres",
            PG,
            "'db connections_pct <= 100': connections_pct <= 100 is always true "
            "(connections_pct is between 0 and 100)",
        ),
        (
            "cert days_left == true",
            "tls",
            TLS,
            "'cert days_left == true': days_left is a number, not true or false",
        ),
        (
            "cert chain_valid < 3",
            "tls",
            TLS,
            "'cert chain_valid < 3': chain_valid is true or false "
            "(write 'cert chain_valid == false')",
        ),
        (
            "app failure_ratio > 2",
            "metric",
            METRIC,
            "'app failure_ratio > 2': '2' is out of range (failure_ratio is between 0 and 1)",
        ),
        (
            "app payments > 1",
            "metric",
            NONE,
            "'app payments > 1': a metric check measures latency, p50, p90, p95, p99, avg, "
            "availability, error_rate and the values under its metric.values, not 'payments'",
        ),
    ],
)
def test_it_refuses_what_the_kind_cannot_measure(
    text: str, kind: str, values: frozenset[str], message: str
) -> None:
    with pytest.raises(ValueError) as info:
        resolve(parse_alert_expr(text), kind=kind, values=values, fractions=FRACTIONS)
    assert str(info.value) == message


# Typos in when: each is refused, and any expression the message tells you to write is accepted
# (issue 10: 'api status = = 500' used to suggest 'api status == = 500', itself refused).
MALFORMED_WHEN = [
    "api status = = 500",
    "api status = == 500",
    "api status === 500",
    "api status = 500",
    "api status=500",
    "api p95>2s",
    "api p95 >2s",
    "api p95> 2s",
    "api p95 =< 2s",
    "api p95 => 2s",
    "api status =! 500",
    "api status <> 500",
    "api status ! 500",
    "api p95 >2 s",
    "api p95>potato",
    "api p95 >2s for 5m",
    "api p95 > 2s for 5m",
    "api down for 5m",
    "api p95 >",
    "api error_rate >5",
]


@pytest.mark.parametrize("text", MALFORMED_WHEN)
def test_every_expression_a_message_tells_you_to_write_is_accepted(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_alert_expr(text)
    message = str(info.value)
    for proposed in re.findall(r"write (?:when: )?'([^']*)'", message):
        parse_alert_expr(proposed)  # raises if the correction is itself refused


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "api status = = 500",
            "'api status = = 500': '= =' is not an operator; write 'api status == 500'",
        ),
        (
            "api status <> 500",
            "'api status <> 500': '<>' is not an operator; write 'api status != 500'",
        ),
        ("api p95>potato", "'api p95>potato': put a space on each side of '>'"),
        (
            "api p95 >2s for 5m",
            "'api p95 >2s for 5m': 'for' is a key of its own: move it to for: '5m'",
        ),
    ],
)
def test_a_correction_is_offered_only_when_it_is_valid(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_alert_expr(text)
    assert str(info.value) == message
