"""``/oncall``: who is on call now for each schedule, their shifts over the next four weeks (a
table and a server-side SVG timeline), and the overrides that are on or to come. Computed from
the config at request time by the oncall domain's pure functions (R20); nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsbook.config import Config
from opsbook.oncall import Shift, schedule_timezone, shifts, who
from opsbook.web.deps import ClockDep, ConfigDep
from opsbook.web.ui.session import PageDep
from opsbook.web.ui.templating import Pages

AHEAD = timedelta(weeks=4)
TIMELINE_WIDTH = 1000
"""The SVG timeline's user units; it scales to the page's width."""
COLOURS = 8
"""Distinct person colours in the stylesheet (``.person-0`` .. ``.person-7``)."""


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    colour: int
    label: str


@dataclass(frozen=True)
class OverrideRow:
    person: str
    name: str
    start: datetime
    end: datetime
    is_on: bool


@dataclass(frozen=True)
class ScheduleView:
    name: str
    timezone: str
    now: Shift
    now_name: str
    shifts: list[Shift]
    names: dict[str, str]
    bars: list[Bar]
    overrides: list[OverrideRow]


def _name(config: Config, person: str) -> str:
    found = config.oncall.people.get(person)
    return found.name if found is not None else person


def timeline(
    found: list[Shift], *, start: datetime, end: datetime, colour_of: dict[str, int]
) -> list[Bar]:
    """One bar per shift, in ``TIMELINE_WIDTH`` units from ``start`` to ``end``."""
    span = (end - start).total_seconds()
    bars = []
    for shift in found:
        x = (shift.start - start).total_seconds() / span * TIMELINE_WIDTH
        width = (shift.end - shift.start).total_seconds() / span * TIMELINE_WIDTH
        label = f"{shift.person}{' (override)' if shift.override else ''}"
        bars.append(Bar(round(x, 2), round(width, 2), colour_of[shift.person], label))
    return bars


def read_schedule(config: Config, name: str, now: datetime) -> ScheduleView:
    zone = schedule_timezone(config, name)
    end = now + AHEAD
    found = shifts(config, name, now, end)
    people = sorted({s.person for s in found}, key=list(config.oncall.people).index)
    colour_of = {person: i % COLOURS for i, person in enumerate(people)}
    current = who(config, name, now)
    schedule = config.oncall.schedules[name]
    overrides = []
    for item in schedule.overrides:
        begin = item.start if item.start.tzinfo else item.start.replace(tzinfo=zone)
        finish = item.end if item.end.tzinfo else item.end.replace(tzinfo=zone)
        if finish > now:
            overrides.append(
                OverrideRow(
                    item.person, _name(config, item.person), begin, finish, begin <= now < finish
                )
            )
    return ScheduleView(
        name=name,
        timezone=zone.key,
        now=current,
        now_name=_name(config, current.person),
        shifts=found,
        names={p: _name(config, p) for p in people},
        bars=timeline(found, start=now, end=end, colour_of=colour_of),
        overrides=sorted(overrides, key=lambda o: o.start),
    )


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    @routes.get("/oncall")
    def oncall(
        request: Request, principal: PageDep, config: ConfigDep, clock: ClockDep
    ) -> Response:
        now = clock.now()
        views = [read_schedule(config, name, now) for name in config.oncall.schedules]
        return pages.render(
            request,
            "oncall.html",
            {"title": "On-call", "now": now, "schedules": views, "width": TIMELINE_WIDTH},
            principal=principal,
        )

    return routes
