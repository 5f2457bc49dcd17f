"""The ``oncall:`` section: people, schedules (rotation layers and overrides) and escalation
policies.

Handoff text (``"mon 09:00"``, ``"09:00"``, ``"2026-01-05T09:00"``) is parsed here, once; the
``oncall`` domain computes who is on call from the typed values. References to people, schedules
and channels need the whole file, so ``Config`` checks them with ``oncall_problems``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from opsbook.config.fields import Slug, Timezone
from opsbook.config.known import known as known_names
from opsbook.config.located import located_error
from opsbook.config.units import Duration, parse_duration

DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
SHORTEST_ROTATION = timedelta(hours=1)
DEFAULT_START = date(2026, 1, 5)
"""A Monday: rotations without ``start`` are anchored here, so turns never depend on load time."""
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TARGET_KINDS = ("schedule", "person", "channel")
MAX_REPEAT = 10
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_WEEKDAY_TIME = re.compile(r"([a-z]{3})[a-z]*\s+(\S+)")
LAYER_KEYS = ("name", "rotation", "handoff", "people", "start", "restrict")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_time(value: str) -> time:
    """``"09:00"`` -> ``time(9, 0)``. Raises ``ValueError`` with the user-facing sentence."""
    match = _TIME.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not a time of day (use HH:MM, e.g. 09:00)")
    return time(int(match.group(1)), int(match.group(2)))


def _rotation(value: str) -> str:
    if value in ("daily", "weekly"):
        return value
    try:
        length = parse_duration(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a rotation (use daily, weekly or a length like 12h or 2w)"
        ) from None
    if length < SHORTEST_ROTATION:
        raise ValueError(f"a rotation must be at least 1h, got {value!r}")
    return value


Rotation = Annotated[str, AfterValidator(_rotation)]


@dataclasses.dataclass(frozen=True)
class Handoff:
    """A parsed ``handoff``: a time of day, with a weekday (weekly) or a date (custom lengths)."""

    at: time
    weekday: int | None = None
    day: date | None = None


def parse_handoff(value: str) -> Handoff:
    """``"mon 09:00"``, ``"09:00"`` or ``"2026-01-05T09:00"``. Raises ``ValueError``."""
    text = value.strip().lower()
    match = _WEEKDAY_TIME.fullmatch(text)
    if match and match.group(1) in WEEKDAYS:
        return Handoff(parse_time(match.group(2)), weekday=WEEKDAYS.index(match.group(1)))
    if _TIME.fullmatch(text):
        return Handoff(parse_time(text))
    try:
        stamp = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{value!r} is not a handoff (use 'mon 09:00' for weekly, '09:00' for daily, "
            "or a start like 2026-01-05T09:00 for other lengths)"
        ) from None
    if stamp.tzinfo is not None:
        raise ValueError(
            f"{value!r}: give the handoff without an offset; it is in the schedule's timezone"
        )
    return Handoff(stamp.time(), day=stamp.date())


class Restriction(_Model):
    """A layer only covers these local days and/or hours (``"18:00-09:00"`` crosses midnight
    and belongs to the day it starts on)."""

    days: list[Weekday] = ALL_DAYS
    hours: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Restriction:
        if not self.days:
            raise located_error("must not be empty", "days")
        if self.hours is not None:
            try:
                self.window()
            except ValueError as exc:
                raise located_error(str(exc), "hours") from None
        return self

    def window(self) -> tuple[time, time] | None:
        """``hours`` as (from, to); None means all day."""
        if self.hours is None:
            return None
        first, sep, last = self.hours.partition("-")
        if not sep:
            raise ValueError(f"{self.hours!r} is not a range of hours (use e.g. 09:00-17:00)")
        start, end = parse_time(first), parse_time(last)
        if start == end:
            raise ValueError(f"{self.hours!r} is empty (from and to are the same time)")
        return start, end


class Layer(_Model):
    """One rotation. ``people`` take turns of ``rotation`` each, handing off at ``handoff``;
    ``people[0]``'s turn begins at the first handoff on or after ``start``."""

    name: str | None = None
    rotation: Rotation
    handoff: str | None = None
    people: list[Slug] = Field(min_length=1)
    start: date | None = None
    restrict: Restriction | None = None

    @model_validator(mode="after")
    def _handoff_fits(self) -> Layer:
        if self.handoff is None:
            return self
        try:
            handoff = parse_handoff(self.handoff)
        except ValueError as exc:
            raise located_error(str(exc), "handoff") from None
        if self.rotation == "weekly" and handoff.weekday is None:
            raise located_error(
                f"a weekly rotation hands off on a day: use e.g. 'mon {handoff.at:%H:%M}'",
                "handoff",
            )
        if self.rotation != "weekly" and handoff.weekday is not None:
            raise located_error(
                "only a weekly rotation names a day; use a time like 09:00 "
                "(or a start like 2026-01-05T09:00 for other lengths)",
                "handoff",
            )
        if handoff.day is not None:
            if self.rotation in ("daily", "weekly"):
                raise located_error(
                    f"a {self.rotation} rotation takes "
                    f"{'a day and time' if self.rotation == 'weekly' else 'a time'} here; "
                    "set the date with start",
                    "handoff",
                )
            if self.start is not None:
                raise located_error("set start or a dated handoff, not both", "start")
        return self

    @property
    def length(self) -> timedelta:
        """How long one turn lasts."""
        if self.rotation == "daily":
            return DAY
        if self.rotation == "weekly":
            return WEEK
        return parse_duration(self.rotation)

    @property
    def is_calendar(self) -> bool:
        """Whole-day turns hand off at the same local time every time, across DST changes;
        shorter or uneven ones (12h, 36h) are elapsed time."""
        return self.length % DAY == timedelta()

    @property
    def first_handoff(self) -> datetime:
        """The local wall-clock time (naive) at which ``people[0]``'s first turn begins."""
        handoff = parse_handoff(self.handoff) if self.handoff else None
        if handoff is None:
            handoff = Handoff(time(9, 0), weekday=0 if self.rotation == "weekly" else None)
        if handoff.day is not None:
            return datetime.combine(handoff.day, handoff.at)
        start = self.start or DEFAULT_START
        if handoff.weekday is not None:
            start += timedelta(days=(handoff.weekday - start.weekday()) % 7)
        return datetime.combine(start, handoff.at)


