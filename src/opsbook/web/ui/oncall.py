"""``/oncall``: who is on call now for each schedule, their shifts over the next four weeks (a
table and a server-side SVG timeline), and the overrides that are on or to come. Computed at
request time by the oncall domain's pure functions (R20) from the config and the stored
overrides (``incidents/overrides.py``), which win over the configured ones.

A responder adds an override with the form under each schedule and removes a stored one with
its button (``POST /oncall/overrides``, ``POST /oncall/overrides/{id}/remove``; CSRF token,
post/redirect/get, audited with origin ``ui <address>``). The page is live: it carries the
``/ui/events`` markers and its ``data-live`` parts are swapped in by static/ui/live.js.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opsbook.accounts import Principal, Role
from opsbook.config import Config, parse_duration
from opsbook.errors import InputError
from opsbook.incidents import overrides as stored_overrides
from opsbook.incidents.overrides import REASON_MAX_CHARS, StoredOverride
from opsbook.oncall import Shift, schedule_timezone, shifts, who
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdPath
from opsbook.web.ui.actions import back_to, ui_origin
from opsbook.web.ui.overview_data import read_version
from opsbook.web.ui.session import FormDep, PageDep, needs_role
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
    id: int | None = None
    """Set for a stored override (one the page can remove); None for a configured one."""
    reason: str | None = None
    created_by: str | None = None


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
    people: list[tuple[str, str]]
    """Everyone under ``oncall.people`` (id, name): the form's choices."""


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


def _order(config: Config, person: str) -> tuple[int, str]:
    # A stored override's person may have left the config since: after everyone still there.
    known = list(config.oncall.people)
    return (known.index(person), "") if person in known else (len(known), person)


def read_schedule(
    config: Config, name: str, now: datetime, stored: list[StoredOverride] | None = None
) -> ScheduleView:
    """One schedule's view; ``stored``: its stored overrides that end after ``now``, oldest
    first."""
    stored = stored or []
    extra = [item.as_override() for item in stored]
    zone = schedule_timezone(config, name)
    end = now + AHEAD
    found = shifts(config, name, now, end, overrides=extra)
    people = sorted({s.person for s in found}, key=lambda p: _order(config, p))
    colour_of = {person: i % COLOURS for i, person in enumerate(people)}
    current = who(config, name, now, overrides=extra)
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
    for kept in stored:
        overrides.append(
            OverrideRow(
                kept.person,
                _name(config, kept.person),
                kept.start,
                kept.end,
                kept.start <= now < kept.end,
                id=kept.id,
                reason=kept.reason,
                created_by=kept.created_by,
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
        people=[(p, person.name) for p, person in config.oncall.people.items()],
    )


def parse_override_form(
    form: dict[str, str], *, now: datetime, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    """(start, end) from the form: ``start`` (a local date and time in ``zone``; empty: now),
    then ``end`` or ``duration``. ``InputError`` names the field and does not repeat it."""

    def stamp(field: str) -> datetime | None:
        raw = form.get(field, "").strip()
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise InputError(
                f"{field}: not a date and time (e.g. 2026-11-28T10:00)", field=field
            ) from None
        return value.replace(tzinfo=zone) if value.tzinfo is None else value

    start = stamp("start") or now
    end = stamp("end")
    if end is not None:
        return start, end
    try:
        length = parse_duration(form.get("duration", "").strip())
    except ValueError:
        raise InputError(
            "duration: not a duration (use e.g. 8h, 1d), or set an end", field="duration"
        ) from None
    return start, start + length


def router(pages: Pages) -> APIRouter:
    routes = APIRouter(include_in_schema=False)

    def render(
        request: Request,
        principal: Principal,
        config: Config,
        engine: EngineDep,
        now: datetime,
        *,
        error: str | None = None,
        field: str | None = None,
        schedule: str | None = None,
    ) -> Response:
        with engine.begin() as conn:
            stored = stored_overrides.list_overrides(
                conn, schedules=config.oncall.schedules, after=now
            )
            version, results = read_version(conn)
        by_schedule: dict[str, list[StoredOverride]] = {}
        for item in stored:
            by_schedule.setdefault(item.schedule, []).append(item)
        views = [
            read_schedule(config, name, now, by_schedule.get(name))
            for name in config.oncall.schedules
        ]
        return pages.render(
            request,
            "oncall.html",
            {
                "title": "On-call",
                "now": now,
                "schedules": views,
                "width": TIMELINE_WIDTH,
                "can_write": principal.role.allows(Role.RESPONDER),
                "reason_max": REASON_MAX_CHARS,
                "error": error,
                "error_field": field,
                "error_schedule": schedule,
                # Not "version": that is the package's, which the footer shows. A refused
                # form's answer is not live: a refresh would show the page without its error.
                "live_version": None if error else version,
                "results_version": results,
            },
            principal=principal,
            status_code=400 if error else 200,
        )

    @routes.get("/oncall")
    def oncall(
        request: Request,
        principal: PageDep,
        config: ConfigDep,
        engine: EngineDep,
        clock: ClockDep,
    ) -> Response:
        return render(request, principal, config, engine, clock.now())

    @routes.post("/oncall/overrides")
    def add_override(
        request: Request,
        principal: FormDep,
        config: ConfigDep,
        engine: EngineDep,
        clock: ClockDep,
    ) -> Response:
        needs_role(principal, Role.RESPONDER)
        form: dict[str, str] = request.state.form
        now = clock.now()
        schedule = form.get("schedule", "")
        known = schedule if schedule in config.oncall.schedules else None
        try:
            zone = schedule_timezone(config, schedule) if known else ZoneInfo(config.timezone)
            start, end = parse_override_form(form, now=now, zone=zone)
            with engine.begin() as conn:
                stored_overrides.add_override(
                    conn,
                    config,
                    schedule=schedule,
                    person=form.get("person", ""),
                    start=start,
                    end=end,
                    reason=form.get("reason", "").strip() or None,
                    actor=principal.actor,
                    origin=ui_origin(request),
                    now=now,
                )
        except InputError as exc:
            # The form comes back empty: an error page never repeats what was sent.
            return render(
                request,
                principal,
                config,
                engine,
                now,
                error=exc.message,
                field=exc.field,
                schedule=known,
            )
        return back_to(f"/oncall#schedule-{schedule}")

    @routes.post("/oncall/overrides/{override_id}/remove")
    def remove_override(
        override_id: IdPath,
        request: Request,
        principal: FormDep,
        engine: EngineDep,
        clock: ClockDep,
    ) -> Response:
        needs_role(principal, Role.RESPONDER)
        with engine.begin() as conn:
            removed = stored_overrides.remove_override(
                conn,
                override_id,
                actor=principal.actor,
                origin=ui_origin(request),
                now=clock.now(),
            )
        return back_to(f"/oncall#schedule-{removed.schedule}")

    return routes
