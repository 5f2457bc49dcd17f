"""Heartbeat status, decided from ping timestamps alone, like healthchecks.io ``Check.get_status``.

Pure: no I/O and no clock of its own. ``checks/pings.py`` stores pings and feeds the facts in.
https://github.com/healthchecks/healthchecks/blob/master/hc/api/models.py (get_grace_start)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

from cronsim import CronSim

from opsbook.checks.models import State
from opsbook.config.checks import HeartbeatSpec
from opsbook.config.units import format_duration

PING_BODY_LIMIT_BYTES = 10_000
"""healthchecks.io's default ``PING_BODY_LIMIT``; echoed in the ``Ping-Body-Limit`` header."""

# Names the derived ping UUIDs (uuid5) so they never collide with another scheme's uuid5s.
_NAMESPACE = UUID("5b0c6a1e-8f3d-4c52-9a7e-2d1f0b3c4e5a")


class PingKind(StrEnum):
    SUCCESS = "success"
    START = "start"
    FAIL = "fail"
    LOG = "log"
    IGNORED = "ignored"
    """A GET or HEAD ping to a check that accepts only POST: kept for the log, changes nothing."""


class HeartbeatStatus(StrEnum):
    NEW = "new"
    UP = "up"
    LATE = "late"
    """Past the expected time but within grace (healthchecks' "grace")."""
    STARTED = "started"
    DOWN = "down"


STATE_BY_STATUS: dict[HeartbeatStatus, State | None] = {
    HeartbeatStatus.NEW: None,
    HeartbeatStatus.UP: State.UP,
    HeartbeatStatus.STARTED: State.UP,
    HeartbeatStatus.LATE: State.DEGRADED,
    HeartbeatStatus.DOWN: State.DOWN,
}
"""A new check has no data yet, which is not "up" (honest uptime)."""


@dataclass(frozen=True, slots=True)
class HeartbeatFacts:
    """What the stored pings say about one check.

    ``last_ping_at`` is the last completion (success or fail); ``last_start_at`` is a start that
    no completion has closed yet. ``exit_status`` is the last completion's, when it sent one.
    """

    last_ping_at: datetime | None = None
    last_ping_failed: bool = False
    last_start_at: datetime | None = None
    exit_status: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    status: HeartbeatStatus
    reason: str | None = None
    """Why the check is late or down, in the user's terms; None when up or new."""


def heartbeat_uuid(*, service: str, check_id: str) -> UUID:
    """The ping UUID of a heartbeat check that sets none: stable for a service and check id."""
    return uuid5(_NAMESPACE, f"{service}/{check_id}")


def parse_action(segment: str | None) -> tuple[PingKind, int | None]:
    """The kind and exit status a ping URL's last segment asks for.

    ``None`` or ``""`` is a success; ``start``, ``fail``, ``log``; ``0``..``255`` is an exit status
    (0 success, else fail). Raises ``ValueError("invalid url format")`` for anything else, like
    healthchecks.io does for an exit status over 255.
    """
    if not segment:
        return PingKind.SUCCESS, None
    if segment in ("start", "fail", "log"):
        return PingKind(segment), None
    if segment.isascii() and segment.isdigit() and len(segment) <= 3 and int(segment) <= 255:
        code = int(segment)
        return (PingKind.SUCCESS if code == 0 else PingKind.FAIL), code
    raise ValueError("invalid url format")


def expected_at(spec: HeartbeatSpec, *, last_ping_at: datetime, timezone: str) -> datetime:
    """When the ping after ``last_ping_at`` is due, in UTC.

    Cron schedules are read in the check's zone (``timezone`` is the config's default), as
    healthchecks.io does: ``next(CronSim(schedule, last_ping in tz))`` then back to UTC. CronSim
    handles the DST gap and overlap, so a ``30 2 * * *`` job is due once on every day.
    """
    if spec.period is not None:
        return last_ping_at + spec.period
    if spec.schedule is None:  # pragma: no cover - the spec validator requires one
        raise ValueError("a heartbeat needs a period or a schedule")
    zone = ZoneInfo(spec.timezone or timezone)
    due: datetime = next(CronSim(spec.schedule, last_ping_at.astimezone(zone)))
    return due.astimezone(UTC)


def _grace_start(spec: HeartbeatSpec, facts: HeartbeatFacts, *, timezone: str) -> datetime | None:
    candidates = []
    if facts.last_ping_at is not None:
        candidates.append(expected_at(spec, last_ping_at=facts.last_ping_at, timezone=timezone))
    # A running job must finish within grace of its start, even if its next run is not due yet.
    if facts.last_start_at is not None:
        candidates.append(facts.last_start_at)
    return min(candidates) if candidates else None


def verdict(spec: HeartbeatSpec, facts: HeartbeatFacts, *, now: datetime, timezone: str) -> Verdict:
    """The status at ``now`` and, when late or down, why.

    1. The last completion failed (``/fail`` or a non-zero exit): down at once.
    2. No completion and no open start: new (no data; never counted as up).
    3. Past the grace start (the expected time, or an open start if earlier) plus ``grace``: down.
    4. An open start: started. Past the expected time: late. Otherwise up.

    A check never completed but started once is "started", then down after its grace, as on
    healthchecks.io (``get_status``, and ``sendalerts`` acting on ``alert_after``): a first run
    that hangs is a failure worth reporting. Which start is open is ``checks/pings.py``'s call.
    """
    grace = format_duration(spec.grace)
    if facts.last_ping_failed:
        if facts.exit_status:
            return Verdict(
                HeartbeatStatus.DOWN, f"the last run exited with status {facts.exit_status}"
            )
        return Verdict(HeartbeatStatus.DOWN, "the last run reported failure (/fail)")
    grace_start = _grace_start(spec, facts, timezone=timezone)
    if grace_start is None:
        return Verdict(HeartbeatStatus.NEW)
    if now >= grace_start + spec.grace:
        if facts.last_start_at is not None and grace_start == facts.last_start_at:
            return Verdict(
                HeartbeatStatus.DOWN,
                f"started at {_iso(facts.last_start_at)} and did not finish within {grace}",
            )
        return Verdict(
            HeartbeatStatus.DOWN,
            f"no ping since {_iso(facts.last_ping_at)}; expected by {_iso(grace_start)}, "
            f"grace {grace}",
        )
    if facts.last_start_at is not None:
        return Verdict(HeartbeatStatus.STARTED)
    if now >= grace_start:
        return Verdict(
            HeartbeatStatus.LATE,
            f"no ping since {_iso(facts.last_ping_at)}; expected by {_iso(grace_start)}, "
            f"down after {grace} of grace",
        )
    return Verdict(HeartbeatStatus.UP)


def next_transition_at(
    spec: HeartbeatSpec, facts: HeartbeatFacts, *, now: datetime, timezone: str
) -> datetime | None:
    """The next moment the status changes with no new ping, or None if only a ping can change it.

    A monitor sleeps until then (or until a ping arrives) instead of polling every check.
    """
    if facts.last_ping_failed:
        return None
    grace_start = _grace_start(spec, facts, timezone=timezone)
    if grace_start is None:
        return None
    grace_end = grace_start + spec.grace
    if now >= grace_end:
        return None
    if now < grace_start and facts.last_start_at is None:
        return grace_start
    return grace_end


def _iso(at: datetime | None) -> str:
    if at is None:
        return "never"
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
