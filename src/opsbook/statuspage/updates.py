"""Which timeline events an incident publishes, and in what words. Pure (STYLE.md R4).

Public: the declaration (its summary, else the shipped status-update template's opening
"We're investigating an issue."), every status update a responder posts (its message and the
update fields the templates show: workaround, ETA, next update, root cause, fix), a reopen, and
a responder's component status override. Never public: notes, alert firings and resolutions
(they name internal rules), severity and role changes, acknowledgements, diagnoses, action
items, merges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.statuspage.snapshot import (
    COMPONENT_STATUSES,
    STATUS_LABELS,
    AffectedComponent,
    ComponentStatus,
    IncidentStatus,
    IncidentUpdate,
)

OVERRIDE_KIND = "component_status"
"""The timeline event of a responder's component status override (``overrides.py``); its
detail is ``{"component", "status" (None: cleared), "was", "now"}``."""

PUBLIC_KINDS = ("declared", "status", "reopened", OVERRIDE_KIND)

DECLARED_BODY = "We're investigating an issue."
"""notify/templates/status-update-major.body.j2's wording when an incident has no summary."""

_FIELD_LINES = (
    ("workaround", "Workaround"),
    ("eta", "ETA"),
    ("next_update", "Next update"),
    ("root_cause", "Root cause"),
    ("fix", "Fix"),
)
"""The update fields the shipped templates print under the message, in their words."""


def _strip(message: str, prefix: str) -> str:
    return message[len(prefix) :].strip() if message.startswith(prefix) else message.strip()


def _status_body(event: IncidentEvent, to: str) -> str:
    body = _strip(event.message, f"{to}: ")
    fields = event.detail.get("fields")
    extra = []
    if isinstance(fields, dict):
        for key, label in _FIELD_LINES:
            value = fields.get(key)
            if isinstance(value, str) and value:
                extra.append(f"{label}: {value}")
    return body + "\n\n" + "\n".join(extra) if extra else body


def _component_status(value: object, default: ComponentStatus) -> ComponentStatus:
    for status in COMPONENT_STATUSES:
        if value == status:
            return status
    return default


@dataclass(frozen=True, slots=True)
class Published:
    """An incident's public updates (newest first) and what its timeline says besides."""

    updates: tuple[IncidentUpdate, ...]
    monitoring_at: datetime | None
    overrides: tuple[tuple[str, ComponentStatus, str, datetime], ...]
    """Active overrides as (component, status, actor, at), oldest first."""


def publish(
    incident: Incident,
    events: Sequence[IncidentEvent],
    *,
    names: Mapping[str, str],
    impact_status: ComponentStatus,
) -> Published:
    """The incident's public updates from its timeline (``events`` in order).

    ``names`` maps the public components to their names (a component not in it is never listed
    as affected); ``impact_status`` is the component status its severity's ``status_impact``
    gives ("operational" for none). Always at least one update: an incident whose declaration
    is gone from the timeline gets one from its own record.
    """
    component = incident.component if incident.component in names else None
    status: IncidentStatus = "investigating"
    shown: ComponentStatus = "operational"
    monitoring_at: datetime | None = None
    overrides: dict[str, tuple[str, ComponentStatus, str, datetime]] = {}
    updates: list[IncidentUpdate] = []

    def affected(old: ComponentStatus, new: ComponentStatus) -> tuple[AffectedComponent, ...]:
        assert component is not None
        return (AffectedComponent(component, names[component], old, new),)

    for event in events:
        if event.kind not in PUBLIC_KINDS:
            continue
        touched: tuple[AffectedComponent, ...] | None = None
        if event.kind == "declared":
            status = "investigating"
            body = incident.summary or DECLARED_BODY
            summary = event.detail.get("summary")
            if isinstance(summary, str) and summary:
                body = summary
            if component is not None and impact_status != "operational":
                touched = affected(shown, impact_status)
                shown = impact_status
        elif event.kind == "status":
            to = str(event.detail.get("to", status))
            status = to if to in ("identified", "monitoring", "resolved") else "investigating"  # type: ignore[assignment]
            if status == "monitoring" and monitoring_at is None:
                monitoring_at = event.at
            body = _status_body(event, to)
            if status == "resolved":
                overrides.clear()
                if component is not None and shown != "operational":
                    touched = affected(shown, "operational")
                    shown = "operational"
        elif event.kind == "reopened":
            status = "investigating"
            body = _strip(event.message, "reopened: ")
            if component is not None and impact_status != "operational":
                touched = affected(shown, impact_status)
                shown = impact_status
        else:
            target = str(event.detail.get("component", ""))
            if target not in names:
                continue
            new = _component_status(event.detail.get("now"), shown)
            old = _component_status(event.detail.get("was"), shown)
            set_to = event.detail.get("status")
            if set_to is None:
                overrides.pop(target, None)
            else:
                overrides[target] = (
                    target,
                    _component_status(set_to, new),
                    event.actor,
                    event.at,
                )
            given = event.detail.get("message")
            body = (
                given
                if isinstance(given, str) and given
                else f"{names[target]} is {STATUS_LABELS[new].lower()}."
            )
            touched = (AffectedComponent(target, names[target], old, new),)
            if target == component:
                shown = new
        updates.append(
            IncidentUpdate(
                id=f"{incident.id}-{event.id}",
                status=status,
                body=body,
                created_at=event.at,
                display_at=event.at,
                affected_components=touched,
            )
        )
    if not updates:
        updates.append(
            IncidentUpdate(
                id=f"{incident.id}-0",
                status=status if incident.is_open else "resolved",
                body=incident.summary or DECLARED_BODY,
                created_at=incident.declared_at,
                display_at=incident.declared_at,
            )
        )
    if not incident.is_open:
        overrides.clear()
    return Published(
        updates=tuple(reversed(updates)),
        monitoring_at=monitoring_at,
        overrides=tuple(sorted(overrides.values(), key=lambda o: o[3])),
    )
