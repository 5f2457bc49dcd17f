"""What subscribers receive: Statuspage's subscriber webhook bodies and the update email. Pure.

The webhook bodies follow Statuspage's own, key for key and in its order
(support.atlassian.com/statuspage/docs/enable-webhook-notifications): ``meta`` (``unsubscribe``,
``documentation``), ``page`` (``id``, ``status_indicator``, ``status_description``), then either
``incident`` (with ``incident_updates``, newest first; a scheduled maintenance is sent in this
shape too, as Statuspage does) or ``component_update`` and ``component``. Times are written as
the v2 JSON writes them (``render_json``). Fields opsbook has
no notion of (postmortems, tweets, scheduling) take the values Statuspage sends for an incident
without them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsbook.statuspage.render_json import _Writer
from opsbook.statuspage.snapshot import (
    STATUS_LABELS,
    ComponentStatus,
    ComponentView,
    IncidentUpdate,
    IncidentView,
    Maintenance,
    Snapshot,
)

DOCUMENTATION = "https://support.atlassian.com/statuspage/docs/enable-webhook-notifications/"
"""Where a receiver reads the body's shape: opsbook sends Statuspage's, so Statuspage's page."""

INCIDENT_STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
}


def _head(snapshot: Snapshot, unsubscribe: str) -> dict[str, Any]:
    return {
        "meta": {"unsubscribe": unsubscribe, "documentation": DOCUMENTATION},
        "page": {
            "id": snapshot.page.id,
            "status_indicator": snapshot.status.indicator,
            "status_description": snapshot.status.description,
        },
    }


def _updates(w: _Writer, parent_id: str, updates: tuple[IncidentUpdate, ...]) -> list[Any]:
    return [
        {
            "body": u.body,
            "created_at": w.time(u.created_at),
            "display_at": w.time(u.display_at),
            "status": u.status,
            "twitter_updated_at": None,
            "updated_at": w.time(u.created_at),
            "wants_twitter_update": False,
            "id": u.id,
            "incident_id": parent_id,
        }
        for u in updates
    ]


def _incident(
    snapshot: Snapshot,
    x: IncidentView | Maintenance,
    *,
    impact: str,
    monitoring_at: datetime | None,
    scheduled: bool,
) -> dict[str, Any]:
    w = _Writer(snapshot)
    window = (x.scheduled_for, x.scheduled_until) if isinstance(x, Maintenance) else (None, None)
    return {
        "backfilled": False,
        "created_at": w.time(x.created_at),
        "impact": impact,
        "impact_override": None,
        "monitoring_at": w.time(monitoring_at),
        "postmortem_body": None,
        "postmortem_body_last_updated_at": None,
        "postmortem_ignored": False,
        "postmortem_notified_subscribers": False,
        "postmortem_notified_twitter": False,
        "postmortem_published_at": None,
        "resolved_at": w.time(x.resolved_at),
        # A maintenance from a config window moves on by itself at its start and end.
        "scheduled_auto_transition": scheduled,
        "scheduled_for": w.time(window[0]),
        "scheduled_remind_prior": False,
        "scheduled_reminded_at": None,
        "scheduled_until": w.time(window[1]),
        "shortlink": x.shortlink,
        "status": x.status,
        "updated_at": w.time(x.updated_at),
        "id": x.id,
        "organization_id": snapshot.page.id,
        "incident_updates": _updates(w, x.id, x.updates),
        "name": x.name,
    }


def incident_body(
    snapshot: Snapshot, incident: IncidentView, *, unsubscribe: str
) -> dict[str, Any]:
    """Statuspage's incident webhook body for ``incident`` as the snapshot shows it."""
    return {
        **_head(snapshot, unsubscribe),
        "incident": _incident(
            snapshot,
            incident,
            impact=incident.impact,
            monitoring_at=incident.monitoring_at,
            scheduled=False,
        ),
    }


