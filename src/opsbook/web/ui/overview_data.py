"""What the overview shows, read with a bounded number of queries whatever the number of checks.

One query per kind, never one per check: states (``check_state``), the last 24 hours of hour
rollups (sparkline, p95, availability 24 h), the day rollups of 30 days summed per check
(availability 30 d), firing alerts, open incidents, and one row of change markers. On-call comes
from the config (pure). 1,000 checks cost the same round trips as one.

The rollup part (the heavy one: 24 hour rows and their histograms per check) is kept for
``STATS_TTL_S``; when the rest is read again is ``overview_cache``'s rule (at once when a check
changes state or an alert or incident event is written). The windows are whole hours and days:
"24 h" is the current hour and the 23 before it, "30 d" today and the 29 days before (the same
rollups the API reads, at coarser edges).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.maintenance import covers, open_windows
from opsbook.alerts.models import Alert, AlertStatus
from opsbook.alerts.service import count_by_status, list_alerts
from opsbook.alerts.tables import alert_event
from opsbook.checks import service as checks_service
from opsbook.checks.models import State
from opsbook.checks.rollups import (
    RollupRow,
    WindowStats,
    bucket_start,
    from_json,
    merge,
    window_stats,
)
from opsbook.checks.service import CheckStatus
from opsbook.checks.tables import check_result, check_rollup, check_state
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.incidents import Incident
from opsbook.incidents.overrides import overrides_by_schedule
from opsbook.incidents.records import list_incidents
from opsbook.incidents.tables import incident_event
from opsbook.oncall import who
from opsbook.store.audit import audit_event
from opsbook.web.ui.sparkline import Sparkline, sparkline

STATS_TTL_S = 60.0
LIST_LIMIT = 50
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class CheckRow:
    id: str
    kind: str
    target: str
    state: str
    """``up``, ``degraded``, ``down``, ``maintenance`` or ``no data``."""
    since: datetime | None
    last_latency_ms: float | None
    last_error: str | None
    spark: Sparkline
    p95_ms: float | None
    p95_slo_ms: float | None
    availability_24h: float | None
    availability_30d: float | None

    @property
    def p95_met(self) -> bool | None:
        if self.p95_ms is None or self.p95_slo_ms is None:
            return None
        return self.p95_ms <= self.p95_slo_ms


@dataclass(frozen=True)
class OnCallRow:
    schedule: str
    person: str
    name: str
    until: datetime
    override: bool


@dataclass(frozen=True)
class Overview:
    now: datetime
    firing: list[Alert]
    firing_total: int
    incidents: list[Incident]
    oncall: list[OnCallRow]


@dataclass(frozen=True)
class CheckStats:
    spark: Sparkline
    day: WindowStats
    availability_30d: float | None


@dataclass(frozen=True)
class Settled:
    """Rollups old enough that no new result lands in them any more, read once per hour:
    the hour rows of the 24 h window but the last two hours, and the day sums of the 30 d
    window but the last two days (a probe started before a boundary is written after it)."""

    hour0: datetime
    day0: datetime
    hours: dict[str, RollupRow]
    """Per check, its settled hour rows summed into one (``window_stats`` only sums them)."""
    samples: dict[str, list[tuple[datetime, float]]]
    """Per check, the settled hours' mean latency at each hour's middle (the sparkline)."""
    days: dict[str, tuple[float, float]]
    """Per check: (seconds up or degraded, seconds with any state)."""

    def is_current(self, now: datetime) -> bool:
        """Read in ``now``'s hour and day: nothing it holds has moved into the recent part."""
        return (self.hour0, self.day0) == (bucket_start(now, "hour"), bucket_start(now, "day"))


StateMarks = Mapping[str, tuple[str, datetime]]
"""Each check's (state, changed_at), as ``check_state`` holds them."""


def state_marks(states: Iterable[CheckStatus]) -> dict[str, tuple[str, datetime]]:
    return {s.check_id: (s.state.value, s.changed_at) for s in states}


@dataclass(frozen=True)
class _Stats:
    at_monotonic: float
    states: StateMarks
    """Each check's state when its figures were read."""
    by_check: dict[str, CheckStats]
    settled: Settled


