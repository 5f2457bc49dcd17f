"""Maintenance windows from ``config.maintenance``: when each is open, and which alerts it holds.

Pure: no I/O, and time comes in as an argument. One-off windows have ``start``/``end`` (naive
values are read in the window's ``timezone``, else the config's); recurring windows open at each
``schedule`` occurrence (cron, read in that timezone by cronsim, which handles DST as cron does:
a time skipped in spring runs at the first valid minute after it, and a time repeated in autumn
runs once) and stay open for ``duration`` of real time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

from opsbook.config import Config
from opsbook.config.alerts import MaintenanceWindow

MAX_OCCURRENCES = 100
"""Per window and per call: bounds the work for a schedule like every minute over a week."""


@dataclass(frozen=True, slots=True)
class OpenWindow:
    """One opening of a window, in UTC. ``components`` and ``checks`` both empty: global."""

    name: str
    start: datetime
    end: datetime
    components: tuple[str, ...]
    checks: tuple[str, ...]
    description: str = ""

    @property
    def is_global(self) -> bool:
        return not self.components and not self.checks


def _zone(config: Config, window: MaintenanceWindow) -> ZoneInfo:
    return ZoneInfo(window.timezone or config.timezone)


def _utc(value: datetime, zone: ZoneInfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _opening(name: str, window: MaintenanceWindow, start: datetime, end: datetime) -> OpenWindow:
    return OpenWindow(
        name=name,
        start=start,
        end=end,
        components=tuple(window.components),
        checks=tuple(window.checks),
        description=window.description,
    )


def _occurrences(
    config: Config, name: str, window: MaintenanceWindow, after: datetime
) -> Iterator[OpenWindow]:
    """Openings that start after ``after``, in order; at most ``MAX_OCCURRENCES``."""
    zone = _zone(config, window)
    if window.start is not None and window.end is not None:
        start, end = _utc(window.start, zone), _utc(window.end, zone)
        if start > after:
            yield _opening(name, window, start, end)
        return
    if window.schedule is None or window.duration is None:  # pragma: no cover - validated
        return
    schedule = CronSim(window.schedule, after.astimezone(zone))
    for _ in range(MAX_OCCURRENCES):
        start = next(schedule).astimezone(UTC)
        # Started inside an autumn overlap (fold=1), cronsim can return the first 02:30 again,
        # which is before ``after`` in real time; skip it.
        if start <= after:
            continue
        yield _opening(name, window, start, start + window.duration)


def _open_now(
    config: Config, name: str, window: MaintenanceWindow, now: datetime
) -> OpenWindow | None:
    zone = _zone(config, window)
    if window.start is not None and window.end is not None:
        start, end = _utc(window.start, zone), _utc(window.end, zone)
        return _opening(name, window, start, end) if start <= now < end else None
    if window.duration is None:  # pragma: no cover - validated
        return None
    # An occurrence that started within the last ``duration`` is open now. Overlapping
    # occurrences (duration longer than the period) merge into one opening.
    found: OpenWindow | None = None
    for opening in _occurrences(config, name, window, now - window.duration):
        if opening.start > now:
            break
        found = opening if found is None else _opening(name, window, found.start, opening.end)
    return found


def open_windows(config: Config, now: datetime) -> list[OpenWindow]:
    """The windows open at ``now`` (start <= now < end), in config order."""
    return [
        opening
        for name, window in config.maintenance.items()
        if (opening := _open_now(config, name, window, now)) is not None
    ]


def upcoming_windows(config: Config, now: datetime, horizon: timedelta) -> list[OpenWindow]:
    """Openings that start after ``now`` and no later than ``now + horizon``, by start time.

    Windows open now are not included (see ``open_windows``). At most ``MAX_OCCURRENCES`` per
    window.
    """
    limit = now + horizon
    found = [
        opening
        for name, window in config.maintenance.items()
        for opening in _until(_occurrences(config, name, window, now), limit)
    ]
    return sorted(found, key=lambda o: (o.start, o.name))


def _until(openings: Iterator[OpenWindow], limit: datetime) -> Iterator[OpenWindow]:
    for opening in openings:
        if opening.start > limit:
            return
        yield opening


def covers(config: Config, opening: OpenWindow, labels: Mapping[str, str]) -> bool:
    """Whether ``opening`` holds an alert with ``labels``.

    A global window holds every alert. Otherwise the alert's ``check`` label must be one of the
    window's checks or a check of one of its components, or its ``component`` label one of
    its components (ingested alerts can carry ``component`` without a check).
    """
    if opening.is_global:
        return True
    check = labels.get("check")
    if check is not None:
        if check in opening.checks:
            return True
        for component in opening.components:
            spec = config.components.get(component)
            if spec is not None and check in spec.checks:
                return True
    return labels.get("component") in opening.components


def window_for(config: Config, labels: Mapping[str, str], now: datetime) -> str | None:
    """The name of the first open window (in config order) holding an alert with ``labels``."""
    for opening in open_windows(config, now):
        if covers(config, opening, labels):
            return opening.name
    return None
