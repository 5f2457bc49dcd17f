"""Latency histograms and window statistics, computed from rollups. Pure: no I/O (R4).

Latencies are counted in fixed log-spaced buckets: bucket ``i >= 1`` holds values in
``(MIN_MS * GROWTH**(i-1), MIN_MS * GROWTH**i]`` and bucket 0 everything up to ``MIN_MS``.
Every histogram uses the same buckets, so two histograms merge by adding counts, and a
percentile read from a merged histogram is within ``RELATIVE_ERROR`` of the exact value
(the bucket is reported by the value whose relative distance to both edges is equal).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias

from opsbook.checks.models import State

Resolution: TypeAlias = Literal["minute", "hour", "day"]
Histogram: TypeAlias = dict[int, int]

MIN_MS = 0.01
GROWTH = 1.1
RELATIVE_ERROR = (GROWTH - 1) / (GROWTH + 1)
"""≈ 4.8 %: the worst relative error of a percentile read from a histogram."""

RESOLUTION_STEP: dict[Resolution, timedelta] = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}
_COARSER: dict[Resolution, Resolution] = {"minute": "hour", "hour": "day"}
_LOG_GROWTH = math.log(GROWTH)


def bucket_index(latency_ms: float) -> int:
    if latency_ms <= MIN_MS:
        return 0
    # The epsilon keeps exact bucket edges (MIN_MS * GROWTH**i) in bucket i despite rounding.
    return max(1, math.ceil(math.log(latency_ms / MIN_MS) / _LOG_GROWTH - 1e-9))


def bucket_value(index: int) -> float:
    """The value a bucket stands for: equally far, relatively, from both of its edges."""
    if index <= 0:
        return MIN_MS
    return 2 * MIN_MS * GROWTH**index / (GROWTH + 1)


def merge(histograms: Iterable[Mapping[int, int]]) -> Histogram:
    merged: Histogram = {}
    for histogram in histograms:
        for index, count in histogram.items():
            merged[index] = merged.get(index, 0) + count
    return merged


def percentile(
    histogram: Mapping[int, int], q: float, *, max_ms: float | None = None
) -> float | None:
    """The ``q`` quantile (0 < q <= 1, nearest rank) of the histogram, or None when it is empty.

    ``max_ms``, the largest value seen, caps the answer so p99 never reads above the maximum.
    """
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            value = bucket_value(index)
            return min(value, max_ms) if max_ms is not None else value
    raise AssertionError("rank is at most the total")  # pragma: no cover


def to_json(histogram: Mapping[int, int]) -> dict[str, int]:
    # JSON object keys are strings on both backends.
    return {str(index): count for index, count in sorted(histogram.items()) if count}


def from_json(raw: object) -> Histogram:
    if not isinstance(raw, dict):
        return {}
    return {int(k): int(v) for k, v in raw.items()}


def bucket_start(at: datetime, resolution: Resolution) -> datetime:
    at = at.astimezone(UTC)
    if resolution == "minute":
        return at.replace(second=0, microsecond=0)
    if resolution == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def _ceil(at: datetime, resolution: Resolution) -> datetime:
    floor = bucket_start(at, resolution)
    return floor if floor == at else floor + RESOLUTION_STEP[resolution]


Segment: TypeAlias = tuple[Resolution, datetime, datetime]


def window_plan(start: datetime, end: datetime) -> list[Segment]:
    """The rollup rows that cover ``[start, end)`` with the fewest reads.

    Whole days in the middle come from day rows, the whole hours around them from hour rows,
    and the partial hours at each edge from minute rows, so a 90-day window reads about 90 + 46
    + 118 rows instead of 2,160 hour rows, and its edges are exact to the minute. Each segment is
    ``(resolution, first bucket start, end)``; a bucket belongs to it when its start is inside.
    (Minute rollups outlive only ``retention.rollups_minute``: past that, an edge's partial hour
    reads nothing and counts as no data.)
    """
    cur = bucket_start(start, "minute")
    plan: list[Segment] = []
    level: Resolution = "minute"
    while level in _COARSER:
        coarser = _COARSER[level]
        boundary = _ceil(cur, coarser)
        if boundary + RESOLUTION_STEP[coarser] > end:
            break
        if boundary > cur:
            plan.append((level, cur, boundary))
        cur, level = boundary, coarser
    for finer in ("day", "hour", "minute"):
        if RESOLUTION_STEP[finer] > RESOLUTION_STEP[level]:
            continue
        stop = end if finer == "minute" else bucket_start(end, finer)
        if stop > cur:
            plan.append((finer, cur, stop))
            cur = stop
    return plan


@dataclass
class RollupDelta:
    """What a batch of results adds to one rollup row."""

    n_up: int = 0
    n_degraded: int = 0
    n_down: int = 0
    up_seconds: float = 0.0
    degraded_seconds: float = 0.0
    down_seconds: float = 0.0
    latency_sum_ms: float = 0.0
    latency_max_ms: float = 0.0
    histogram: Histogram | None = None

    def add(self, *, state: State, latency_ms: float, covered_s: float) -> None:
        if state is State.UP:
            self.n_up += 1
            self.up_seconds += covered_s
        elif state is State.DEGRADED:
            self.n_degraded += 1
            self.degraded_seconds += covered_s
        else:
            self.n_down += 1
            self.down_seconds += covered_s
        if self.histogram is None:
            self.histogram = {}
        index = bucket_index(latency_ms)
        self.histogram[index] = self.histogram.get(index, 0) + 1
        self.latency_sum_ms += latency_ms
        self.latency_max_ms = max(self.latency_max_ms, latency_ms)


def covered_seconds(
    *, started_at: datetime, previous_at: datetime | None, every: timedelta
) -> float:
    """How much time one result speaks for.

    A result stands for the time since the check's previous result, as long as that gap is at
    most twice the interval. After a longer gap (opsbook was down, the check was new or paused)
    it stands for one interval only and the rest of the gap stays "no data", never "up".
    """
    if previous_at is not None:
        gap = (started_at - previous_at).total_seconds()
        if 0 < gap <= 2 * every.total_seconds():
            return gap
    return every.total_seconds()


@dataclass(frozen=True)
class RollupRow:
    bucket_start: datetime
    n_up: int
    n_degraded: int
    n_down: int
    up_seconds: float
    degraded_seconds: float
    down_seconds: float
    histogram: Mapping[int, int]
    latency_sum_ms: float
    latency_max_ms: float


@dataclass(frozen=True)
class WindowStats:
    """One check over ``[start, end)``.

    ``availability`` is (up + degraded time) / observed time in percent, None when nothing was
    observed. Observed time is the time credited by results; the rest is ``no_data_seconds``.
    Percentiles are in ms, within ``RELATIVE_ERROR`` of the exact value.
    """

    start: datetime
    end: datetime
    n_up: int
    n_degraded: int
    n_down: int
    up_seconds: float
    degraded_seconds: float
    down_seconds: float
    no_data_seconds: float
    availability: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    max_ms: float | None
    p90_ms: float | None = None

    @property
    def n_results(self) -> int:
        return self.n_up + self.n_degraded + self.n_down


def window_stats(rows: Iterable[RollupRow], *, start: datetime, end: datetime) -> WindowStats:
    rows = list(rows)
    n_up = sum(r.n_up for r in rows)
    n_degraded = sum(r.n_degraded for r in rows)
    n_down = sum(r.n_down for r in rows)
    up = sum(r.up_seconds for r in rows)
    degraded = sum(r.degraded_seconds for r in rows)
    down = sum(r.down_seconds for r in rows)
    length = max(0.0, (end - start).total_seconds())
    # A result's credit can reach back before the window start; never report more than the window.
    observed = min(up + degraded + down, length)
    scale = observed / (up + degraded + down) if up + degraded + down else 0.0
    histogram = merge(r.histogram for r in rows)
    n = n_up + n_degraded + n_down
    max_ms = max((r.latency_max_ms for r in rows), default=None) if n else None
    return WindowStats(
        start=start,
        end=end,
        n_up=n_up,
        n_degraded=n_degraded,
        n_down=n_down,
        up_seconds=up * scale,
        degraded_seconds=degraded * scale,
        down_seconds=down * scale,
        no_data_seconds=length - observed,
        availability=100 * (up + degraded) / (up + degraded + down) if observed else None,
        p50_ms=percentile(histogram, 0.50, max_ms=max_ms),
        p95_ms=percentile(histogram, 0.95, max_ms=max_ms),
        p99_ms=percentile(histogram, 0.99, max_ms=max_ms),
        mean_ms=sum(r.latency_sum_ms for r in rows) / n if n else None,
        max_ms=max_ms,
        p90_ms=percentile(histogram, 0.90, max_ms=max_ms),
    )