class StatsCache:
    """The rollup statistics of every check, recomputed at most every ``ttl_s``, and for a
    check that has changed state since, at once.

    One caller recomputes while the others keep the previous figures (never a stampede of
    20 renders each reading 24,000 rollup rows), and a recomputation reads only the recent
    rollups (``Settled``): about 100 ms with 1,000 checks. A state change cannot wait: a
    check shown down beside "100 %" over 24 hours contradicts itself, and the result that
    changed the state is already in the rollups (``record_results`` writes both in one
    transaction). So the figures of the checks that changed are read again before the page is
    answered, and only theirs (two indexed queries, about a millisecond for one check); new
    results that change no state still wait for ``ttl_s``.
    """

    def __init__(self, *, clock: Clock, ttl_s: float = STATS_TTL_S) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._stats: _Stats | None = None

    def get(
        self, conn: Connection, *, config: Config, now: datetime, states: StateMarks
    ) -> dict[str, CheckStats]:
        """The figures: all read again if they are older than ``ttl_s``, and those of the
        checks whose mark in ``states`` differs from the one they were read at, first."""
        stats = self._stats
        changed = _changed(stats.states, states) if stats is not None else None
        if stats is not None and not changed and not self._expired(stats):
            return stats.by_check
        # Figures merely old are served while one caller reads new ones; figures from before
        # a state change are not.
        if not self._lock.acquire(blocking=stats is None or bool(changed)):
            assert stats is not None  # only a non-blocking acquire can fail
            return stats.by_check
        try:
            stats = self._stats
            if stats is None or self._expired(stats) or not stats.settled.is_current(now):
                by_check, settled = read_stats(
                    conn, config=config, now=now, settled=stats.settled if stats else None
                )
                stats = _Stats(self.clock.monotonic(), dict(states), by_check, settled)
            elif changed := _changed(stats.states, states):
                fresh, _ = read_stats(
                    conn, config=config, now=now, settled=stats.settled, only=changed
                )
                stats = _Stats(
                    stats.at_monotonic,
                    {**stats.states, **{c: states[c] for c in changed}},
                    {**stats.by_check, **fresh},
                    stats.settled,
                )
            self._stats = stats
            return stats.by_check
        finally:
            self._lock.release()

    def _expired(self, stats: _Stats) -> bool:
        return self.clock.monotonic() - stats.at_monotonic >= self.ttl_s


def _changed(before: StateMarks, now: StateMarks) -> set[str]:
    return {check_id for check_id, mark in now.items() if before.get(check_id) != mark}


def _hour_rows(
    conn: Connection,
    config: Config,
    *,
    start: datetime,
    end: datetime | None = None,
    only: Collection[str] | None = None,
) -> dict[str, list[RollupRow]]:
    t = check_rollup.c
    rows: dict[str, list[RollupRow]] = defaultdict(list)
    query = sa.select(check_rollup).where(t.resolution == "hour", t.bucket_start >= start)
    if end is not None:
        query = query.where(t.bucket_start < end)
    if only is not None:
        query = query.where(t.check_id.in_(sorted(only)))
    for row in conn.execute(query):
        if row.check_id in config.checks:
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
    return rows


def _day_sums(
    conn: Connection,
    *,
    start: datetime,
    end: datetime | None = None,
    only: Collection[str] | None = None,
) -> dict[str, tuple[float, float]]:
    t = check_rollup.c
    query = (
        sa.select(
            t.check_id,
            sa.func.sum(t.up_seconds + t.degraded_seconds).label("ok_s"),
            sa.func.sum(t.up_seconds + t.degraded_seconds + t.down_seconds).label("all_s"),
        )
        .where(t.resolution == "day", t.bucket_start >= start)
        .group_by(t.check_id)
    )
    if end is not None:
        query = query.where(t.bucket_start < end)
    if only is not None:
        query = query.where(t.check_id.in_(sorted(only)))
    return {row.check_id: (row.ok_s or 0.0, row.all_s or 0.0) for row in conn.execute(query)}