class Override(_Model):
    """``person`` covers the schedule from ``start`` to ``end`` (times without an offset are in
    the schedule's timezone), above every layer."""

    person: Slug
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _order(self) -> Override:
        if (self.start.tzinfo is None) != (self.end.tzinfo is None):
            raise located_error("give both start and end with an offset, or neither", "end")
        if self.end <= self.start:
            raise located_error("end must be after start", "end")
        return self


class Schedule(_Model):
    """Layers in order, later ones above earlier ones where they have someone; then overrides.

    The one-layer shorthand ``{rotation, handoff, people, start}`` is read as ``layers: [...]``.
    """

    timezone: Timezone | None = None
    layers: list[Layer] = Field(min_length=1)
    overrides: list[Override] = []

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not any(k in value for k in LAYER_KEYS):
            return value
        if "layers" in value:
            raise ValueError("set layers, or rotation/handoff/people for one layer, not both")
        layer = {k: v for k, v in value.items() if k in LAYER_KEYS}
        rest = {k: v for k, v in value.items() if k not in LAYER_KEYS}
        return {**rest, "layers": [layer]}

    @model_validator(mode="after")
    def _base_layer(self) -> Schedule:
        # The first layer is the floor that guarantees someone is always on call.
        if self.layers[0].restrict is not None:
            raise located_error(
                "the first layer cannot be restricted: it keeps someone on call at every "
                "hour; add the restricted rotation as a later layer",
                "layers",
                0,
                "restrict",
            )
        return self


class Person(_Model):
    """Someone who can be on call. ``notify``: the channels that reach this person when they
    are paged (an ``smtp`` channel sends to ``email``, not to the channel's own ``to``)."""

    name: str = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    timezone: Timezone | None = None
    notify: list[Slug] = []


class Level(_Model):
    """Notify every target, then wait for an acknowledgement before the next level."""

    notify: list[str] = Field(min_length=1)
    wait: Duration | None = None

    @model_validator(mode="after")
    def _shape(self) -> Level:
        for i, target in enumerate(self.notify):
            kind, sep, name = target.partition(":")
            if not sep or kind not in TARGET_KINDS or not name:
                raise located_error(
                    f"{target!r} is not a target (use schedule:NAME, person:NAME or channel:NAME)",
                    "notify",
                    i,
                )
        if self.wait is not None and self.wait <= timedelta():
            raise located_error("wait must be longer than 0s", "wait")
        return self


class EscalationPolicy(_Model):
    """Levels in order; after the last, start again from the first ``repeat`` more times.

    A plain list of levels is read as ``{levels: [...], repeat: 0}``.
    """

    levels: list[Level] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"levels": value} if isinstance(value, list) else value

    @model_validator(mode="after")
    def _waits(self) -> EscalationPolicy:
        # Only the very last level of the last round may leave out its wait: nothing follows it.
        for i, level in enumerate(self.levels):
            last = i == len(self.levels) - 1
            if level.wait is None and (not last or self.repeat):
                why = "before repeating" if last else "before the next level"
                raise located_error(f"wait is required {why} (e.g. wait: 5m)", "levels", i)
        return self


# Path segments under /api/v1/oncall/ that are not schedules.
RESERVED_SCHEDULE_NAMES = frozenset({"overrides"})


