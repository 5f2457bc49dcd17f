"""``/api/v1/oncall``: who is on call now for each schedule, and one schedule's shifts; and
``/api/v1/oncall/overrides``, the overrides people add at run time ("cover my shift Saturday").

Computed at request time (R20) by the oncall domain's pure functions from the config and the
stored overrides (``incidents/overrides.py``), which win over the configured ones. Adding or
removing an override needs the responder role and commits with its audit event; errors name
the field and never repeat a value sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from opsbook.config import Config, parse_duration
from opsbook.errors import InputError, NotFound
from opsbook.incidents import overrides as stored_overrides
from opsbook.incidents.overrides import REASON_MAX_CHARS, StoredOverride
from opsbook.oncall import Shift, schedule_timezone, shifts, who
from opsbook.web.auth import ALLOW_VIEWER, ResponderDep, client_address
from opsbook.web.deps import ClockDep, ConfigDep, EngineDep, IdPath
from opsbook.web.openapi import request_body

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


class OverrideCreate(BaseModel):
    """``end`` or ``duration``; ``start`` defaults to now. Times carry an offset."""

    model_config = ConfigDict(extra="forbid")

    schedule: str = Field(min_length=1, max_length=100)
    person: str = Field(min_length=1, max_length=100)
    """A person under ``oncall.people``."""
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    duration: str | None = Field(default=None, max_length=32)
    """``8h``, ``2d``: instead of ``end``."""
    reason: str | None = Field(default=None, max_length=REASON_MAX_CHARS)


def _name(config: Config, person: str) -> str:
    found = config.oncall.people.get(person)
    return found.name if found is not None else person


def override_json(config: Config, item: StoredOverride, now: datetime) -> dict[str, Any]:
    return {
        "id": item.id,
        "schedule": item.schedule,
        "person": item.person,
        "name": _name(config, item.person),
        "start": item.start,
        "end": item.end,
        "reason": item.reason,
        "created_by": item.created_by,
        "created_at": item.created_at,
        "is_on": item.start <= now < item.end,
    }


def _body_error(exc: ValidationError) -> InputError:
    first = exc.errors()[0]
    path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
    message = {
        "missing": "is required",
        "extra_forbidden": "is not a known field",
        "timezone_aware": "needs an offset (e.g. 2026-11-28T10:00:00+01:00 or ...Z)",
    }.get(first["type"], first["msg"])
    return InputError(f"{path}: {message}", field=path, location="body")


def _end(override_in: OverrideCreate, start: datetime) -> datetime:
    if (override_in.end is None) == (override_in.duration is None):
        raise InputError("$.end: set end or duration (one of them)", field="$.end", location="body")
    if override_in.end is not None:
        return override_in.end
    try:
        length = parse_duration(override_in.duration or "")
    except ValueError:
        # Not the config's message: it quotes the value, and the API never repeats one.
        raise InputError(
            "$.duration: not a duration (use e.g. 8h, 2d)", field="$.duration", location="body"
        ) from None
    return start + length


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
    engine: EngineDep,
    clock: ClockDep,
    at: Annotated[str | None, Query(max_length=64)] = None,
) -> OncallRead:
    """Who is on call now, or ``at`` a time (without an offset, in the config's timezone)."""
    zone = ZoneInfo(config.timezone)
    instant = clock.now() if at is None else parse_time(at, field="at", zone=zone)
    with engine.connect() as conn:
        stored = stored_overrides.overrides_by_schedule(
            conn, schedules=config.oncall.schedules, after=instant
        )
    return OncallRead(
        oncall=[
            _read(config, name, who(config, name, instant, overrides=stored[name]))
            for name in config.oncall.schedules
        ]
    )


@router.get("/overrides")
def list_overrides(
    config: ConfigDep,
    engine: EngineDep,
    clock: ClockDep,
    schedule: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """The stored overrides on now or to come, oldest first (a later one wins), of every
    schedule or of ``schedule``. Configured ones show in the shifts (``override: true``)."""
    if schedule is not None and schedule not in config.oncall.schedules:
        known = ", ".join(config.oncall.schedules) or "none are configured"
        raise InputError(
            f"schedule: not a configured schedule (known: {known})",
            field="schedule",
            location="query",
        )
    now = clock.now()
    names = [schedule] if schedule is not None else list(config.oncall.schedules)
    with engine.connect() as conn:
        found = stored_overrides.list_overrides(conn, schedules=names, after=now)
    return {"overrides": [override_json(config, item, now) for item in found]}


@router.post(
    "/overrides",
    status_code=201,
    openapi_extra=request_body(
        OverrideCreate.model_json_schema(), description="Who covers which schedule, when"
    ),
)
def create_override(
    request: Request,
    principal: ResponderDep,
    config: ConfigDep,
    engine: EngineDep,
    clock: ClockDep,
    body: Annotated[Any, Body()],
) -> dict[str, Any]:
    """Add an override: ``person`` is on call for ``schedule`` from ``start`` (default now) to
    ``end`` (or for ``duration``), above the layers and the configured overrides."""
    try:
        override_in = OverrideCreate.model_validate(body)
    except ValidationError as exc:
        raise _body_error(exc) from None
    now = clock.now()
    start = override_in.start or now
    end = _end(override_in, start)
    try:
        with engine.begin() as conn:
            created = stored_overrides.add_override(
                conn,
                config,
                schedule=override_in.schedule,
                person=override_in.person,
                start=start,
                end=end,
                reason=override_in.reason,
                actor=principal.actor,
                origin=f"api {client_address(request)}",
                now=now,
            )
    except InputError as exc:
        raise InputError(f"$.{exc.message}", field=f"$.{exc.field}", location="body") from None
    return override_json(config, created, now)


@router.delete("/overrides/{override_id}")
def delete_override(
    override_id: IdPath,
    request: Request,
    principal: ResponderDep,
    config: ConfigDep,
    engine: EngineDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """Remove an override; the schedule goes back to its layers. Answers the removed one."""
    now = clock.now()
    with engine.begin() as conn:
        removed = stored_overrides.remove_override(
            conn,
            override_id,
            actor=principal.actor,
            origin=f"api {client_address(request)}",
            now=now,
        )
    return override_json(config, removed, now)


@router.get("/{schedule}", response_model=ScheduleShiftsRead)
def list_shifts(
    schedule: str,
    config: ConfigDep,
    engine: EngineDep,
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
    with engine.connect() as conn:
        stored = stored_overrides.schedule_overrides(conn, schedule, after=begin)
    found = shifts(config, schedule, begin, finish, overrides=stored)
    return ScheduleShiftsRead(
        schedule=schedule,
        timezone=zone.key,
        start=begin,
        end=finish,
        shifts=[_read(config, schedule, s) for s in found],
    )
