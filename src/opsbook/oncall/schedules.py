"""Who is on call when: pure functions over a schedule's layers and overrides.

Whole-day rotations (daily, weekly, ``3d``, ``2w``) hand off at the same local wall-clock time
every time, so a ``mon 09:00`` handoff in Europe/Berlin stays 09:00 across both DST changes (the
turn that contains the change is an hour shorter or longer). Other lengths (``12h``) are elapsed
time from the first handoff. A layer extends before its first handoff as well as after it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from opsbook.config import Config
from opsbook.config.oncall import DAY, WEEKDAYS, Layer, Override, Restriction, Schedule
from opsbook.errors import NotFound

OVERRIDE = "override"


@dataclasses.dataclass(frozen=True)
class Shift:
    """``person`` is on call from ``start`` to ``end`` (UTC). ``layer`` names where it comes
    from: the layer's ``name`` (default ``layer 1``, ``layer 2`` ...) or ``override``."""

    person: str
    start: datetime
    end: datetime
    layer: str
    override: bool = False


@dataclasses.dataclass(frozen=True)
class _Piece:
    start: datetime
    end: datetime
    person: str
    key: tuple[int, int]
    """(priority, turn): pieces of one turn of one layer (or one override) share a key."""


def get_schedule(config: Config, name: str) -> Schedule:
    """The schedule called ``name``. Raises ``NotFound`` (field ``schedule``) naming the
    schedules that exist, but not ``name`` (the API never repeats what it was sent)."""
    found = config.oncall.schedules.get(name)
    if found is None:
        known = ", ".join(config.oncall.schedules) or "none are configured"
        raise NotFound(f"no schedule with this name (known: {known})", field="schedule")
    return found


def schedule_timezone(config: Config, name: str) -> ZoneInfo:
    """The schedule's own ``timezone``, else the config's top-level one."""
    return ZoneInfo(get_schedule(config, name).timezone or config.timezone)


def who(
    config: Config, schedule: str, at: datetime, *, overrides: Sequence[Override] = ()
) -> Shift:
    """The shift that covers ``at`` (timezone-aware). The first layer is never restricted, so
    someone is always on call. ``overrides``: as in ``shifts``. Raises ``NotFound`` for an
    unknown schedule."""
    _aware(at)
    found = get_schedule(config, schedule)
    # Wide enough to hold the whole of any turn or override around ``at``.
    longest = max(
        [layer.length for layer in found.layers]
        + [o.end - o.start for o in (*found.overrides, *overrides)]
    )
    span = longest + 2 * DAY
    for shift in shifts(config, schedule, at - span, at + span, overrides=overrides):
        if shift.start <= at < shift.end:
            return shift
    raise AssertionError("the base layer covers every instant")  # pragma: no cover


