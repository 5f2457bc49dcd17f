"""``/api/v1/oncall``: who is on call now for each schedule, and one schedule's shifts.

Computed from the config at request time (R20) by the oncall domain's pure functions; nothing
is stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from opsbook.config import Config
from opsbook.errors import InputError, NotFound
from opsbook.oncall import Shift, schedule_timezone, shifts, who
from opsbook.web.auth import ALLOW_VIEWER
from opsbook.web.deps import ClockDep, ConfigDep

router = APIRouter(prefix="/api/v1/oncall", tags=["oncall"], dependencies=[Depends(ALLOW_VIEWER)])

DEFAULT_SPAN = timedelta(weeks=4)
LONGEST_SPAN = timedelta(days=366)


class ShiftRead(BaseModel):
    schedule: str
    timezone: str
    """The schedule's timezone, the one its handoffs are written in."""
    person: str
    """The person's id under ``oncall.people``."""
    name: str
    start: datetime
    end: datetime
    layer: str
    """The layer's name (``layer 1``, ...) or ``override``."""
    override: bool


class OncallRead(BaseModel):
    oncall: list[ShiftRead]


class ScheduleShiftsRead(BaseModel):
    schedule: str
    timezone: str
    start: datetime
    end: datetime
    shifts: list[ShiftRead]


def _read(config: Config, schedule: str, shift: Shift) -> ShiftRead:
    person = config.oncall.people.get(shift.person)
    return ShiftRead(
        schedule=schedule,
        timezone=schedule_timezone(config, schedule).key,
        person=shift.person,
        name=person.name if person is not None else shift.person,
        start=shift.start,
        end=shift.end,
        layer=shift.layer,
        override=shift.override,
    )


def parse_time(raw: str, *, field: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 query value; without an offset it is in ``zone``. Raises ``InputError``."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(
            f"{field}: not a date and time (use ISO 8601, e.g. 2026-11-22T18:00Z)",
            field=field,
            location="query",
        ) from None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


@router.get("", response_model=OncallRead)
def list_oncall(
    config: ConfigDep,
    clock: ClockDep,
    at: Annotated[str | None, Query(max_length=64)] = None,
) -> OncallRead:
    """Who is on call now, or ``at`` a time (without an offset, in the config's timezone)."""
    zone = ZoneInfo(config.timezone)
    instant = clock.now() if at is None else parse_time(at, field="at", zone=zone)
    return OncallRead(
        oncall=[_read(config, name, who(config, name, instant)) for name in config.oncall.schedules]
    )


@router.get("/{schedule}", response_model=ScheduleShiftsRead)
def list_shifts(
    schedule: str,
    config: ConfigDep,
    clock: ClockDep,
    start: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=64)] = None,
) -> ScheduleShiftsRead:
    if schedule not in config.oncall.schedules:
        known = ", ".join(config.oncall.schedules) or "none are configured"
        raise NotFound(f"no schedule with this name (known: {known})", field="schedule")
    zone = schedule_timezone(config, schedule)
    begin = clock.now() if start is None else parse_time(start, field="from", zone=zone)
    finish = begin + DEFAULT_SPAN if end is None else parse_time(end, field="to", zone=zone)
    if finish <= begin:
        raise InputError("to: must be after from", field="to", location="query")
    if finish - begin > LONGEST_SPAN:
        raise InputError(
            "to: at most 366 days after from (ask for a year at a time)",
            field="to",
            location="query",
        )
    return ScheduleShiftsRead(
        schedule=schedule,
        timezone=zone.key,
        start=begin,
        end=finish,
        shifts=[_read(config, schedule, s) for s in shifts(config, schedule, begin, finish)],
    )
