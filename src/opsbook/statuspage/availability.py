"""Daily availability per component for the uptime bars, from the checks' rollups.

A day is a calendar day in the page's timezone. Rollup rows are bucketed by their start in
that timezone: day rows when every day of the range starts at UTC midnight there (UTC and its
aliases), else hour rows (``retention.rollups_hour``, 400 days by default, outlives the 90
days shown; zones offset by a half hour put each boundary hour in the day it starts in).

A component's day is as available as its least available check that had data that day; a
day no check saw is None (no data), never up.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.checks.tables import check_rollup
from opsbook.statuspage.snapshot import AVAILABILITY_DAYS, DayAvailability


@dataclass
class _Day:
    ok_seconds: float = 0.0
    down_seconds: float = 0.0


@dataclass(frozen=True)
class Days:
    """The range of days shown, oldest first, and where it starts in UTC."""

    days: tuple[date, ...]
    start: datetime
    zone: ZoneInfo = field(repr=False)


def day_range(now: datetime, zone: ZoneInfo, *, n: int = AVAILABILITY_DAYS) -> Days:
    today = now.astimezone(zone).date()
    days = tuple(today - timedelta(days=n - 1 - i) for i in range(n))
    start = datetime.combine(days[0], time(), tzinfo=zone).astimezone(UTC)
    return Days(days=days, start=start, zone=zone)


def _utc_aligned(days: Days) -> bool:
    return all(
        datetime.combine(d, time(), tzinfo=days.zone).utcoffset() == timedelta()
        for d in (*days.days, days.days[-1] + timedelta(days=1))
    )


SETTLE = timedelta(hours=1)
"""A day's rollups are taken as final this long after it ends (late results of its last
minutes are in by then)."""

Measured = dict[str, dict[date, tuple[float, float]]]


class DayHistory:
    """The figures of settled days, kept between builds so a rebuild reads only the days
    that can still change (today and, for an hour after midnight, yesterday) instead of 90
    days of hour rows. One per page; thread-safe enough for one writer at a time (the web
    cache builds under its lock)."""

    def __init__(self) -> None:
        self._key: tuple[str, tuple[str, ...]] | None = None
        self._through: date | None = None
        self._measured: Measured = {}
        self._prefixes: dict[tuple[str, ...], tuple[object, tuple[DayAvailability, ...]]] = {}
        """Checks of a component -> (key, its settled days' entries): ``component_days``
        makes only the unsettled days' entries again (a fifth of a 200-component page's
        rebuild was making the same 18,000 entries)."""

    @property
    def through(self) -> date | None:
        """The last settled day kept (None: none yet)."""
        return self._through

    def prefix(self, checks: tuple[str, ...], key: object) -> tuple[DayAvailability, ...] | None:
        found = self._prefixes.get(checks)
        return found[1] if found is not None and found[0] == key else None

    def keep_prefix(
        self, checks: tuple[str, ...], key: object, entries: tuple[DayAvailability, ...]
    ) -> None:
        self._prefixes[checks] = (key, entries)

    def known(self, zone: str, checks: tuple[str, ...]) -> tuple[date | None, Measured]:
        if self._key != (zone, checks):
            return None, {}
        return self._through, self._measured

    def keep(self, zone: str, checks: tuple[str, ...], through: date, measured: Measured) -> None:
        if self._key != (zone, checks) or self._through != through:
            self._prefixes = {}
        self._key = (zone, checks)
        self._through = through
        self._measured = {
            check_id: {d: v for d, v in per_day.items() if d <= through}
            for check_id, per_day in measured.items()
        }


def read_days(
    conn: Connection,
    *,
    check_ids: Iterable[str],
    days: Days,
    now: datetime,
    history: DayHistory | None = None,
) -> Measured:
    """check id -> local day -> (up or degraded seconds, down seconds), in one query (of the
    unsettled days only, with ``history``)."""
    wanted = tuple(sorted(set(check_ids)))
    if not wanted:
        return {}
    zone_key = str(days.zone.key)
    through, found_before = history.known(zone_key, wanted) if history else (None, {})
    start = days.start
    if through is not None and through >= days.days[0]:
        start = datetime.combine(through + timedelta(days=1), time(), tzinfo=days.zone)
    t = check_rollup.c
    resolution = "day" if _utc_aligned(days) else "hour"
    rows = conn.execute(
        sa.select(
            t.check_id, t.bucket_start, t.up_seconds, t.degraded_seconds, t.down_seconds
        ).where(
            t.check_id.in_(wanted),
            t.resolution == resolution,
            t.bucket_start >= start.astimezone(UTC),
            t.bucket_start <= now,
        )
    )
    found: dict[str, dict[date, _Day]] = {}
    for row in rows:
        day = row.bucket_start.astimezone(days.zone).date()
        cell = found.setdefault(row.check_id, {}).setdefault(day, _Day())
        cell.ok_seconds += row.up_seconds + row.degraded_seconds
        cell.down_seconds += row.down_seconds
    measured: Measured = {
        check_id: {d: v for d, v in per_day.items() if d >= days.days[0]}
        for check_id, per_day in found_before.items()
    }
    for check_id, per_day in found.items():
        into = measured.setdefault(check_id, {})
        for d, c in per_day.items():
            into[d] = (c.ok_seconds, c.down_seconds)
    if history is not None:
        settled = [
            d
            for d in days.days
            if datetime.combine(d + timedelta(days=1), time(), tzinfo=days.zone) + SETTLE <= now
        ]
        if settled:
            history.keep(zone_key, wanted, settled[-1], measured)
    return measured


def component_days(
    checks: Sequence[str],
    *,
    measured: Mapping[str, Mapping[date, tuple[float, float]]],
    days: Days,
    incidents: Mapping[date, tuple[str, ...]],
    history: DayHistory | None = None,
) -> tuple[DayAvailability, ...]:
    """One entry per day of ``days`` for a component with ``checks``.

    With ``history`` (the one ``read_days`` kept ``measured``'s settled days in), the
    settled days' entries are those of the last call for the same checks, unless the days
    shown or their incidents changed."""
    through = history.through if history is not None else None
    settled = bisect_right(days.days, through) if through is not None else 0
    if history is None or not settled:
        return _days(checks, measured, days.days, incidents)
    assert through is not None
    key = (days.days[0], through, sorted((d, ids) for d, ids in incidents.items() if d <= through))
    prefix = history.prefix(tuple(checks), key)
    if prefix is None:
        prefix = _days(checks, measured, days.days[:settled], incidents)
        history.keep_prefix(tuple(checks), key, prefix)
    return prefix + _days(checks, measured, days.days[settled:], incidents)


def _days(
    checks: Sequence[str],
    measured: Mapping[str, Mapping[date, tuple[float, float]]],
    days: Sequence[date],
    incidents: Mapping[date, tuple[str, ...]],
) -> tuple[DayAvailability, ...]:
    out = []
    for day in days:
        percents: list[float] = []
        down = 0.0
        for check_id in checks:
            ok, bad = measured.get(check_id, {}).get(day, (0.0, 0.0))
            if ok + bad > 0:
                percents.append(100.0 * ok / (ok + bad))
                down = max(down, bad)
        out.append(
            DayAvailability(
                day=day,
                availability=min(percents) if percents else None,
                down_seconds=down,
                incidents=incidents.get(day, ()),
            )
        )
    return tuple(out)


def incident_days(
    spans: Iterable[tuple[str, datetime, datetime]], *, days: Days
) -> dict[date, tuple[str, ...]]:
    """Local day -> ids of the incidents open some time that day, from (id, start, end)."""
    found: dict[date, list[str]] = {}
    first, last = days.days[0], days.days[-1]
    for incident_id, start, end in spans:
        day = max(start.astimezone(days.zone).date(), first)
        stop = min(end.astimezone(days.zone).date(), last)
        while day <= stop:
            found.setdefault(day, []).append(incident_id)
            day += timedelta(days=1)
    return {d: tuple(ids) for d, ids in found.items()}
