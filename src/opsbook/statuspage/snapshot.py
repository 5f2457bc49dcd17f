"""What a public status page shows at one instant, as frozen values (no I/O).

``build.build_snapshot`` reads them from the store and the config; ``render_json`` writes
Statuspage's v2 JSON from them, and the HTML page, feeds, badges and static export read the same
values, so every format says the same thing. Words and enums are Statuspage's (see
``/work/shared/reference/integrations.md`` §5 and docs/status-page.md).

Times are timezone-aware UTC; a format converts them to the page's ``timezone``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, TypeAlias

ComponentStatus: TypeAlias = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]
IncidentStatus: TypeAlias = Literal[
    "investigating", "identified", "monitoring", "resolved", "postmortem"
]
Impact: TypeAlias = Literal["none", "minor", "major", "critical"]
Indicator: TypeAlias = Literal["none", "minor", "major", "critical", "maintenance"]
MaintenanceStatus: TypeAlias = Literal["scheduled", "in_progress", "verifying", "completed"]

COMPONENT_STATUSES: tuple[ComponentStatus, ...] = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
"""Best to worst: the order "worst wins" compares by (docs/status-page.md, Rollup rules)."""

STATUS_LABELS: dict[ComponentStatus, str] = {
    "operational": "Operational",
    "under_maintenance": "Under Maintenance",
    "degraded_performance": "Degraded Performance",
    "partial_outage": "Partial Outage",
    "major_outage": "Major Outage",
}
"""How Statuspage's own page words each component status."""

IMPACTS: tuple[Impact, ...] = ("none", "minor", "major", "critical")
"""Least to most severe."""

AVAILABILITY_DAYS = 90


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True, slots=True)
class PageInfo:
    """``id`` is the config's ``service``; ``base_url`` has no trailing slash ("" when unknown,
    then formats write paths relative to the page's root)."""

    id: str
    title: str
    base_url: str
    timezone: str
    links: tuple[Link, ...]
    logo: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DayAvailability:
    """One day in the page's timezone. ``availability`` is a percentage of the observed time
    (None: no check of the component had data that day, shown as no data, never as up);
    ``down_seconds`` the most downtime any of the component's checks had; ``incidents`` the
    ids of published incidents of the component open at some time that day."""

    day: date
    availability: float | None
    down_seconds: float
    incidents: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ComponentView:
    """A public component. ``id`` is its config key (stable across restarts and exports);
    ``cause`` says in words why it has its status ("check api-uptime is down", "incident 12
    (SEV1)", "maintenance db-upgrade", "set by user:ana on incident 12"), "" when operational.
    ``availability`` has ``AVAILABILITY_DAYS`` entries, oldest first, ending today;
    ``response_p95_ms`` the p95 latency of its slowest check over the last 24 hours (None: no
    result in that time; ``latency.with_latency``)."""

    id: str
    name: str
    description: str
    group_id: str | None
    position: int
    status: ComponentStatus
    cause: str
    created_at: datetime
    updated_at: datetime
    availability: tuple[DayAvailability, ...] = ()
    response_p95_ms: float | None = None


@dataclass(frozen=True, slots=True)
class ComponentGroup:
    """A group from the components' ``group:``; its status is its worst member's."""

    id: str
    name: str
    position: int
    status: ComponentStatus
    components: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AffectedComponent:
    code: str
    name: str
    old_status: ComponentStatus
    new_status: ComponentStatus


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    """One public update. ``affected_components`` None: the update changed no component."""

    id: str
    status: IncidentStatus | MaintenanceStatus
    body: str
    created_at: datetime
    display_at: datetime
    affected_components: tuple[AffectedComponent, ...] | None = None


@dataclass(frozen=True, slots=True)
class IncidentView:
    """A published incident; ``updates`` newest first, never empty."""

    id: str
    name: str
    status: IncidentStatus
    impact: Impact
    created_at: datetime
    updated_at: datetime
    started_at: datetime
    monitoring_at: datetime | None
    resolved_at: datetime | None
    shortlink: str
    components: tuple[str, ...]
    updates: tuple[IncidentUpdate, ...]

    @property
    def is_unresolved(self) -> bool:
        return self.status in ("investigating", "identified", "monitoring")


@dataclass(frozen=True, slots=True)
class Maintenance:
    """One opening of a configured maintenance window; ``updates`` newest first."""

    id: str
    name: str
    status: MaintenanceStatus
    scheduled_for: datetime
    scheduled_until: datetime
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    resolved_at: datetime | None
    shortlink: str
    components: tuple[str, ...]
    updates: tuple[IncidentUpdate, ...]

    @property
    def is_active(self) -> bool:
        return self.status in ("in_progress", "verifying")


@dataclass(frozen=True, slots=True)
class OverallStatus:
    """The page's headline. ``indicator`` is the worst of the components and the unresolved
    incidents (not blended); ``description`` Statuspage's blended sentence; ``worst`` the
    worst component status itself."""

    indicator: Indicator
    description: str
    worst: ComponentStatus


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a status page shows at ``at``.

    ``components`` in page order (position); ``incidents`` newest first (every published
    incident of the last ``AVAILABILITY_DAYS`` days plus the unresolved ones);
    ``maintenances`` by ``scheduled_for``, newest first.
    """

    at: datetime
    page: PageInfo
    status: OverallStatus
    components: tuple[ComponentView, ...]
    groups: tuple[ComponentGroup, ...]
    incidents: tuple[IncidentView, ...]
    maintenances: tuple[Maintenance, ...]

    def component(self, component_id: str) -> ComponentView | None:
        for found in self.components:
            if found.id == component_id:
                return found
        return None