class OncallConfig(_Model):
    people: dict[Slug, Person] = {}
    schedules: dict[Slug, Schedule] = {}
    escalation: dict[Slug, EscalationPolicy] = {}

    @model_validator(mode="after")
    def _reserved(self) -> OncallConfig:
        for name in sorted(RESERVED_SCHEDULE_NAMES & self.schedules.keys()):
            raise located_error(
                f"a schedule cannot be called {name!r}: /api/v1/oncall/{name} is another route; "
                "rename the schedule",
                "schedules",
                name,
            )
        return self


def oncall_problems(
    oncall: OncallConfig, *, channels: Collection[str], broken: frozenset[Loc] = frozenset()
) -> list[Problem]:
    """Every reference in ``oncall`` to a person, schedule or channel that does not exist, each
    at the key that holds it. ``broken``: paths the loader dropped as invalid, whose names
    count as defined (see ``known.py``)."""
    people = known_names(("oncall", "people"), oncall.people, broken)
    schedules = known_names(("oncall", "schedules"), oncall.schedules, broken)
    problems: list[Problem] = []
    at: Loc
    for name, schedule in oncall.schedules.items():
        for i, layer in enumerate(schedule.layers):
            for j, person in enumerate(layer.people):
                at = ("oncall", "schedules", name, "layers", i, "people", j)
                problems += _missing(at, "person", person, people)
        for i, override in enumerate(schedule.overrides):
            at = ("oncall", "schedules", name, "overrides", i, "person")
            problems += _missing(at, "person", override.person, people)
    for name, someone in oncall.people.items():
        for i, ref in enumerate(someone.notify):
            at = ("oncall", "people", name, "notify", i)
            problems += _missing(at, "channel", ref, channels)
    known: Mapping[str, Collection[str]] = {
        "schedule": schedules,
        "person": people,
        "channel": channels,
    }
    for name, policy in oncall.escalation.items():
        for i, level in enumerate(policy.levels):
            for j, target in enumerate(level.notify):
                kind, _, ref = target.partition(":")
                at = ("oncall", "escalation", name, "levels", i, "notify", j)
                problems += _missing(at, kind, ref, known[kind])
    problems += _unreachable(oncall)
    return problems


def paged_people(oncall: OncallConfig, policy: str) -> dict[str, str]:
    """Everyone ``policy`` can page, each with how (``schedule l1``, ``person``)."""
    found: dict[str, str] = {}
    for level in oncall.escalation[policy].levels:
        for target in level.notify:
            kind, _, ref = target.partition(":")
            if kind == "person":
                found.setdefault(ref, "paged directly")
            elif kind == "schedule" and ref in oncall.schedules:
                schedule = oncall.schedules[ref]
                people = [p for layer in schedule.layers for p in layer.people]
                people += [o.person for o in schedule.overrides]
                for person in people:
                    found.setdefault(person, f"on schedule {ref!r}")
    return found


def _unreachable(oncall: OncallConfig) -> list[Problem]:
    # A page to someone with no way to reach them would be lost: refuse it at load.
    problems: list[Problem] = []
    reported: set[str] = set()
    for policy in oncall.escalation:
        for person, how in paged_people(oncall, policy).items():
            known = oncall.people.get(person)
            if known is None or known.notify or person in reported:
                continue
            reported.add(person)
            problems.append(
                (
                    ("oncall", "people", person),
                    f"{person!r} can be paged ({how}, escalation policy {policy!r}) but has no "
                    "notify channels: add notify: [CHANNEL, ...]",
                )
            )
    return problems


_SECTION = {
    "person": "oncall.people",
    "schedule": "oncall.schedules",
    "channel": "channels",
    "escalation policy": "oncall.escalation",
}


def _missing(at: Loc, what: str, ref: str, known: Collection[str]) -> list[Problem]:
    if ref in known:
        return []
    close = difflib.get_close_matches(ref, list(known), n=1)
    if close:
        return [(at, f"unknown {what} {ref!r} (did you mean {close[0]!r}?)")]
    if not known:
        return [(at, f"unknown {what} {ref!r} (none are defined under {_SECTION[what]})")]
    return [(at, f"unknown {what} {ref!r} (known: {', '.join(known)})")]


def severity_problems(
    severities: Mapping[str, Any], *, policies: Collection[str], channels: Collection[str]
) -> list[Problem]:
    """Every ``severities.<name>.escalation`` policy and ``notify`` channel that does not exist."""
    problems: list[Problem] = []
    for name, severity in severities.items():
        if severity.escalation is not None:
            at: Loc = ("severities", name, "escalation")
            problems += _missing(at, "escalation policy", severity.escalation, policies)
        for i, ref in enumerate(severity.notify):
            problems += _missing(("severities", name, "notify", i), "channel", ref, channels)
    return problems
