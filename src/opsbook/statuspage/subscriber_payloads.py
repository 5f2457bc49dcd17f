"""What subscribers receive: Statuspage's subscriber webhook bodies and the update email. Pure.

The webhook bodies follow Statuspage's own, key for key and in its order
(support.atlassian.com/statuspage/docs/enable-webhook-notifications): ``meta`` (``unsubscribe``,
``documentation``), ``page`` (``id``, ``status_indicator``, ``status_description``), then either
``incident`` (with ``incident_updates``, newest first) or ``component_update`` and
``component``. Times are written as the v2 JSON writes them (``render_json``). Fields opsbook has
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


def incident_body(
    snapshot: Snapshot, incident: IncidentView, *, unsubscribe: str
) -> dict[str, Any]:
    """Statuspage's incident webhook body for ``incident`` as the snapshot shows it."""
    w = _Writer(snapshot)
    updates = [
        {
            "body": u.body,
            "created_at": w.time(u.created_at),
            "display_at": w.time(u.display_at),
            "status": u.status,
            "twitter_updated_at": None,
            "updated_at": w.time(u.created_at),
            "wants_twitter_update": False,
            "id": u.id,
            "incident_id": incident.id,
        }
        for u in incident.updates
    ]
    return {
        **_head(snapshot, unsubscribe),
        "incident": {
            "backfilled": False,
            "created_at": w.time(incident.created_at),
            "impact": incident.impact,
            "impact_override": None,
            "monitoring_at": w.time(incident.monitoring_at),
            "postmortem_body": None,
            "postmortem_body_last_updated_at": None,
            "postmortem_ignored": False,
            "postmortem_notified_subscribers": False,
            "postmortem_notified_twitter": False,
            "postmortem_published_at": None,
            "resolved_at": w.time(incident.resolved_at),
            "scheduled_auto_transition": False,
            "scheduled_for": None,
            "scheduled_remind_prior": False,
            "scheduled_reminded_at": None,
            "scheduled_until": None,
            "shortlink": incident.shortlink,
            "status": incident.status,
            "updated_at": w.time(incident.updated_at),
            "id": incident.id,
            "organization_id": snapshot.page.id,
            "incident_updates": updates,
            "name": incident.name,
        },
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
