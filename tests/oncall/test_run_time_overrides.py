"""The schedule maths with overrides passed in (the ones stored at run time): above every layer
and above the configured overrides, a later one above an earlier one; ``who`` reports a long one
whole, not cut to its search window. Pure: no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsbook.config import Config
from opsbook.config.oncall import Override
from opsbook.oncall import Shift, shifts, who

T0 = datetime(2026, 4, 6, 9, 0, tzinfo=UTC)  # a Monday handoff
HOUR = timedelta(hours=1)
CONFIG = Config.model_validate(
    {
        "service": "shop",
        "timezone": "UTC",
        "oncall": {
            "people": {p: {"name": p.title()} for p in ("ana", "ben", "cy", "dee")},
            "schedules": {
                "primary": {
                    "rotation": "daily",
                    "handoff": "09:00",
                    "people": ["ana"],
                    "overrides": [
                        {"person": "ben", "start": "2026-04-06T10:00", "end": "2026-04-06T14:00"}
                    ],
                }
            },
        },
    }
)


def over(person: str, start: datetime, end: datetime) -> Override:
    return Override(person=person, start=start, end=end)


def people(found: list[Shift]) -> list[tuple[str, int, int, bool]]:
    return [(s.person, s.start.hour, s.end.hour, s.override) for s in found]


def test_without_extra_overrides_nothing_changes() -> None:
    found = shifts(CONFIG, "primary", T0, T0 + 8 * HOUR)
    assert people(found) == [("ana", 9, 10, False), ("ben", 10, 14, True), ("ana", 14, 17, False)]
    assert shifts(CONFIG, "primary", T0, T0 + 8 * HOUR, overrides=()) == found


def test_an_extra_override_wins_over_the_configured_one_and_a_later_over_an_earlier() -> None:
    extra = [over("cy", T0 + 2 * HOUR, T0 + 6 * HOUR), over("dee", T0 + 3 * HOUR, T0 + 4 * HOUR)]
    found = shifts(CONFIG, "primary", T0, T0 + 8 * HOUR, overrides=extra)
    assert people(found) == [
        ("ana", 9, 10, False),
        ("ben", 10, 11, True),
        ("cy", 11, 12, True),
        ("dee", 12, 13, True),
        ("cy", 13, 15, True),
        ("ana", 15, 17, False),
    ]
    assert who(CONFIG, "primary", T0 + 3.5 * HOUR, overrides=extra).person == "dee"
    assert who(CONFIG, "primary", T0 + 3.5 * HOUR).person == "ben"


def test_who_reports_a_long_override_whole() -> None:
    start, end = T0 + 2 * HOUR, T0 + timedelta(days=60)
    shift = who(CONFIG, "primary", T0 + timedelta(days=30), overrides=[over("cy", start, end)])
    assert (shift.person, shift.start, shift.end, shift.layer) == ("cy", start, end, "override")
