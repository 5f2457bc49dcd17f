"""Retention deletes exactly what is older than its setting, and keeps failures longer."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State
from opsbook.checks.retention import prune, retention_loop
from opsbook.checks.tables import check_result, check_rollup
from opsbook.clock import FrozenClock
from opsbook.config import loads
from opsbook.config.engine import RetentionConfig, SchedulerConfig
from opsbook.errors import ConfigError

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
RETENTION = RetentionConfig.model_validate(
    {"raw": "2h", "failures": "1d", "rollups_minute": "3h", "rollups_hour": "2d"}
)


def _seed(engine: Engine) -> None:
    # Every 10 minutes for 3 days; every 6th result is down.
    results = [
        ProbeResult(
            check_id="api",
            started_at=NOW - timedelta(minutes=10 * i),
            state=State.DOWN if i % 6 == 0 else State.UP,
            latency_ms=5.0,
        )
        for i in range(1, 3 * 144 + 1)
    ]
    with engine.begin() as conn:
        service.record_results(conn, results=results, intervals={"api": timedelta(minutes=10)})


def _rows(engine: Engine) -> list[tuple[datetime, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(check_result.c.started_at, check_result.c.is_change)).all()
    return [(r.started_at, r.is_change) for r in rows]


def _rollups(engine: Engine, resolution: str) -> list[datetime]:
    t = check_rollup.c
    with engine.connect() as conn:
        return list(conn.scalars(sa.select(t.bucket_start).where(t.resolution == resolution)))


def test_it_deletes_what_is_older_than_each_setting(engine: Engine) -> None:
    _seed(engine)
    before = _rows(engine)
    pruned = prune(engine, retention=RETENTION, now=NOW, batch=7)
    after = _rows(engine)
    expected = [
        (at, change)
        for at, change in before
        if at >= NOW - timedelta(days=1) and (change or at >= NOW - timedelta(hours=2))
    ]
    assert sorted(after) == sorted(expected)
    assert pruned.raw + pruned.failures == len(before) - len(after)
    assert pruned.failures > 0 and pruned.raw > 0
    assert min(_rollups(engine, "minute")) >= NOW - timedelta(hours=3)
    assert min(_rollups(engine, "hour")) >= NOW - timedelta(days=2)
    assert pruned.rollups_minute > 0 and pruned.rollups_hour > 0


def test_a_second_run_deletes_nothing(engine: Engine) -> None:
    _seed(engine)
    prune(engine, retention=RETENTION, now=NOW)
    again = prune(engine, retention=RETENTION, now=NOW)
    assert (again.raw, again.failures, again.rollups_minute, again.rollups_hour) == (0, 0, 0, 0)


async def test_the_loop_prunes_at_start(engine: Engine) -> None:
    _seed(engine)
    task = asyncio.create_task(
        retention_loop(
            engine, retention=RETENTION, clock=FrozenClock(NOW), every=timedelta(hours=1)
        )
    )
    for _ in range(200):
        await asyncio.sleep(0.02)
        if all(at >= NOW - timedelta(days=1) for at, _ in _rows(engine)):
            break
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert all(at >= NOW - timedelta(days=1) for at, _ in _rows(engine))


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        (
            "retention:\n  raw: 3d\n  failures: 1d\n",
            "opsbook.yaml:4:13: retention.failures: failures (1d) must be at least raw (3d): "
            "failures are kept longer, not shorter",
        ),
        ("retention:\n  raw: 0s\n", "opsbook.yaml:3:8: retention.raw: raw must be longer than 0s"),
        (
            "scheduler:\n  concurrency: 0\n",
            "opsbook.yaml:3:16: scheduler.concurrency: must be at least 1, got 0",
        ),
        (
            "scheduler:\n  flush_every: soon\n",
            "opsbook.yaml:3:16: scheduler.flush_every: "
            "'soon' is not a duration (use e.g. 30s, 5m, 1h)",
        ),
        (
            "scheduler:\n  flush_evry: 1s\n",
            "opsbook.yaml:3:3: scheduler.flush_evry: "
            "unknown key 'flush_evry' (did you mean 'flush_every'?)",
        ),
    ],
)
def test_it_rejects_engine_settings_that_make_no_sense(yaml: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads("service: t\n" + yaml, file="opsbook.yaml")
    assert [str(p) for p in caught.value.problems] == [message]


def test_the_defaults() -> None:
    r = RetentionConfig()
    assert (r.raw, r.failures, r.rollups_minute, r.rollups_hour) == (
        timedelta(hours=48),
        timedelta(days=90),
        timedelta(days=14),
        timedelta(days=400),
    )


def test_the_scheduler_defaults_flush_often_enough_to_keep_lateness_low() -> None:
    s = SchedulerConfig()
    assert (s.concurrency, s.flush_every, s.flush_max) == (64, timedelta(milliseconds=250), 500)
