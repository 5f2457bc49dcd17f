"""Histogram maths, time credit, and windows read back from stored rollups."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from opsbook.checks import rollups, service
from opsbook.checks.models import ProbeResult, State

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EVERY = timedelta(seconds=30)


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def _histogram(values: list[float]) -> rollups.Histogram:
    h: rollups.Histogram = {}
    for v in values:
        i = rollups.bucket_index(v)
        h[i] = h.get(i, 0) + 1
    return h


def test_the_stated_relative_error_is_under_five_percent() -> None:
    assert round(rollups.RELATIVE_ERROR, 4) == 0.0476


@pytest.mark.parametrize("value", [0.02, 0.5, 1.0, 9.99, 10.0, 123.4, 5000.0, 599_999.0])
def test_a_bucket_stands_for_its_values_within_the_stated_error(value: float) -> None:
    represented = rollups.bucket_value(rollups.bucket_index(value))
    assert abs(represented - value) / value <= rollups.RELATIVE_ERROR + 1e-9


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_percentiles_of_a_known_distribution_are_within_the_stated_error(q: float) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(math.log(40), 0.8) for _ in range(20_000)]
    estimate = rollups.percentile(_histogram(values), q)
    exact = _exact(values, q)
    assert estimate is not None
    assert abs(estimate - exact) / exact <= rollups.RELATIVE_ERROR


def test_histograms_merge_by_addition() -> None:
    rng = random.Random(3)
    a = [rng.uniform(1, 500) for _ in range(1000)]
    b = [rng.uniform(100, 5000) for _ in range(1000)]
    assert rollups.merge([_histogram(a), _histogram(b)]) == _histogram(a + b)
    assert rollups.from_json(rollups.to_json(_histogram(a))) == _histogram(a)


def test_an_empty_histogram_has_no_percentile() -> None:
    assert rollups.percentile({}, 0.95) is None


def test_the_maximum_caps_a_percentile() -> None:
    # Just above a bucket's lower edge, the bucket's value would read higher than the maximum.
    value = rollups.MIN_MS * rollups.GROWTH**50 * 1.01
    assert rollups.percentile(_histogram([value]), 0.99) > value  # type: ignore[operator]
    assert rollups.percentile(_histogram([value]), 0.99, max_ms=value) == value


@pytest.mark.parametrize(
    ("previous", "expected_s"),
    [
        (None, 30.0),  # first result: one interval
        (T0 - timedelta(seconds=30), 30.0),
        (T0 - timedelta(seconds=5), 5.0),  # a retry: only the time since the last probe
        (T0 - timedelta(seconds=60), 60.0),  # one missed probe is still covered
        (T0 - timedelta(seconds=61), 30.0),  # a longer gap is no data, not up
        (T0 - timedelta(hours=3), 30.0),
        (T0 + timedelta(seconds=1), 30.0),  # clock went backwards
    ],
)
def test_a_result_covers_the_gap_up_to_twice_the_interval(
    previous: datetime | None, expected_s: float
) -> None:
    assert rollups.covered_seconds(started_at=T0, previous_at=previous, every=EVERY) == expected_s


def _result(at: datetime, state: State = State.UP, latency_ms: float = 20.0) -> ProbeResult:
    return ProbeResult(check_id="api", started_at=at, state=state, latency_ms=latency_ms)


def _record(engine: Engine, results: list[ProbeResult]) -> None:
    with engine.begin() as conn:
        service.record_results(conn, results=results, intervals={"api": EVERY})


def test_a_window_counts_states_and_reads_percentiles_from_rollups(engine: Engine) -> None:
    results = [_result(T0 + i * EVERY, latency_ms=10.0 + i) for i in range(100)]
    results[40] = _result(T0 + 40 * EVERY, State.DOWN, 5000.0)
    results[41] = _result(T0 + 41 * EVERY, State.DEGRADED, 900.0)
    # Two flushes: the second must add to the rollup rows the first wrote.
    _record(engine, results[:50])
    _record(engine, results[50:])
    with engine.connect() as conn:
        stats = service.window(conn, check_id="api", start=T0, end=T0 + 100 * EVERY)
    assert (stats.n_up, stats.n_degraded, stats.n_down) == (98, 1, 1)
    assert stats.down_seconds == 30.0
    assert stats.no_data_seconds == 0.0
    assert stats.availability == pytest.approx(99.0)
    latencies = [r.latency_ms for r in results]
    for q, got in ((0.5, stats.p50_ms), (0.95, stats.p95_ms), (0.99, stats.p99_ms)):
        assert got is not None
        assert abs(got - _exact(latencies, q)) / _exact(latencies, q) <= rollups.RELATIVE_ERROR
    assert stats.max_ms == 5000.0


def test_time_when_opsbook_was_not_running_is_no_data_not_up(engine: Engine) -> None:
    before = [_result(T0 + i * EVERY) for i in range(60)]  # 30 minutes watched
    after = [_result(T0 + timedelta(hours=1) + i * EVERY) for i in range(60)]  # 30 more
    _record(engine, before)
    _record(engine, after)
    with engine.connect() as conn:
        stats = service.window(conn, check_id="api", start=T0, end=T0 + timedelta(minutes=90))
    assert stats.availability == 100.0
    # 30 min watched + 30 min watched; the 30 min gap counts as no data.
    assert stats.up_seconds == pytest.approx(3600.0)
    assert stats.no_data_seconds == pytest.approx(1800.0)


def test_a_long_window_reads_day_hour_and_minute_rollups(engine: Engine) -> None:
    _record(
        engine,
        [_result(T0 + i * EVERY, State.DOWN if i % 4 == 0 else State.UP) for i in range(240)],
    )
    with engine.connect() as conn:
        stats = service.window(
            conn, check_id="api", start=T0 - timedelta(days=29), end=T0 + timedelta(days=1)
        )
    assert "day" in [res for res, _, _ in rollups.window_plan(stats.start, stats.end)]
    assert (stats.n_up, stats.n_down) == (180, 60)
    assert stats.availability == pytest.approx(75.0)
    assert stats.no_data_seconds == pytest.approx(30 * 86400 - 240 * 30)


def test_a_window_with_no_results_has_no_availability(engine: Engine) -> None:
    with engine.connect() as conn:
        stats = service.window(conn, check_id="nope", start=T0, end=T0 + timedelta(hours=1))
    assert stats.availability is None
    assert stats.p95_ms is None
    assert stats.no_data_seconds == 3600.0


D = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "plan"),
    [
        # An hour inside one hour's span: minutes only.
        (D + timedelta(minutes=5), D + timedelta(minutes=65), [("minute", 5, 65)]),
        # Aligned whole days: day rows only.
        (D, D + timedelta(days=3), [("day", 0, 3 * 1440)]),
        # Unaligned 2 days: minutes to the hour, hours to midnight, a day, hours, minutes.
        (
            D + timedelta(hours=22, minutes=30),
            D + timedelta(days=2, hours=22, minutes=30),
            [
                ("minute", 22 * 60 + 30, 23 * 60),
                ("hour", 23 * 60, 1440),
                ("day", 1440, 2 * 1440),
                ("hour", 2 * 1440, 2 * 1440 + 22 * 60),
                ("minute", 2 * 1440 + 22 * 60, 2 * 1440 + 22 * 60 + 30),
            ],
        ),
        # Less than a day but more than an hour, unaligned: minutes, hours, minutes.
        (
            D + timedelta(hours=1, minutes=10),
            D + timedelta(hours=4, minutes=20),
            [("minute", 70, 120), ("hour", 120, 240), ("minute", 240, 260)],
        ),
    ],
)
def test_a_window_is_covered_exactly_by_the_fewest_rollup_rows(
    start: datetime, end: datetime, plan: list[tuple[str, int, int]]
) -> None:
    got = [
        (res, int((lo - D).total_seconds() // 60), int((hi - D).total_seconds() // 60))
        for res, lo, hi in rollups.window_plan(start, end)
    ]
    assert got == plan