def maintenance_body(
    snapshot: Snapshot, maintenance: Maintenance, *, unsubscribe: str
) -> dict[str, Any]:
    """A scheduled maintenance as Statuspage sends one: the incident body (Statuspage keeps a
    maintenance as an incident), with ``impact`` "maintenance", ``scheduled_for`` and
    ``scheduled_until`` set, ``scheduled_auto_transition`` true, and the maintenance statuses
    (``scheduled``, ``in_progress``, ``completed``) for it and its updates."""
    return {
        **_head(snapshot, unsubscribe),
        "incident": _incident(
            snapshot, maintenance, impact="maintenance", monitoring_at=None, scheduled=True
        ),
    }


def component_body(
    snapshot: Snapshot,
    component: ComponentView,
    *,
    change_id: str,
    old: ComponentStatus,
    at: datetime,
    unsubscribe: str,
) -> dict[str, Any]:
    """Statuspage's component webhook body: ``component`` went from ``old`` to its status."""
    w = _Writer(snapshot)
    return {
        **_head(snapshot, unsubscribe),
        "component_update": {
            "created_at": w.time(at),
            "new_status": component.status,
            "old_status": old,
            "id": change_id,
            "component_id": component.id,
        },
        "component": {
            "created_at": w.time(component.created_at),
            "id": component.id,
            "name": component.name,
            "status": component.status,
        },
    }


def incident_email(
    snapshot: Snapshot,
    incident: IncidentView,
    update: IncidentUpdate,
    *,
    names: dict[str, str],
    unsubscribe: str,
) -> tuple[str, str]:
    """The subject and plain-text body of an incident update email."""
    w = _Writer(snapshot)
    label = INCIDENT_STATUS_LABELS.get(update.status, update.status.replace("_", " ").title())
    subject = f"[{snapshot.page.title}] {incident.name}: {label}"
    lines = [f"{incident.name}", "", f"{label} - {update.body}", ""]
    if update.affected_components:
        lines += [
            "Affected: "
            + ", ".join(
                f"{a.name} ({STATUS_LABELS[a.new_status]})" for a in update.affected_components
            ),
            "",
        ]
    elif incident.components:
        lines += ["Components: " + ", ".join(names.get(c, c) for c in incident.components), ""]
    lines += [
        f"Posted {w.time(update.display_at)}",
        f"Status page: {snapshot.page.base_url}/status" if snapshot.page.base_url else "",
        "",
        "--",
        f"You receive this because you subscribed to {snapshot.page.title} status updates.",
        f"Unsubscribe (one click): {unsubscribe}",
    ]
    return subject, "\n".join(line for line in lines if line is not None) + "\n"


MAINTENANCE_LABELS = {
    "scheduled": "Scheduled maintenance",
    "in_progress": "Maintenance in progress",
    "verifying": "Maintenance verifying",
    "completed": "Maintenance completed",
}


def maintenance_email(
    snapshot: Snapshot,
    maintenance: Maintenance,
    update: IncidentUpdate,
    *,
    names: dict[str, str],
    unsubscribe: str,
) -> tuple[str, str]:
    """The subject and plain-text body of a maintenance announcement (scheduled, in progress,
    completed); times in the page's timezone, as the v2 JSON writes them."""
    w = _Writer(snapshot)
    label = MAINTENANCE_LABELS.get(update.status, update.status)
    subject = f"[{snapshot.page.title}] {label}: {maintenance.name}"
    lines = [
        maintenance.name,
        "",
        f"{label} - {update.body}",
        "",
        f"Scheduled from {w.time(maintenance.scheduled_for)}"
        f" until {w.time(maintenance.scheduled_until)}",
    ]
    if maintenance.components:
        lines.append("Components: " + ", ".join(names.get(c, c) for c in maintenance.components))
    lines += [
        "",
        f"Status page: {snapshot.page.base_url}/status" if snapshot.page.base_url else "",
        "",
        "--",
        f"You receive this because you subscribed to {snapshot.page.title} status updates.",
        f"Unsubscribe (one click): {unsubscribe}",
    ]
    return subject, "\n".join(lines) + "\n"
