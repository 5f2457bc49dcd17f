"""Maintenance windows: one-off and recurring openings (with DST), and which alerts they hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsbook.alerts.maintenance import (
    MAX_OCCURRENCES,
    OpenWindow,
    open_windows,
    upcoming_windows,
    window_for,
)
from opsbook.config import Config


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def make_config(maintenance: dict[str, Any], timezone: str = "UTC") -> Config:
    return Config.model_validate(
        {
            "service": "shop",
            "timezone": timezone,
            "checks": {
                "api": {"http": {"url": "http://127.0.0.1:1/"}},
                "db": {"tcp": {"host": "127.0.0.1", "port": 1}},
                "replica": {"tcp": {"host": "127.0.0.1", "port": 2}},
            },
            "components": {
                "backend": {"name": "Backend", "checks": ["db", "replica"]},
                "web": {"name": "Web", "checks": ["api"]},
            },
            "maintenance": maintenance,
        }
    )


BERLIN_NIGHTLY = {
    "nightly": {"schedule": "30 2 * * *", "duration": "1h", "timezone": "Europe/Berlin"}
}


@pytest.mark.parametrize(
    ("window", "timezone", "start", "end"),
    [
        # Naive times are in the window's timezone...
        (
            {
                "start": "2026-11-22T13:00:00",
                "end": "2026-11-22T14:00:00",
                "timezone": "Europe/Berlin",
            },
            "UTC",
            utc(2026, 11, 22, 12),
            utc(2026, 11, 22, 13),
        ),
        # ...else in the config's...
        (
            {"start": "2026-07-01T09:00:00", "end": "2026-07-01T10:30:00"},
            "America/New_York",
            utc(2026, 7, 1, 13),
            utc(2026, 7, 1, 14, 30),
        ),
        # ...and an offset wins over both.
        (
            {"start": "2026-11-22T12:00:00+05:00", "end": "2026-11-22T13:00:00+05:00"},
            "Europe/Berlin",
            utc(2026, 11, 22, 7),
            utc(2026, 11, 22, 8),
        ),
    ],
)
def test_a_one_off_window_is_open_from_start_to_end(
    window: dict[str, Any], timezone: str, start: datetime, end: datetime
) -> None:
    config = make_config({"upgrade": window}, timezone)
    assert open_windows(config, start - timedelta(microseconds=1)) == []
    [opening] = open_windows(config, start)
    assert (opening.name, opening.start, opening.end) == ("upgrade", start, end)
    assert open_windows(config, end - timedelta(seconds=1)) == [opening]
    assert open_windows(config, end) == []


def test_a_recurring_window_opens_at_each_occurrence_for_its_duration() -> None:
    config = make_config(BERLIN_NIGHTLY)
    # 02:30 CET is 01:30 UTC in November.
    assert open_windows(config, utc(2026, 11, 22, 1, 29)) == []
    [opening] = open_windows(config, utc(2026, 11, 22, 2, 29))
    assert (opening.start, opening.end) == (utc(2026, 11, 22, 1, 30), utc(2026, 11, 22, 2, 30))
    assert open_windows(config, utc(2026, 11, 22, 2, 30)) == []


def test_dst_spring_forward_opens_at_the_first_minute_after_the_gap() -> None:
    # 2026-03-29 in Berlin: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist.
    config = make_config(BERLIN_NIGHTLY)
    openings = upcoming_windows(config, utc(2026, 3, 28, 0), timedelta(days=3))
    assert [(o.start, o.end) for o in openings] == [
        (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 2, 30)),  # 02:30 CET
        (utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 2, 0)),  # 03:00 CEST
        (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 1, 30)),  # 02:30 CEST
    ]
    assert [o.name for o in open_windows(config, utc(2026, 3, 29, 1, 59))] == ["nightly"]
    assert open_windows(config, utc(2026, 3, 29, 0, 59)) == []


def test_dst_fall_back_opens_once_and_lasts_its_real_duration() -> None:
    # 2026-10-25 in Berlin: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    config = make_config(BERLIN_NIGHTLY)
    openings = upcoming_windows(config, utc(2026, 10, 24, 12), timedelta(days=2))
    assert [(o.start, o.end) for o in openings] == [
        (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),  # the first 02:30, CEST
        (utc(2026, 10, 26, 1, 30), utc(2026, 10, 26, 2, 30)),  # 02:30 CET
    ]
    # During the second 02:30 (CET) the window has already closed: one hour of real time.
    assert open_windows(config, utc(2026, 10, 25, 1, 29)) != []
    assert open_windows(config, utc(2026, 10, 25, 1, 30)) == []
    assert open_windows(config, utc(2026, 10, 25, 1, 45)) == []


def test_overlapping_occurrences_merge_into_one_opening() -> None:
    config = make_config({"busy": {"schedule": "0 * * * *", "duration": "90m"}})
    [opening] = open_windows(config, utc(2026, 11, 22, 12, 15))
    assert (opening.start, opening.end) == (utc(2026, 11, 22, 11), utc(2026, 11, 22, 13, 30))


def test_upcoming_lists_future_openings_by_start_within_the_horizon() -> None:
    config = make_config(
        {
            "nightly": {"schedule": "0 3 * * *", "duration": "1h"},
            "upgrade": {
                "start": "2026-11-23T12:00:00Z",
                "end": "2026-11-23T14:00:00Z",
                "components": ["backend"],
                "description": "Postgres 17",
            },
            "past": {"start": "2026-11-01T12:00:00Z", "end": "2026-11-01T14:00:00Z"},
        }
    )
    now = utc(2026, 11, 22, 3, 30)  # nightly is open now: not upcoming
    found = upcoming_windows(config, now, timedelta(days=2))
    assert [(o.name, o.start) for o in found] == [
        ("nightly", utc(2026, 11, 23, 3)),
        ("upgrade", utc(2026, 11, 23, 12)),
        ("nightly", utc(2026, 11, 24, 3)),
    ]
    assert found[1] == OpenWindow(
        name="upgrade",
        start=utc(2026, 11, 23, 12),
        end=utc(2026, 11, 23, 14),
        components=("backend",),
        checks=(),
        description="Postgres 17",
    )
    assert upcoming_windows(config, now, timedelta(hours=1)) == []


def test_upcoming_is_bounded_per_window() -> None:
    config = make_config({"often": {"schedule": "* * * * *", "duration": "30s"}})
    assert len(upcoming_windows(config, utc(2026, 11, 22), timedelta(days=7))) == MAX_OCCURRENCES


WINDOW = {"start": "2026-11-22T12:00:00Z", "end": "2026-11-22T13:00:00Z"}
NOW = utc(2026, 11, 22, 12, 30)


@pytest.mark.parametrize(
    ("scope", "labels", "held"),
    [
        ({}, {"alertname": "anything"}, True),
        ({"components": ["backend"]}, {"check": "replica"}, True),  # a check of the component
        ({"components": ["backend"]}, {"check": "api", "component": "web"}, False),
        ({"components": ["backend"]}, {"alertname": "x", "component": "backend"}, True),
        ({"checks": ["api"]}, {"check": "api", "component": "web"}, True),
        ({"checks": ["api"]}, {"check": "db"}, False),
        ({"checks": ["api"]}, {"alertname": "ingested"}, False),
    ],
)
def test_window_for_matches_components_and_checks(
    scope: dict[str, Any], labels: dict[str, str], held: bool
) -> None:
    config = make_config({"work": {**WINDOW, **scope}})
    assert window_for(config, labels, NOW) == ("work" if held else None)
    assert window_for(config, labels, utc(2026, 11, 22, 13)) is None


def test_the_first_open_window_in_config_order_wins() -> None:
    config = make_config(
        {"second": {**WINDOW, "checks": ["db"]}, "first": {**WINDOW, "components": ["backend"]}}
    )
    assert window_for(config, {"check": "db"}, NOW) == "second"