def read_stats(
    conn: Connection,
    *,
    config: Config,
    now: datetime,
    settled: Settled | None = None,
    only: Collection[str] | None = None,
) -> tuple[dict[str, CheckStats], Settled]:
    """Sparkline, 24 h window and 30 d availability of every configured check (of those in
    ``only`` when given), and the ``Settled`` part to pass next time: two queries, four when
    ``settled`` is None or from another hour. ``only`` needs a current ``settled``, which
    holds every check's older part."""
    hour0, day0 = bucket_start(now, "hour"), bucket_start(now, "day")
    day_start, month_start = hour0 - 23 * HOUR, day0 - 29 * DAY
    recent_hours, recent_days = hour0 - HOUR, day0 - DAY
    if only is not None and (settled is None or not settled.is_current(now)):
        raise ValueError("read_stats(only=...) needs the Settled part of this hour and day")
    if settled is None or not settled.is_current(now):
        old_hours = _hour_rows(conn, config, start=day_start, end=recent_hours)
        settled = Settled(
            hour0=hour0,
            day0=day0,
            hours={c: _summed(rows, start=day_start) for c, rows in old_hours.items()},
            samples={c: _samples(rows) for c, rows in old_hours.items()},
            days=_day_sums(conn, start=month_start, end=recent_days),
        )
    hour_rows = _hour_rows(conn, config, start=recent_hours, only=only)
    day_sums = _day_sums(conn, start=recent_days, only=only)
    out = {}
    for check_id in config.checks if only is None else [c for c in config.checks if c in only]:
        recent = hour_rows.get(check_id, [])
        old = settled.hours.get(check_id)
        hours = [old, *recent] if old is not None else recent
        old_ok, old_all = settled.days.get(check_id, (0.0, 0.0))
        new_ok, new_all = day_sums.get(check_id, (0.0, 0.0))
        all_s = old_all + new_all
        samples = settled.samples.get(check_id, []) + _samples(recent)
        out[check_id] = CheckStats(
            spark=sparkline(samples, start=day_start, end=day_start + 24 * HOUR),
            day=window_stats(hours, start=day_start, end=now),
            availability_30d=100 * (old_ok + new_ok) / all_s if all_s else None,
        )
    return out, settled


# Built once: constructing it costs more than running it (every request reads it).
_VERSION = sa.select(
    sa.select(sa.func.max(check_state.c.changed_at)).scalar_subquery(),
    sa.select(sa.func.count()).select_from(check_state).scalar_subquery(),
    sa.select(sa.func.count()).where(check_state.c.state == State.DOWN.value).scalar_subquery(),
    sa.select(sa.func.count()).where(check_state.c.state == State.DEGRADED.value).scalar_subquery(),
    sa.select(sa.func.max(alert_event.c.id)).scalar_subquery(),
    sa.select(sa.func.max(incident_event.c.id)).scalar_subquery(),
    sa.select(sa.func.max(check_result.c.id)).scalar_subquery(),
    sa.select(sa.func.max(audit_event.c.id)).scalar_subquery(),
)


def _samples(rows: Sequence[RollupRow]) -> list[tuple[datetime, float]]:
    return [
        (r.bucket_start + HOUR / 2, r.latency_sum_ms / n)
        for r in rows
        if (n := r.n_up + r.n_degraded + r.n_down)
    ]


def _summed(rows: Sequence[RollupRow], *, start: datetime) -> RollupRow:
    """``rows`` as one row: what ``window_stats`` reads of them (counts, seconds, histogram,
    latency sum and max) is their sum, or max. Refreshing the figures then merges three rows per
    check rather than 24 (with 1,000 checks the refresh held the GIL for most of a second)."""
    return RollupRow(
        bucket_start=start,
        n_up=sum(r.n_up for r in rows),
        n_degraded=sum(r.n_degraded for r in rows),
        n_down=sum(r.n_down for r in rows),
        up_seconds=sum(r.up_seconds for r in rows),
        degraded_seconds=sum(r.degraded_seconds for r in rows),
        down_seconds=sum(r.down_seconds for r in rows),
        histogram=merge(r.histogram for r in rows),
        latency_sum_ms=sum(r.latency_sum_ms for r in rows),
        latency_max_ms=max(r.latency_max_ms for r in rows),
    )


