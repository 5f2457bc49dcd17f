"""Routines: a runbook whose front matter has ``schedule:`` (cron, in its ``timezone`` or the
config's) is a checklist that opens a run by itself at each due time. Pure values and schedule
maths here; ``routine_task`` reads and writes the store.

A due time is the latest cron match at or before now, in the routine's timezone, so a server
that was down over several due times opens one run (for the latest), never a flood. A run is
overdue when it has not ended ``grace`` after its due time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from cronsim import CronSim

from opsbook.errors import Problem
from opsbook.runbooks import front_matter
from opsbook.runbooks.models import Registry, Runbook

GRACE = timedelta(hours=1)
"""How long after its due time a routine's run may stay open before it is overdue."""
ACTOR = "system:schedule"

NoticeKind = Literal["opened", "overdue"]


@dataclass(frozen=True)
class Routine:
    runbook: Runbook
    schedule: str
    timezone: str
    grace: timedelta

    @property
    def name(self) -> str:
        return self.runbook.name


def routines_of(registry: Registry, *, timezone: str = "UTC") -> list[Routine]:
    """Every runbook with a schedule, by name; ``timezone`` is the config's, for a routine
    that names none."""
    return [
        Routine(
            runbook=rb,
            schedule=rb.schedule,
            timezone=rb.timezone or timezone,
            grace=rb.grace or GRACE,
        )
        for _, rb in sorted(registry.runbooks.items())
        if rb.schedule
    ]


def latest_due(schedule: str, timezone: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` (minute resolution) that ``schedule`` matches in
    ``timezone``, in UTC. cronsim walks local wall time the way cron does: a time skipped by a
    DST change fires at the first instant after it, a repeated one fires once."""
    zone = ZoneInfo(timezone)
    # cronsim's reverse walk is strictly before its start: start one minute past now's minute.
    start = now.astimezone(zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    found: datetime = next(CronSim(schedule, start, reverse=True))
    return found.astimezone(UTC)


def next_due(schedule: str, timezone: str, now: datetime) -> datetime:
    """The first time after ``now`` that ``schedule`` matches in ``timezone``, in UTC."""
    zone = ZoneInfo(timezone)
    found: datetime = next(CronSim(schedule, now.astimezone(zone)))
    return found.astimezone(UTC)


def channel_problems(registry: Registry, channels: Collection[str]) -> list[Problem]:
    """A routine's ``channels:`` entry that names no configured channel, at FILE:LINE:COL
    (``opsbook check`` and the server's load report it; the reminder would go nowhere)."""
    out = []
    for runbook in registry.runbooks.values():
        if not any(c not in channels for c in runbook.channels):
            continue
        try:
            text = Path(runbook.path).read_text(encoding="utf-8")
        except OSError:
            text = ""
        fm_text, _ = front_matter.split(text)
        positions = front_matter.read(fm_text).channels_at if fm_text is not None else ()
        for i, name in enumerate(runbook.channels):
            if name in channels:
                continue
            line, column = positions[i] if i < len(positions) else (0, 0)
            have = f"; have: {', '.join(sorted(channels))}" if channels else ""
            out.append(
                Problem(
                    runbook.path,
                    line,
                    column,
                    "",
                    f"channels: no channel named {name!r} in the config{have}",
                )
            )
    return out


def alert_problems(registry: Registry, severities: Collection[str]) -> list[Problem]:
    """A routine's ``alert:`` severity that is not one of the config's ``severities``, at
    FILE:LINE:COL (the alert would neither route by severity nor page)."""
    out = []
    for runbook in registry.runbooks.values():
        if runbook.alert is None or runbook.alert.severity in severities:
            continue
        try:
            text = Path(runbook.path).read_text(encoding="utf-8")
        except OSError:
            text = ""
        fm_text, _ = front_matter.split(text)
        line, column = front_matter.read(fm_text).alert_at if fm_text is not None else (0, 0)
        have = f" (use {', '.join(sorted(severities))})" if severities else ""
        out.append(
            Problem(
                runbook.path,
                line,
                column,
                "",
                f"alert.severity: no severity named {runbook.alert.severity!r} in the config{have}",
            )
        )
    return out


@dataclass(frozen=True)
class RoutineNotice:
    """A reminder for one channel: a run was ``opened`` for ``due_at``, or it is ``overdue``."""

    kind: NoticeKind
    channel: str
    routine: str
    title: str
    timezone: str
    due_at: datetime
    run_id: int
    steps_done: int
    steps_total: int
    at: datetime


@dataclass(frozen=True)
class RoutineStatus:
    """Where a routine stands at ``now``: its last opened run (if any) and the next due time."""

    routine: str
    title: str
    schedule: str
    timezone: str
    grace: timedelta
    next_due_at: datetime
    due_at: datetime | None = None
    run_id: int | None = None
    state: str | None = None
    steps_done: int = 0
    steps_total: int = 0
    is_overdue: bool = False


def is_overdue(*, due_at: datetime, grace: timedelta, is_ended: bool, now: datetime) -> bool:
    return not is_ended and now >= due_at + grace


def describe(status: RoutineStatus, *, now: datetime) -> str:
    """``routine daily-checks due 09:00 UTC, open 3h, 2/7 ticked`` (the due time shown in the
    routine's timezone; with the date when it is not today there)."""
    if status.due_at is None:
        return f"routine {status.routine}: no run opened yet"
    zone = ZoneInfo(status.timezone)
    local = status.due_at.astimezone(zone)
    shown = local.strftime("%H:%M")
    if local.date() != now.astimezone(zone).date():
        shown = local.strftime("%Y-%m-%d %H:%M")
    return (
        f"routine {status.routine} due {shown} {status.timezone}, "
        f"open {age(now - status.due_at)}, {status.steps_done}/{status.steps_total} ticked"
    )


def age(delta: timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h" if minutes == 0 else f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d"


def overdue(statuses: Sequence[RoutineStatus]) -> list[RoutineStatus]:
    return [s for s in statuses if s.is_overdue]
