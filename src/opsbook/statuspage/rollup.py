"""The status page's rollup rules, pure (STYLE.md R4). docs/status-page.md states them in words
and tests/statuspage/test_rollup.py as tables; change all three together.

A component's status (``component_status``):

1. A responder's override on an open incident wins outright (the newest, if several).
2. Otherwise the worst (``COMPONENT_STATUSES`` order) of:
   - its checks: every check with data down -> major_outage; some down -> partial_outage; any
     degraded -> degraded_performance; else operational. Checks without data and checks an
     open maintenance window covers are left out (their failures are expected);
   - each open incident of the component: its severity's ``status_impact``;
   - under_maintenance, when an open window covers the component (names it, is global, or
     covers every one of its checks).
   So maintenance shows only when nothing worse is known from an incident, and an incident's
   outage shows through a window.

The page's headline (``overall_status``): the indicator is the worst of the component statuses
(operational -> none, under_maintenance -> maintenance, degraded_performance -> minor,
partial_outage -> major, major_outage -> critical) and the unresolved incidents' impacts;
maintenance only when nothing is worse than none. The description is Statuspage's blended
sentence (``_description``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from opsbook.statuspage.snapshot import (
    COMPONENT_STATUSES,
    IMPACTS,
    ComponentStatus,
    Impact,
    Indicator,
    OverallStatus,
)

CheckState = str
"""A check's state: "up", "degraded" or "down" (``opsbook.checks.State``)."""

_RANK = {status: i for i, status in enumerate(COMPONENT_STATUSES)}

INDICATOR_OF: dict[ComponentStatus, Indicator] = {
    "operational": "none",
    "under_maintenance": "maintenance",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
IMPACT_OF: dict[str, Impact] = {
    "none": "none",
    "operational": "none",
    "under_maintenance": "none",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
"""A severity's ``status_impact`` (or an overridden component status) as an incident impact,
as Statuspage computes an incident's impact from its components."""


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=_RANK.__getitem__, default="operational")


def worst_impact(impacts: Iterable[Impact]) -> Impact:
    return max(impacts, key=IMPACTS.index, default="none")


def from_checks(states: Sequence[CheckState]) -> ComponentStatus:
    """The status its checks' current states say (no states: operational)."""
    down = sum(1 for s in states if s == "down")
    if states and down == len(states):
        return "major_outage"
    if down:
        return "partial_outage"
    if any(s == "degraded" for s in states):
        return "degraded_performance"
    return "operational"


@dataclass(frozen=True, slots=True)
class Override:
    """A responder's status for a component while ``incident_id`` is open."""

    status: ComponentStatus
    incident_id: int
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a component's status is derived from. ``checks`` maps each of its checks with data
    and not held by a window to its state; ``incidents`` holds (incident id, severity,
    status_impact) of its open incidents; ``maintenance`` names the open window covering it."""

    checks: Sequence[tuple[str, CheckState]] = ()
    incidents: Sequence[tuple[int, str, str]] = ()
    maintenance: str | None = None
    override: Override | None = None


def component_status(inputs: Inputs) -> tuple[ComponentStatus, str]:
    """The component's status and why, in words ("" when operational)."""
    if inputs.override is not None:
        o = inputs.override
        return o.status, f"set by {o.actor} on incident {o.incident_id}"
    candidates: list[tuple[ComponentStatus, str]] = []
    by_checks = from_checks([state for _, state in inputs.checks])
    if by_checks != "operational":
        bad = [f"{c} is {s}" for c, s in inputs.checks if s != "up"]
        candidates.append((by_checks, "check " + ", ".join(bad)))
    for incident_id, severity, impact in inputs.incidents:
        if impact != "none":
            status: ComponentStatus = impact  # type: ignore[assignment]
            candidates.append((status, f"incident {incident_id} ({severity})"))
    if inputs.maintenance is not None:
        candidates.append(("under_maintenance", f"maintenance {inputs.maintenance}"))
    if not candidates:
        return "operational", ""
    # max keeps the first of equals: checks, then incidents, then maintenance.
    return max(candidates, key=lambda c: _RANK[c[0]])


_SOME: dict[ComponentStatus, str] = {
    "under_maintenance": "Service Under Maintenance",
    "degraded_performance": "Partially Degraded Service",
    "partial_outage": "Minor Service Outage",
    "major_outage": "Partial System Outage",
}
_ALL: dict[ComponentStatus, str] = {
    "under_maintenance": "Service Under Maintenance",
    "degraded_performance": "Degraded System Service",
    "partial_outage": "Partial System Outage",
    "major_outage": "Major System Outage",
}
_BY_IMPACT: dict[Impact, str] = {
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}


def _description(statuses: Sequence[ComponentStatus], impact: Impact) -> str:
    """Statuspage's sentence: the worst status decides, worded for "all components" when every
    component has it (always the case with one) and for "some" otherwise. With every component
    operational, an unresolved incident's impact decides (support.atlassian.com/statuspage/
    docs/top-level-status-and-incident-impact-calculations/)."""
    top = worst(statuses)
    if top == "operational":
        return _BY_IMPACT.get(impact, "All Systems Operational")
    if all(s == top for s in statuses):
        return _ALL[top]
    return _SOME[top]


def overall_status(
    statuses: Sequence[ComponentStatus], *, incident_impacts: Iterable[Impact] = ()
) -> OverallStatus:
    """The headline from the public components' statuses and the unresolved published
    incidents' impacts."""
    top = worst(statuses)
    impact = worst_impact(incident_impacts)
    by_components = INDICATOR_OF[top]
    indicator: Indicator
    if by_components == "maintenance":
        indicator = "maintenance" if impact == "none" else impact
    elif by_components == "none":
        indicator = impact
    else:
        indicator = worst_impact([by_components, impact])
    return OverallStatus(indicator=indicator, description=_description(statuses, impact), worst=top)