def shifts(
    config: Config,
    schedule: str,
    start: datetime,
    end: datetime,
    *,
    overrides: Sequence[Override] = (),
) -> list[Shift]:
    """Who is on call from ``start`` to ``end`` (both timezone-aware), in order, contiguous, the
    first and last clipped to the range. ``overrides``: more overrides of this schedule (the
    ones added at run time and stored), above the configured ones, a later one above an earlier
    one.

    1. Each layer yields its turns in the range, cut to its ``restrict`` windows.
    2. At every instant the last layer with someone wins; overrides win over every layer, and a
       later override over an earlier one (the configured ones first, then ``overrides``).
    3. Adjacent pieces of the same turn (or override) join into one shift; two turns of the same
       person stay two shifts.

    Raises ``NotFound`` for an unknown schedule.
    """
    _aware(start)
    _aware(end)
    found = get_schedule(config, schedule)
    zone = ZoneInfo(found.timezone or config.timezone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    tiers: list[list[_Piece]] = []
    labels: list[str] = []
    for i, layer in enumerate(found.layers):
        pieces = list(_turns(layer, zone, start, end, priority=i))
        if layer.restrict is not None:
            pieces = _within(pieces, _windows(layer.restrict, zone, start, end))
        tiers.append(pieces)
        labels.append(layer.name or f"layer {i + 1}")
    for j, override in enumerate((*found.overrides, *overrides)):
        begin, finish = _utc(override.start, zone), _utc(override.end, zone)
        if begin < end and finish > start:
            key = (len(found.layers) + j, 0)
            piece = _Piece(max(begin, start), min(finish, end), override.person, key)
            tiers.append([piece])
        else:
            tiers.append([])
        labels.append(OVERRIDE)
    return _merge(tiers, labels, start, end, layers=len(found.layers))


def _aware(value: datetime) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{value.isoformat()} has no timezone; on-call maths needs aware times")


def _utc(value: datetime, zone: ZoneInfo) -> datetime:
    """A config time: without an offset it is local wall-clock time in ``zone``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    # A wall time skipped by a spring-forward change maps to the instant an hour later
    # (zoneinfo's fold=0 reading, PEP 495), the same for every turn, so turns still meet.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _turns(
    layer: Layer, zone: ZoneInfo, start: datetime, end: datetime, *, priority: int
) -> Iterator[_Piece]:
    anchor = layer.first_handoff
    length = layer.length

    def bound(k: int) -> datetime:
        if layer.is_calendar:
            local = anchor + k * length
            return _wall(local.date(), local.time(), zone)
        return _utc(anchor, zone) + k * length

    local_start = start.astimezone(zone).replace(tzinfo=None)
    k = (local_start - anchor) // length
    while bound(k) > start:
        k -= 1
    while bound(k + 1) <= start:
        k += 1
    people = layer.people
    while bound(k) < end:
        yield _Piece(
            max(bound(k), start), min(bound(k + 1), end), people[k % len(people)], (priority, k)
        )
        k += 1


def _windows(
    restrict: Restriction, zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The restriction's local windows that touch the range, in UTC, joined where they meet."""
    hours = restrict.window()
    first = start.astimezone(zone).date() - DAY
    last = end.astimezone(zone).date()
    out: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        if WEEKDAYS[day.weekday()] in restrict.days:
            if hours is None:
                begin, finish = _wall(day, time(), zone), _wall(day + DAY, time(), zone)
            else:
                begin = _wall(day, hours[0], zone)
                finish = _wall(day + DAY if hours[1] < hours[0] else day, hours[1], zone)
            if out and out[-1][1] >= begin:
                out[-1] = (out[-1][0], max(out[-1][1], finish))
            else:
                out.append((begin, finish))
        day += DAY
    return out


def _within(pieces: Sequence[_Piece], windows: Sequence[tuple[datetime, datetime]]) -> list[_Piece]:
    out: list[_Piece] = []
    w = 0
    for piece in pieces:
        while w < len(windows) and windows[w][1] <= piece.start:
            w += 1
        v = w
        while v < len(windows) and windows[v][0] < piece.end:
            begin, finish = max(piece.start, windows[v][0]), min(piece.end, windows[v][1])
            if begin < finish:
                out.append(dataclasses.replace(piece, start=begin, end=finish))
            v += 1
    return out


def _merge(
    tiers: Sequence[Sequence[_Piece]],
    labels: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    layers: int,
) -> list[Shift]:
    """At each boundary pick the highest tier with a piece; join runs of one key."""
    bounds = sorted({start, end, *(t for tier in tiers for p in tier for t in (p.start, p.end))})
    cursor = [0] * len(tiers)
    out: list[Shift] = []
    keys: list[tuple[int, int]] = []
    for begin, finish in itertools.pairwise(bounds):
        top: _Piece | None = None
        for n in range(len(tiers) - 1, -1, -1):
            tier = tiers[n]
            while cursor[n] < len(tier) and tier[cursor[n]].end <= begin:
                cursor[n] += 1
            if cursor[n] < len(tier) and tier[cursor[n]].start <= begin:
                top = tier[cursor[n]]
                break
        if top is None:  # pragma: no cover - the first layer is unrestricted
            continue
        if out and keys[-1] == top.key and out[-1].end == begin:
            out[-1] = dataclasses.replace(out[-1], end=finish)
            continue
        priority = top.key[0]
        out.append(
            Shift(
                person=top.person,
                start=begin,
                end=finish,
                layer=labels[priority],
                override=priority >= layers,
            )
        )
        keys.append(top.key)
    return out
