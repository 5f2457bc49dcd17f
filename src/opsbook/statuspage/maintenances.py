"""Scheduled maintenances from the config's maintenance windows. Pure: time comes in.

Each opening of a window that starts within ``LOOKBACK`` before now to ``HORIZON`` after it
is one maintenance: ``scheduled`` before it opens, ``in_progress`` while open, ``completed``
after (``verifying`` is never used: nothing tells opsbook a window's work is being verified).
A window shows when it is global or covers a public component.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from opsbook.alerts.maintenance import OpenWindow, covers, open_windows, upcoming_windows
from opsbook.config import Config
from opsbook.statuspage.snapshot import IncidentUpdate, Maintenance, MaintenanceStatus

LOOKBACK = timedelta(days=30)
HORIZON = timedelta(days=30)

SCHEDULED_BODY = "Scheduled maintenance."
IN_PROGRESS_BODY = (
    "Scheduled maintenance is currently in progress. We will provide updates as necessary."
)
COMPLETED_BODY = "The scheduled maintenance has been completed."
"""Statuspage's default wording when it moves a maintenance on by itself."""


def covered_components(config: Config, opening: OpenWindow, public: Sequence[str]) -> list[str]:
    """The public components a window puts under maintenance: all for a global window, else
    those it names and those whose every check it covers."""
    if opening.is_global:
        return list(public)
    found = []
    for component_id in public:
        checks = config.components[component_id].checks
        if component_id in opening.components or (
            checks and all(c in opening.checks for c in checks)
        ):
            found.append(component_id)
    return found


def held_checks(config: Config, now: datetime) -> set[str]:
    """The configured checks an open window covers (their failures are expected)."""
    windows = open_windows(config, now)
    return {
        check_id
        for check_id in config.checks
        if any(covers(config, w, {"check": check_id}) for w in windows)
    }


def _id(opening: OpenWindow) -> str:
    return f"{opening.name}-{opening.start.astimezone(UTC):%Y%m%dT%H%MZ}"


def maintenances(
    config: Config, *, public: Sequence[str], now: datetime, base_url: str
) -> list[Maintenance]:
    """The openings around ``now``, newest ``scheduled_for`` first."""
    seen: dict[tuple[str, datetime], OpenWindow] = {}
    for opening in upcoming_windows(config, now - LOOKBACK, LOOKBACK + HORIZON):
        seen[(opening.name, opening.start)] = opening
    for opening in open_windows(config, now):
        seen.setdefault((opening.name, opening.start), opening)
    found = []
    for opening in seen.values():
        components = covered_components(config, opening, public)
        if not components and not opening.is_global:
            continue
        found.append(_maintenance(opening, components, now=now, base_url=base_url))
    return sorted(found, key=lambda m: (m.scheduled_for, m.id), reverse=True)


def _maintenance(
    opening: OpenWindow, components: Sequence[str], *, now: datetime, base_url: str
) -> Maintenance:
    maintenance_id = _id(opening)
    status: MaintenanceStatus
    if now < opening.start:
        status = "scheduled"
    elif now < opening.end:
        status = "in_progress"
    else:
        status = "completed"
    # A window from the config has no creation time: it counts as created when it opens.
    steps: list[tuple[MaintenanceStatus, str, datetime]] = [
        ("scheduled", opening.description or SCHEDULED_BODY, opening.start)
    ]
    if status != "scheduled":
        steps.append(("in_progress", IN_PROGRESS_BODY, opening.start))
    if status == "completed":
        steps.append(("completed", COMPLETED_BODY, opening.end))
    updates = tuple(
        IncidentUpdate(
            id=f"{maintenance_id}-{step}",
            status=step,
            body=body,
            created_at=at,
            display_at=at,
        )
        for step, body, at in reversed(steps)
    )
    return Maintenance(
        id=maintenance_id,
        name=opening.description.splitlines()[0] if opening.description else opening.name,
        status=status,
        scheduled_for=opening.start,
        scheduled_until=opening.end,
        created_at=opening.start,
        updated_at=updates[0].created_at,
        started_at=opening.start if status != "scheduled" else None,
        resolved_at=opening.end if status == "completed" else None,
        shortlink=f"{base_url}/maintenances/{maintenance_id}",
        components=tuple(components),
        updates=updates,
    )


def maintenance_of(found: Sequence[Maintenance]) -> Mapping[str, str]:
    """Component id -> the id of the in-progress maintenance covering it."""
    return {c: m.id for m in found if m.is_active for c in m.components}
