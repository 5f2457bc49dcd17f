"""Each public component's response time: the p95 latency of its checks over the last 24 hours,
from the checks' hour rollups, as the admin overview computes it (``checks.rollups``
``window_stats`` over the hour rows of ``[this hour - 23 h, now)``), so the badge and the
overview's p95 column agree.

A component with several checks reports its slowest check's p95 (worst wins, as its
availability is its least available check's); one whose checks have no result in the window
has None ("no data"). One query for every component.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.checks.rollups import RollupRow, bucket_start, from_json, window_stats
from opsbook.checks.tables import check_rollup
from opsbook.config import Config
from opsbook.statuspage.snapshot import ComponentView

WINDOW_HOURS = 24


def window_start(now: datetime) -> datetime:
    """The first hour row of the window: the current hour and the 23 before it."""
    return bucket_start(now, "hour") - timedelta(hours=WINDOW_HOURS - 1)


def read_p95(
    conn: Connection, check_ids: Sequence[str], *, now: datetime
) -> dict[str, float | None]:
    """Each check's p95 in ms over the window; None for a check without results in it."""
    start = window_start(now)
    rows: dict[str, list[RollupRow]] = defaultdict(list)
    if check_ids:
        t = check_rollup.c
        query = sa.select(check_rollup).where(
            t.resolution == "hour", t.bucket_start >= start, t.check_id.in_(list(check_ids))
        )
        for row in conn.execute(query):
            rows[row.check_id].append(
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
            )
    return {c: window_stats(rows.get(c, ()), start=start, end=now).p95_ms for c in check_ids}


def with_latency(
    conn: Connection, config: Config, components: Sequence[ComponentView], *, now: datetime
) -> list[ComponentView]:
    """``components`` with ``response_p95_ms`` set (``build.snapshot_from`` calls this)."""
    checks = sorted({c for view in components for c in config.components[view.id].checks})
    p95 = read_p95(conn, checks, now=now)
    out = []
    for view in components:
        known = [v for c in config.components[view.id].checks if (v := p95.get(c)) is not None]
        out.append(replace(view, response_p95_ms=max(known) if known else None))
    return out
