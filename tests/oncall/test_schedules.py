"""Who is on call: rotations, layers, overrides, and DST (Europe/Berlin: 2026-03-29, 2026-10-25)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from opsbook.config import Config
from opsbook.errors import NotFound
from opsbook.oncall import Shift, schedule_timezone, shifts, who

BERLIN = ZoneInfo("Europe/Berlin")
PEOPLE = {p: {"name": p.title()} for p in ("ana", "ben", "cy", "dee")}


def config(schedules: dict[str, Any], *, timezone: str = "Europe/Berlin") -> Config:
    return Config.model_validate(
        {
            "service": "shop",
            "timezone": timezone,
            "oncall": {"people": PEOPLE, "schedules": schedules},
        }
    )


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def table(found: list[Shift]) -> list[tuple[str, str, str, str]]:
    return [
        (
            s.person,
            s.start.astimezone(BERLIN).strftime("%m-%d %H:%M"),
            s.end.astimezone(BERLIN).strftime("%m-%d %H:%M"),
            s.layer + (" (override)" if s.override else ""),
        )
        for s in found
    ]


WEEKLY = {"primary": {"rotation": "weekly", "handoff": "mon 09:00", "people": ["ana", "ben"]}}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (  # Spring forward on Sunday 29 March: that turn is 167 hours, still 09:00 to 09:00.
            local(2026, 3, 23, 9),
            local(2026, 4, 6, 9),
            [
                ("ben", "03-23 09:00", "03-30 09:00", 167),
                ("ana", "03-30 09:00", "04-06 09:00", 168),
            ],
        ),
        (  # Fall back on Sunday 25 October: 169 hours.
            local(2026, 10, 19, 9),
            local(2026, 11, 2, 9),
            [
                ("ben", "10-19 09:00", "10-26 09:00", 169),
                ("ana", "10-26 09:00", "11-02 09:00", 168),
            ],
        ),
    ],
)
def test_a_weekly_handoff_stays_at_nine_local_across_dst(
    start: datetime, end: datetime, expected: list[tuple[str, str, str, int]]
) -> None:
    found = shifts(config(WEEKLY), "primary", start, end)
    assert [
        (*row[:3], (s.end - s.start) // timedelta(hours=1))
        for row, s in zip(table(found), found, strict=True)
    ] == expected


def test_a_daily_handoff_stays_at_its_local_time_across_both_changes() -> None:
    daily = config({"p": {"rotation": "daily", "handoff": "18:00", "people": ["ana", "ben", "cy"]}})
    for change in (local(2026, 3, 29, 12), local(2026, 10, 25, 12)):
        found = shifts(daily, "p", change - timedelta(days=2), change + timedelta(days=2))
        inner = found[1:-1]
        assert {s.start.astimezone(BERLIN).strftime("%H:%M") for s in inner} == {"18:00"}
        hours = [(s.end - s.start) // timedelta(hours=1) for s in inner]
        assert hours == ([24, 23, 24] if change.month == 3 else [24, 25, 24])


def test_a_handoff_inside_the_skipped_hour_still_leaves_no_gap() -> None:
    night = config({"p": {"rotation": "daily", "handoff": "02:30", "people": ["ana", "ben"]}})
    found = shifts(night, "p", local(2026, 3, 27), local(2026, 4, 1))
    assert all(a.end == b.start for a, b in itertools.pairwise(found))
    # 02:30 does not exist on 29 March; that handoff happens at 03:30 CEST (PEP 495, fold=0).
    assert local(2026, 3, 29, 3, 30) in [s.start for s in found]


def test_an_elapsed_rotation_keeps_its_length_and_moves_on_the_clock() -> None:
    halves = config(
        {"p": {"rotation": "12h", "handoff": "2026-03-28T08:00", "people": ["ana", "ben"]}}
    )
    found = shifts(halves, "p", local(2026, 3, 28, 8), local(2026, 3, 30, 8))
    assert {s.end - s.start for s in found[:-1]} == {timedelta(hours=12)}
    assert table(found) == [
        ("ana", "03-28 08:00", "03-28 20:00", "layer 1"),
        ("ben", "03-28 20:00", "03-29 09:00", "layer 1"),
        ("ana", "03-29 09:00", "03-29 21:00", "layer 1"),
        ("ben", "03-29 21:00", "03-30 08:00", "layer 1"),
    ]


def test_a_rotation_of_whole_days_hands_off_by_the_calendar() -> None:
    three = config({"p": {"rotation": "3d", "handoff": "09:00", "people": ["ana", "ben"]}})
    found = shifts(three, "p", local(2026, 3, 27, 9), local(2026, 4, 2, 9))
    assert table(found) == [
        ("ben", "03-27 09:00", "03-30 09:00", "layer 1"),
        ("ana", "03-30 09:00", "04-02 09:00", "layer 1"),
    ]


def test_a_rotation_reaches_back_before_its_start() -> None:
    found = shifts(config(WEEKLY), "primary", local(2025, 12, 22, 9), local(2026, 1, 12, 9))
    assert [s.person for s in found] == ["ana", "ben", "ana"]


def test_a_later_layer_covers_the_earlier_one_only_where_it_has_someone() -> None:
    layered = config(
        {
            "p": {
                "layers": [
                    {"rotation": "weekly", "handoff": "mon 09:00", "people": ["ana", "ben"]},
                    {
                        "name": "weekend",
                        "rotation": "daily",
                        "handoff": "09:00",
                        "people": ["cy", "dee"],
                        "restrict": {"days": ["sat", "sun"], "hours": "09:00-21:00"},
                    },
                    {
                        "name": "nights",
                        "rotation": "weekly",
                        "handoff": "mon 00:00",
                        "people": ["dee"],
                        "restrict": {"days": ["fri"], "hours": "22:00-06:00"},
                    },
                ]
            }
        }
    )
    found = shifts(layered, "p", local(2026, 1, 9, 12), local(2026, 1, 12, 12))
    assert table(found) == [
        ("ana", "01-09 12:00", "01-09 22:00", "layer 1"),
        ("dee", "01-09 22:00", "01-10 06:00", "nights"),
        ("ana", "01-10 06:00", "01-10 09:00", "layer 1"),
        ("dee", "01-10 09:00", "01-10 21:00", "weekend"),
        ("ana", "01-10 21:00", "01-11 09:00", "layer 1"),
        ("cy", "01-11 09:00", "01-11 21:00", "weekend"),
        ("ana", "01-11 21:00", "01-12 09:00", "layer 1"),
        ("ben", "01-12 09:00", "01-12 12:00", "layer 1"),
    ]


def test_overrides_swap_a_shift_and_a_later_override_wins() -> None:
    swapped = config(
        {
            "p": {
                **WEEKLY["primary"],
                "overrides": [
                    {"person": "cy", "start": "2026-01-06T09:00", "end": "2026-01-08T09:00"},
                    {"person": "dee", "start": "2026-01-07T08:00Z", "end": "2026-01-07T10:00Z"},
                ],
            }
        }
    )
    found = shifts(swapped, "p", local(2026, 1, 5, 9), local(2026, 1, 12, 9))
    assert table(found) == [
        ("ana", "01-05 09:00", "01-06 09:00", "layer 1"),
        ("cy", "01-06 09:00", "01-07 09:00", "override (override)"),
        ("dee", "01-07 09:00", "01-07 11:00", "override (override)"),
        ("cy", "01-07 11:00", "01-08 09:00", "override (override)"),
        ("ana", "01-08 09:00", "01-12 09:00", "layer 1"),
    ]
    now = who(swapped, "p", local(2026, 1, 7, 10))
    assert (now.person, now.override) == ("dee", True)


def test_who_gives_the_whole_turn_around_the_instant() -> None:
    shift = who(config(WEEKLY), "primary", datetime(2026, 3, 31, 12, tzinfo=UTC))
    assert shift == Shift("ana", local(2026, 3, 30, 9), local(2026, 4, 6, 9), "layer 1")


def test_a_schedule_without_a_timezone_uses_the_top_level_one() -> None:
    utc = config(WEEKLY, timezone="UTC")
    assert schedule_timezone(utc, "primary") == ZoneInfo("UTC")
    assert who(utc, "primary", datetime(2026, 1, 5, 9, tzinfo=UTC)).start == datetime(
        2026, 1, 5, 9, tzinfo=UTC
    )
    tokyo = config({"primary": {**WEEKLY["primary"], "timezone": "Asia/Tokyo"}}, timezone="UTC")
    assert who(tokyo, "primary", datetime(2026, 1, 5, 0, tzinfo=UTC)).start == datetime(
        2026, 1, 5, 0, tzinfo=UTC
    )


def test_an_unknown_schedule_is_not_found_naming_the_known_ones() -> None:
    with pytest.raises(NotFound, match=r"^no schedule with this name \(known: primary\)$"):
        who(config(WEEKLY), "nope", datetime(2026, 1, 1, tzinfo=UTC))


def test_times_without_a_timezone_are_refused() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        who(config(WEEKLY), "primary", datetime(2026, 1, 1))


def test_an_empty_range_has_no_shifts() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert shifts(config(WEEKLY), "primary", at, at) == []


def _random_schedule(rng: random.Random) -> dict[str, Any]:
    people = list(PEOPLE)

    def layer() -> dict[str, Any]:
        kind = rng.choice(["daily", "weekly", "3d", "12h", "8h", "36h"])
        found: dict[str, Any] = {
            "rotation": kind,
            "people": rng.sample(people, rng.randint(1, 4)),
        }
        hour = f"{rng.randint(0, 23):02d}:{rng.choice([0, 30]):02d}"
        if kind == "weekly":
            found["handoff"] = f"{rng.choice(['mon', 'wed', 'sun'])} {hour}"
        elif kind in ("daily", "3d") or rng.random() < 0.5:
            found["handoff"] = hour
        else:
            found["handoff"] = f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T{hour}"
        return found

    layers = [layer()]
    for _ in range(rng.randint(0, 2)):
        extra = layer()
        days = rng.sample(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], rng.randint(1, 7))
        hours = rng.choice([None, "09:00-17:00", "22:00-06:00", "02:00-03:00"])
        extra["restrict"] = {"days": days} | ({"hours": hours} if hours else {})
        layers.append(extra)
    overrides = []
    for _ in range(rng.randint(0, 3)):
        begin = datetime(2026, 1, 1) + timedelta(hours=rng.randint(0, 24 * 364))
        overrides.append(
            {
                "person": rng.choice(people),
                "start": begin.isoformat(),
                "end": (begin + timedelta(hours=rng.randint(1, 200))).isoformat(),
            }
        )
    return {"layers": layers, "overrides": overrides}


@pytest.mark.parametrize("seed", range(25))
def test_shifts_over_a_year_are_contiguous_and_agree_with_who(seed: int) -> None:
    rng = random.Random(seed)
    zone = rng.choice(["Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"])
    cfg = config({"p": _random_schedule(rng)}, timezone=zone)
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 10_000))
    end = start + timedelta(days=365)
    found = shifts(cfg, "p", start, end)
    assert found[0].start == start
    assert found[-1].end == end
    for a, b in itertools.pairwise(found):
        assert a.end == b.start, (a, b)
    assert all(s.start < s.end for s in found)
    for _ in range(20):
        at = start + timedelta(seconds=rng.randint(0, 364 * 86400))
        shift = who(cfg, "p", at)
        inside = next(s for s in found if s.start <= at < s.end)
        assert (shift.person, shift.layer, shift.override) == (
            inside.person,
            inside.layer,
            inside.override,
        )
        assert shift.start <= at < shift.end
