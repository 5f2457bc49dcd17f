"""The public status page: a ``Snapshot`` of components, incidents, maintenance and
availability derived from the store and the config (never kept by hand, STYLE.md R20), and the
formats other tools read (Statuspage v2 JSON).

Imports config, store, checks, alerts (maintenance windows) and incidents; notify (the outbox)
and accounts (the server key) for subscribers only; never web or cli.
"""

from opsbook.statuspage.snapshot import (
    AffectedComponent,
    ComponentGroup,
    ComponentStatus,
    ComponentView,
    DayAvailability,
    IncidentUpdate,
    IncidentView,
    Link,
    Maintenance,
    OverallStatus,
    PageInfo,
    Snapshot,
)

__all__ = [
    "AffectedComponent",
    "ComponentGroup",
    "ComponentStatus",
    "ComponentView",
    "DayAvailability",
    "IncidentUpdate",
    "IncidentView",
    "Link",
    "Maintenance",
    "OverallStatus",
    "PageInfo",
    "Snapshot",
]
