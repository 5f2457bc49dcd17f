"""Heartbeat status from ping timestamps, decided like healthchecks.io (table tests, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsbook.checks.heartbeats import (
    HeartbeatFacts,
    HeartbeatStatus,
    PingKind,
    expected_at,
    heartbeat_uuid,
    next_transition_at,
    parse_action,
    verdict,
)
from opsbook.config import loads
from opsbook.config.checks import HeartbeatSpec
from opsbook.errors import ConfigError

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOURLY = HeartbeatSpec(period=timedelta(hours=1), grace=timedelta(minutes=10))
NIGHTLY_BERLIN = HeartbeatSpec(
    schedule="30 2 * * *", grace=timedelta(minutes=30), timezone="Europe/Berlin"
)
m = timedelta(minutes=1)

UP = HeartbeatStatus.UP
LATE = HeartbeatStatus.LATE
DOWN = HeartbeatStatus.DOWN
NEW = HeartbeatStatus.NEW
STARTED = HeartbeatStatus.STARTED


@pytest.mark.parametrize(
    ("facts", "now", "status", "reason"),
    [
        (HeartbeatFacts(), T0, NEW, None),
        (HeartbeatFacts(last_ping_at=T0), T0 + 59 * m, UP, None),
        (
            HeartbeatFacts(last_ping_at=T0),
            T0 + 60 * m,
            LATE,
            "no ping since 2026-06-01T12:00:00Z; expected by 2026-06-01T13:00:00Z, "
            "down after 10m of grace",
        ),
        (HeartbeatFacts(last_ping_at=T0), T0 + 69 * m, LATE, None),
        (
            HeartbeatFacts(last_ping_at=T0),
            T0 + 70 * m,
            DOWN,
            "no ping since 2026-06-01T12:00:00Z; expected by 2026-06-01T13:00:00Z, grace 10m",
        ),
        (
            HeartbeatFacts(last_ping_at=T0, last_ping_failed=True),
            T0 + m,
            DOWN,
            "the last run reported failure (/fail)",
        ),
        (
            HeartbeatFacts(last_ping_at=T0, last_ping_failed=True, exit_status=3),
            T0 + m,
            DOWN,
            "the last run exited with status 3",
        ),
        # A start caps the run at grace, even when the next run is not due for an hour.
        (HeartbeatFacts(last_ping_at=T0, last_start_at=T0 + 5 * m), T0 + 14 * m, STARTED, None),
        (
            HeartbeatFacts(last_ping_at=T0, last_start_at=T0 + 5 * m),
            T0 + 15 * m,
            DOWN,
            "started at 2026-06-01T12:05:00Z and did not finish within 10m",
        ),
        # Started after the expected time: still "started" (not late) until the grace runs out.
        (HeartbeatFacts(last_ping_at=T0, last_start_at=T0 + 61 * m), T0 + 65 * m, STARTED, None),
        (HeartbeatFacts(last_ping_at=T0, last_start_at=T0 + 61 * m), T0 + 70 * m, DOWN, None),
        # A first run that started and hangs is down too, as on healthchecks.io.
        (HeartbeatFacts(last_start_at=T0), T0 + 9 * m, STARTED, None),
        (HeartbeatFacts(last_start_at=T0), T0 + 10 * m, DOWN, None),
    ],
)
def test_period_mode_status(
    facts: HeartbeatFacts, now: datetime, status: HeartbeatStatus, reason: str | None
) -> None:
    found = verdict(HOURLY, facts, now=now, timezone="UTC")
    assert found.status == status
    if reason is not None:
        assert found.reason == reason


@pytest.mark.parametrize(
    ("facts", "now", "expected"),
    [
        (HeartbeatFacts(), T0, None),
        (HeartbeatFacts(last_ping_at=T0), T0, T0 + 60 * m),
        (HeartbeatFacts(last_ping_at=T0), T0 + 60 * m, T0 + 70 * m),
        (HeartbeatFacts(last_ping_at=T0), T0 + 70 * m, None),
        (HeartbeatFacts(last_ping_at=T0, last_start_at=T0 + 5 * m), T0 + 6 * m, T0 + 15 * m),
        (HeartbeatFacts(last_ping_at=T0, last_ping_failed=True), T0, None),
    ],
)
def test_next_transition_is_when_the_status_would_change_without_a_ping(
    facts: HeartbeatFacts, now: datetime, expected: datetime | None
) -> None:
    assert next_transition_at(HOURLY, facts, now=now, timezone="UTC") == expected
    if expected is not None:
        before = verdict(HOURLY, facts, now=expected - timedelta(seconds=1), timezone="UTC")
        after = verdict(HOURLY, facts, now=expected, timezone="UTC")
        assert before.status != after.status


@pytest.mark.parametrize(
    ("last_ping_at", "due"),
    [
        # Summer (UTC+2): 02:30 Berlin is 00:30 UTC.
        (datetime(2026, 6, 1, 0, 31, tzinfo=UTC), datetime(2026, 6, 2, 0, 30, tzinfo=UTC)),
        # The night clocks spring forward (2026-03-29, 02:00 -> 03:00): 02:30 does not exist,
        # and CronSim runs the job at the first valid time, 03:00 CEST = 01:00 UTC.
        (datetime(2026, 3, 28, 1, 31, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # The day after, the job is back at 02:30 CEST = 00:30 UTC.
        (datetime(2026, 3, 29, 1, 1, tzinfo=UTC), datetime(2026, 3, 30, 0, 30, tzinfo=UTC)),
        # Fall back (2026-10-25, 03:00 -> 02:00): 02:30 happens twice; the job runs once.
        (datetime(2026, 10, 24, 0, 31, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (datetime(2026, 10, 25, 0, 31, tzinfo=UTC), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)),
    ],
)
def test_cron_mode_expects_the_next_run_in_the_checks_timezone_across_dst(
    last_ping_at: datetime, due: datetime
) -> None:
    assert expected_at(NIGHTLY_BERLIN, last_ping_at=last_ping_at, timezone="UTC") == due
    facts = HeartbeatFacts(last_ping_at=last_ping_at)
    assert verdict(NIGHTLY_BERLIN, facts, now=due - m, timezone="UTC").status == UP
    assert verdict(NIGHTLY_BERLIN, facts, now=due, timezone="UTC").status == LATE
    assert verdict(NIGHTLY_BERLIN, facts, now=due + 30 * m, timezone="UTC").status == DOWN


def test_a_cron_check_without_a_timezone_uses_the_config_timezone() -> None:
    spec = HeartbeatSpec(schedule="0 9 * * *", grace=timedelta(minutes=5))
    last = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert expected_at(spec, last_ping_at=last, timezone="America/New_York") == datetime(
        2026, 1, 5, 14, 0, tzinfo=UTC
    )
    assert expected_at(spec, last_ping_at=last, timezone="UTC") == datetime(
        2026, 1, 6, 9, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        (None, (PingKind.SUCCESS, None)),
        ("", (PingKind.SUCCESS, None)),
        ("start", (PingKind.START, None)),
        ("fail", (PingKind.FAIL, None)),
        ("log", (PingKind.LOG, None)),
        ("0", (PingKind.SUCCESS, 0)),
        ("1", (PingKind.FAIL, 1)),
        ("255", (PingKind.FAIL, 255)),
    ],
)
def test_it_reads_the_action_segment(
    segment: str | None, expected: tuple[PingKind, int | None]
) -> None:
    assert parse_action(segment) == expected


@pytest.mark.parametrize("segment", ["256", "1000", "-1", "Start", "ok", "٣", "0x1"])
def test_it_rejects_any_other_action_segment(segment: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid url format$"):
        parse_action(segment)


def test_derived_uuids_are_stable_and_differ_by_service_and_check() -> None:
    a = heartbeat_uuid(service="levqor", check_id="backup")
    assert a == heartbeat_uuid(service="levqor", check_id="backup")
    assert a.version == 5
    assert a != heartbeat_uuid(service="levqor", check_id="backup2")
    assert a != heartbeat_uuid(service="other", check_id="backup")


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            "{heartbeat: {schedule: '61 * * * *'}}",
            "3:30: checks.hb.heartbeat.schedule: '61 * * * *' is not a cron schedule (bad minute)",
        ),
        (
            "{heartbeat: {period: 0s}}",
            "3:28: checks.hb.heartbeat.period: period must be longer than 0s",
        ),
        (
            "{heartbeat: {period: 1h, uuid: not-a-uuid}}",
            "3:38: checks.hb.heartbeat.uuid: 'not-a-uuid' is not a UUID "
            "(use e.g. 0b2e4f2a-7a0e-4a43-9f33-6d0a3c1f5e21)",
        ),
        (
            "{heartbeat: {period: 1h, methods: GET}}",
            "3:41: checks.hb.heartbeat.methods: expected 'any' or 'POST', got 'GET'",
        ),
    ],
)
def test_it_rejects_bad_heartbeat_settings_at_load(check: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loads(f"service: s\nchecks:\n  hb: {check}\n", environ={})
    assert str(caught.value) == f"<string>:{message}"


def test_it_rejects_a_short_ping_key_without_showing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        loads("service: s\npings: {key: hunter2}\n", environ={})
    assert str(caught.value) == (
        "<string>:2:14: pings.key: the ping key must be at least 16 letters, digits, '-' or '_' "
        "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(16))')"
    )
    assert "hunter2" not in str(caught.value)
