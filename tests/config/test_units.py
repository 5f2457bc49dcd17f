from __future__ import annotations

from datetime import timedelta

import pytest

from opsbook.config.units import format_duration, parse_duration, parse_percent, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("250ms", timedelta(milliseconds=250)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        ("1m30s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("1s500ms", timedelta(milliseconds=1500)),
        (" 10s ", timedelta(seconds=10)),
        ("0s", timedelta()),
    ],
)
def test_it_parses_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("30x", "'30x' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("30", "'30' is not a duration (use e.g. 30s, 5m, 1h)"),
        (30, "'30' is not a duration (use e.g. 30s, 5m, 1h)"),
        (1.5, "'1.5' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("", "'' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("s", "'s' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("-5s", "'-5s' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("5 m", "'5 m' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("5M", "'5M' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("30m1h", "'30m1h' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("1m1m", "'1m1m' is not a duration (use e.g. 30s, 5m, 1h)"),
        ("1h30", "'1h30' is not a duration (use e.g. 30s, 5m, 1h)"),
        (None, "'None' is not a duration (use e.g. 30s, 5m, 1h)"),
    ],
)
def test_it_rejects_what_is_not_a_duration(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(days=15), "2w1d"),
        (timedelta(), "0s"),
    ],
)
def test_it_formats_durations_that_parse_back(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [("99.9%", 99.9), ("100%", 100.0), ("0%", 0.0), ("99.95 %", 99.95), ("50%", 50.0)],
)
def test_it_parses_percentages(text: str, expected: float) -> None:
    assert parse_percent(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("99.9", "'99.9' is not a percentage (use e.g. 99.9%)"),
        (99.9, "'99.9' is not a percentage (use e.g. 99.9%)"),
        ("-1%", "'-1%' is not a percentage (use e.g. 99.9%)"),
        ("abc%", "'abc%' is not a percentage (use e.g. 99.9%)"),
        ("100.1%", "'100.1%' is more than 100%"),
    ],
)
def test_it_rejects_what_is_not_a_percentage(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_percent(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10KB", 10_000),
        ("10 KB", 10_000),
        ("512MiB", 512 * 1024**2),
        ("1KiB", 1024),
        ("2GB", 2 * 1000**3),
        ("1TiB", 1024**4),
        ("100B", 100),
        ("1.5KB", 1500),
        ("64kib", 64 * 1024),
    ],
)
def test_it_parses_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10", "'10' is not a size (use e.g. 512B, 10KB, 64MiB)"),
        ("10XB", "'10XB' is not a size (use e.g. 512B, 10KB, 64MiB)"),
        ("KB", "'KB' is not a size (use e.g. 512B, 10KB, 64MiB)"),
        ("1.5B", "'1.5B' is not a size (use e.g. 512B, 10KB, 64MiB)"),
        (10, "'10' is not a size (use e.g. 512B, 10KB, 64MiB)"),
    ],
)
def test_it_rejects_what_is_not_a_size(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_size(value)
    assert str(info.value) == message
