"""The check page's series: latency percentiles and availability per time step over a window,
from rollups (never raw results).

Each window reads one rollup resolution and groups its buckets into steps (``WINDOWS``): 1 h is
60 one-minute steps, 24 h 144 ten-minute steps, 7 d 168 hours, 30 d 120 six-hour steps, so a
chart has 60 to 170 points whatever the probe interval. Steps are aligned to UTC multiples of
their length and the last one holds now.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.checks.rollups import Resolution, RollupRow, from_json, merge, percentile
from opsbook.checks.tables import check_rollup

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WindowSpec:
    length: timedelta
    resolution: Resolution
    step: timedelta


WINDOWS: dict[str, WindowSpec] = {
    "1h": WindowSpec(timedelta(hours=1), "minute", timedelta(minutes=1)),
    "24h": WindowSpec(timedelta(hours=24), "minute", timedelta(minutes=10)),
    "7d": WindowSpec(timedelta(days=7), "hour", timedelta(hours=1)),
    "30d": WindowSpec(timedelta(days=30), "hour", timedelta(hours=6)),
}


@dataclass(frozen=True)
class Point:
    start: datetime
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    availability: float | None
    """Percent of the observed time up or degraded; None with nothing observed."""


def grid(spec: WindowSpec, now: datetime) -> tuple[datetime, int]:
    """(first step's start, number of steps): whole steps, the last one holding ``now``."""
    steps_since_epoch = (now - EPOCH) // spec.step
    last = EPOCH + steps_since_epoch * spec.step
    count = round(spec.length / spec.step)
    return last - (count - 1) * spec.step, count


def points(
    rows: Iterable[RollupRow], *, start: datetime, step: timedelta, count: int
) -> list[Point]:
    """Group ``rows`` into ``count`` steps from ``start``; rows outside are ignored."""
    groups: list[list[RollupRow]] = [[] for _ in range(count)]
    for row in rows:
        index = (row.bucket_start - start) // step
        if 0 <= index < count:
            groups[index].append(row)
    found = []
    for i, group in enumerate(groups):
        histogram = merge(r.histogram for r in group)
        n = sum(r.n_up + r.n_degraded + r.n_down for r in group)
        max_ms = max((r.latency_max_ms for r in group), default=None) if n else None
        good = sum(r.up_seconds + r.degraded_seconds for r in group)
        observed = good + sum(r.down_seconds for r in group)
        found.append(
            Point(
                start=start + i * step,
                p50_ms=percentile(histogram, 0.50, max_ms=max_ms),
                p95_ms=percentile(histogram, 0.95, max_ms=max_ms),
                p99_ms=percentile(histogram, 0.99, max_ms=max_ms),
                availability=100 * good / observed if observed else None,
            )
        )
    return found


def read_points(conn: Connection, *, check_id: str, spec: WindowSpec, now: datetime) -> list[Point]:
    start, count = grid(spec, now)
    t = check_rollup
    query = sa.select(t).where(
        t.c.check_id == check_id,
        t.c.resolution == spec.resolution,
        t.c.bucket_start >= start,
        t.c.bucket_start < start + count * spec.step,
    )
    rows = [
        RollupRow(
            bucket_start=row.bucket_start,
            n_up=row.n_up,
            n_degraded=row.n_degraded,
            n_down=row.n_down,
            up_seconds=row.up_seconds,
            degraded_seconds=row.degraded_seconds,
            down_seconds=row.down_seconds,
            histogram=from_json(row.histogram),
            latency_sum_ms=row.latency_sum_ms,
            latency_max_ms=row.latency_max_ms,
        )
        for row in conn.execute(query)
    ]
    return points(rows, start=start, step=spec.step, count=count)


def chart_json(found: list[Point]) -> dict[str, list[float | None]]:
    """uPlot's columns: unix seconds, then p50, p95 and p99 in ms (null where no data)."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "t": [p.start.timestamp() for p in found],
        "p50": [ms(p.p50_ms) for p in found],
        "p95": [ms(p.p95_ms) for p in found],
        "p99": [ms(p.p99_ms) for p in found],
    }