def read_version(conn: Connection) -> tuple[str, int]:
    """Change markers in one round trip: (what the page shows changed, newest result id).

    The first part moves when a check changes state, an alert or incident event is written
    (every alert transition and every incident change writes one) or a person's write is
    audited (a silence that mutes nothing yet, an on-call override, a retried notification);
    the second with every result. Each is the max of a primary key or an indexed column, but
    for the checks' states: ``check_state`` holds one row per check (it does not grow with
    history), and the newest ``changed_at`` alone misses a change whose probe started before
    the newest change recorded (a slow probe turning down after a fast one did). A change
    always moves a check into or out of down or degraded, so those two counts catch it
    (unless two such late changes cancel out between two reads: the page's TTL shows them).
    """
    row = conn.execute(_VERSION).one()
    changed_at, n_states, n_down, n_degraded, alert_id, incident_id, result_id, audit_id = row
    stamp = changed_at.isoformat() if changed_at is not None else "-"
    states = f"{stamp}.{n_states}.{n_down}.{n_degraded}"
    marks = f"{states}.{alert_id or 0}.{incident_id or 0}.{audit_id or 0}"
    return marks, int(result_id or 0)


def _oncall(conn: Connection, config: Config, now: datetime) -> list[OnCallRow]:
    found = []
    stored = overrides_by_schedule(conn, schedules=config.oncall.schedules, after=now)
    for name in config.oncall.schedules:
        shift = who(config, name, now, overrides=stored[name])
        person = config.oncall.people.get(shift.person)
        found.append(
            OnCallRow(
                schedule=name,
                person=shift.person,
                name=person.name if person is not None else shift.person,
                until=shift.end,
                override=shift.override,
            )
        )
    return found


def in_maintenance(config: Config, now: datetime) -> set[str]:
    """The configured checks an open maintenance window covers."""
    windows = open_windows(config, now)
    if not windows:
        return set()
    return {
        check_id
        for check_id in config.checks
        if any(covers(config, w, {"check": check_id}) for w in windows)
    }


def read_states(conn: Connection, config: Config) -> dict[str, CheckStatus]:
    """Every configured check's state as it is now (one query)."""
    return {s.check_id: s for s in checks_service.current_states(conn, check_ids=config.checks)}


def read_checks(
    *,
    config: Config,
    now: datetime,
    states: Mapping[str, CheckStatus],
    stats: dict[str, CheckStats],
) -> list[CheckRow]:
    """Every configured check's row, worst first: its state from ``states`` (``read_states``),
    its figures from ``stats`` (``StatsCache.get``)."""
    held = in_maintenance(config, now)
    rows = []
    for check_id, spec in config.checks.items():
        status = states.get(check_id)
        found = stats.get(check_id)
        state = "no data" if status is None else status.state.value
        if check_id in held:
            state = "maintenance"
        slo = spec.slo.p95
        rows.append(
            CheckRow(
                id=check_id,
                kind=spec.kind,
                target=spec.target_display(),
                state=state,
                since=status.changed_at if status else None,
                last_latency_ms=status.last_latency_ms if status else None,
                last_error=status.last_error if status else None,
                spark=found.spark if found else sparkline([], start=now, end=now),
                p95_ms=found.day.p95_ms if found else None,
                p95_slo_ms=slo.total_seconds() * 1000 if slo is not None else None,
                availability_24h=found.day.availability if found else None,
                availability_30d=found.availability_30d if found else None,
            )
        )
    return _worst_first(rows)


def count_states(rows: Sequence[CheckRow]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.state] += 1
    return dict(counts)


def read_overview(conn: Connection, *, config: Config, now: datetime) -> Overview:
    """Everything on the overview but the checks: alerts firing, open incidents and who is on
    call (stored overrides included), in four queries."""
    firing_total = count_by_status(conn)[AlertStatus.FIRING]
    firing = list_alerts(conn, statuses={AlertStatus.FIRING}, limit=LIST_LIMIT)
    incidents = list_incidents(conn, limit=LIST_LIMIT)
    return Overview(
        now=now,
        firing=firing,
        firing_total=firing_total,
        incidents=incidents,
        oncall=_oncall(conn, config, now),
    )


_ORDER = {"down": 0, "degraded": 1, "no data": 2, "maintenance": 3, "up": 4}


def _worst_first(rows: Sequence[CheckRow]) -> list[CheckRow]:
    """Down first, then degraded, no data, maintenance, up; config order within each."""
    return sorted(rows, key=lambda r: _ORDER.get(r.state, 5))
