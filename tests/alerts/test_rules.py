"""Verdicts of ``when:`` expressions over real stored results, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from opsbook.alerts.rules import Verdict, verdict
from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State, Value
from opsbook.config.alert_expr import AlertExpr, parse_alert_expr

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
s = timedelta(seconds=1)
m = timedelta(minutes=1)


def result(
    at: datetime,
    state: State = State.UP,
    *,
    check_id: str = "api",
    latency_ms: float = 120.0,
    status: int | None = 200,
    error: str | None = None,
    failed: tuple[str, ...] = (),
    values: dict[str, Value] | None = None,
) -> ProbeResult:
    return ProbeResult(
        check_id=check_id,
        started_at=at,
        state=state,
        latency_ms=latency_ms,
        error=error,
        failed_conditions=failed,
        status=status,
        values=values or {},
    )


def store(engine: Engine, results: Sequence[ProbeResult]) -> None:
    with engine.begin() as conn:
        service.record_results(conn, results=results, intervals={"api": 10 * s})


def judge(engine: Engine, text: str, got: ProbeResult | None, now: datetime = T0) -> Verdict:
    if got is not None:
        store(engine, [got])
    with engine.connect() as conn:
        return verdict(conn, parse_alert_expr(text), result=got, now=now)


DOWN_500 = result(T0, State.DOWN, status=500, failed=("[STATUS] (500) == 200",))
REFUSED = result(T0, State.DOWN, status=None, error="connect to 10.0.0.5:443 refused")
DEGRADED = result(T0, State.DEGRADED, failed=("[RESPONSE_TIME] (900) < 500",))
UP = result(T0)


@pytest.mark.parametrize(
    ("text", "got", "holds", "words"),
    [
        ("api down", DOWN_500, True, "[STATUS] (500) == 200"),
        ("api down", REFUSED, True, "connect to 10.0.0.5:443 refused"),
        ("api down", DEGRADED, False, "[RESPONSE_TIME] (900) < 500"),
        ("api down", UP, False, "up"),
        ("api failing", DEGRADED, True, "[RESPONSE_TIME] (900) < 500"),
        ("api failing", DOWN_500, True, "[STATUS] (500) == 200"),
        ("api failing", UP, False, "up"),
        ("api degraded", DEGRADED, True, "[RESPONSE_TIME] (900) < 500"),
        ("api up", UP, True, "up"),
        ("api up", DOWN_500, False, "[STATUS] (500) == 200"),
        ("api down", None, None, "no result yet"),
    ],
)
def test_state_words_read_the_result(
    engine: Engine, text: str, got: ProbeResult | None, holds: bool | None, words: str
) -> None:
    found = judge(engine, text, got)
    assert (found.holds, found.text) == (holds, words)


def test_a_down_verdict_keeps_what_was_observed(engine: Engine) -> None:
    found = judge(engine, "api down", DOWN_500)
    assert found.observed == {
        "check": "api",
        "state": "down",
        "latency_ms": 120.0,
        "status": 500,
        "error": None,
        "failed_conditions": ["[STATUS] (500) == 200"],
        "values": {},
    }


@pytest.mark.parametrize(
    ("status", "holds"),
    [("up", False), ("started", False), ("late", True), ("down", True)],
)
def test_late_reads_the_heartbeat_status(engine: Engine, status: str, holds: bool) -> None:
    state = {"up": State.UP, "started": State.UP, "late": State.DEGRADED, "down": State.DOWN}
    heartbeat = result(
        T0,
        state[status],
        check_id="nightly-backup",
        status=None,
        error="no ping since 2026-11-22T03:00:00Z" if holds else None,
        values={"status": status},
    )
    found = judge(engine, "nightly-backup late", heartbeat)
    assert found.holds is holds
    assert found.observed["heartbeat"] == status
    if holds:
        assert found.text == "no ping since 2026-11-22T03:00:00Z"


@pytest.mark.parametrize(
    ("text", "got", "holds", "words"),
    [
        ("api latency > 500ms", result(T0, latency_ms=2340.4), True, "latency (2,340 ms) > 500 ms"),
        ("api latency > 2s", result(T0, latency_ms=1999), False, "latency (1,999 ms) > 2,000 ms"),
        ("api latency > 50", result(T0, latency_ms=12.25), False, "latency (12.25 ms) > 50 ms"),
        ("api status >= 500", result(T0, status=503), True, "status (503) >= 500"),
        ("api status >= 500", result(T0, status=200), False, "status (200) >= 500"),
        ("api status >= 500", result(T0, status=None), None, "status was not measured"),
        (
            "queue value.depth > 1000",
            result(T0, values={"depth": 1234}),
            True,
            "depth (1,234) > 1,000",
        ),
        ("queue value.depth > 1000", result(T0, values={"depth": 3}), False, "depth (3) > 1,000"),
        ("queue value.depth > 1000", result(T0), None, "depth was not measured"),
        ("queue depth > 1000", result(T0, values={"depth": "1500"}), True, "depth (1500) > 1,000"),
        (
            "db connections_pct > 80",
            result(T0, values={"connections_pct": 85.5}),
            True,
            "connections_pct (85.5) > 80",
        ),
        ("cert days_left < 14", result(T0, values={"days_left": 9}), True, "days_left (9) < 14"),
        (
            "queue value.depth > 1000",
            result(T0, values={"depth": "lots"}),
            None,
            "depth (lots) cannot be compared with 1,000",
        ),
        (
            "queue value.depth > 1000",
            result(T0, values={"depth": True}),
            None,
            "depth (True) cannot be compared with 1,000",
        ),
    ],
)
def test_metrics_of_one_result(
    engine: Engine, text: str, got: ProbeResult, holds: bool | None, words: str
) -> None:
    found = judge(engine, text, got)
    assert (found.holds, found.text) == (holds, words)


def test_a_percent_value_is_shown_as_a_percent(engine: Engine) -> None:
    expr = AlertExpr(
        text="db connections > 80%",
        check="api",
        metric="value.connections_pct",
        op=">",
        threshold=80.0,
        percent=True,
    )
    got = result(T0, values={"connections_pct": 85})
    store(engine, [got])
    with engine.connect() as conn:
        found = verdict(conn, expr, result=got, now=T0)
    assert (found.holds, found.text) == (True, "connections_pct (85%) > 80%")
    assert found.observed["value"] == 85
    assert found.observed["threshold"] == 80.0


def test_a_ratio_against_a_percent_is_shown_as_a_percent(engine: Engine) -> None:
    # config stores "payment_failure_ratio > 1%" as 0.01, in the ratio's own unit.
    expr = AlertExpr(
        text="app payment_failure_ratio > 1%",
        check="api",
        metric="value.payment_failure_ratio",
        op=">",
        threshold=0.01,
        percent=True,
    )
    got = result(T0, values={"payment_failure_ratio": 0.0125})
    store(engine, [got])
    with engine.connect() as conn:
        found = verdict(conn, expr, result=got, now=T0)
    assert (found.holds, found.text) == (True, "payment_failure_ratio (1.25%) > 1%")


def test_a_stored_result_is_judged_like_a_fresh_one(engine: Engine) -> None:
    store(engine, [DOWN_500])
    with engine.connect() as conn:
        (stored,) = service.recent_results(conn, check_id="api", limit=1)
        found = verdict(conn, parse_alert_expr("api down"), result=stored, now=T0)
    assert (found.holds, found.text) == (True, "[STATUS] (500) == 200")


def five_minutes(
    latencies: Sequence[float], states: Sequence[State] | None = None
) -> list[ProbeResult]:
    """One result every 10 s over the 5 minutes before T0 + 5m."""
    states = states or [State.UP] * len(latencies)
    start = T0 + 5 * m - len(latencies) * 10 * s
    return [
        result(start + (i + 1) * 10 * s, state, latency_ms=latency)
        for i, (latency, state) in enumerate(zip(latencies, states, strict=True))
    ]


def window_verdict(engine: Engine, text: str, now: datetime = T0 + 5 * m) -> Verdict:
    with engine.connect() as conn:
        return verdict(conn, parse_alert_expr(text), result=None, now=now)


def test_p95_over_the_window(engine: Engine) -> None:
    store(engine, five_minutes([100.0] * 27 + [3000.0] * 3))
    found = window_verdict(engine, "api p95 > 2s")
    assert found.holds is True
    value = found.observed["value"]
    assert isinstance(value, float) and abs(value - 3000) / 3000 < 0.05
    assert found.text == f"p95 ({value:,.0f} ms) > 2,000 ms"
    assert found.observed["results"] == 30
    assert window_verdict(engine, "api p50 > 2s").holds is False
    assert window_verdict(engine, "api p90 > 2s").holds is False
    assert window_verdict(engine, "api p99 > 2s").holds is True


def test_the_window_includes_the_minute_of_now(engine: Engine) -> None:
    # A result at exactly T0 + 5m, evaluated at that instant, is in the window.
    store(engine, [result(T0 + 5 * m, latency_ms=5000)])
    assert window_verdict(engine, "api p95 > 2s").holds is True


def test_results_older_than_the_window_do_not_count(engine: Engine) -> None:
    store(engine, [result(T0 - 10 * m, latency_ms=5000)])
    found = window_verdict(engine, "api p95 > 2s")
    assert (found.holds, found.text) == (None, "no results in the last 5m")
    assert window_verdict(engine, "api p95 > 2s over 30m").holds is True


def test_error_rate_is_the_share_of_down_results(engine: Engine) -> None:
    states = [State.UP] * 8 + [State.DOWN, State.DEGRADED]
    store(engine, five_minutes([100.0] * 10, states))
    found = window_verdict(engine, "api error_rate > 5%")
    assert (found.holds, found.text) == (True, "error_rate (10%) > 5%")
    assert window_verdict(engine, "api error_rate > 10%").holds is False


def test_availability_over_the_window(engine: Engine) -> None:
    store(engine, five_minutes([100.0] * 10, [State.UP] * 9 + [State.DOWN]))
    found = window_verdict(engine, "api availability < 99.9% over 5m")
    assert found.holds is True
    assert found.text == "availability (90%) < 99.9%"
    assert window_verdict(engine, "api avg > 99ms").text == "avg (100 ms) > 99 ms"


def test_an_empty_window_is_no_data(engine: Engine) -> None:
    found = window_verdict(engine, "api availability < 99.9%")
    assert (found.holds, found.text) == (None, "no results in the last 1h")
