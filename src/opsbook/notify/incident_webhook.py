"""The webhook body of an incident notice (``"version": "1"``), documented in
docs/notifications.md ("Incident updates and pages"). Its field names are a public contract:
add fields, never rename or remove one.
"""

from __future__ import annotations

from datetime import datetime

from opsbook.config import Config
from opsbook.incidents.models import IncidentEvent, IncidentNotice, LinkedAlert, Recipient
from opsbook.notify.incident_render import ack_link, incident_link, update_fields
from opsbook.notify.webhook import rfc3339
from opsbook.types import JSONValue

VERSION = "1"


def incident_payload(config: Config, notice: IncidentNotice) -> dict[str, JSONValue]:
    """The JSON body POSTed for ``notice``. Times are RFC 3339 UTC; a missing value is null."""
    incident = notice.incident
    link = incident_link(config, incident.id) or None
    page = notice.page
    return {
        "version": VERSION,
        "type": notice.kind,
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status.value,
            "summary": incident.summary,
            "component": incident.component,
            "declared_at": rfc3339(incident.declared_at),
            "acknowledged_at": _time(incident.acknowledged_at),
            "resolved_at": _time(incident.resolved_at),
            "commander": incident.commander,
            "url": link,
        },
        "event": _event(notice.event),
        "page": (
            {
                "escalation_id": page.escalation_id,
                "level": page.level,
                "round": page.round,
                "via": page.via,
            }
            if page is not None
            else None
        ),
        "person": person_json(notice.person),
        "alerts": [_alert(a) for a in notice.alerts],
        "links": {"incident": link, "acknowledge": ack_link(config, incident.id) or None},
    }


def person_json(person: Recipient | None) -> JSONValue:
    if person is None:
        return None
    return {"id": person.id, "name": person.name, "email": person.email, "phone": person.phone}


def _time(at: datetime | None) -> str | None:
    return rfc3339(at) if at is not None else None


def _event(event: IncidentEvent | None) -> JSONValue:
    if event is None:
        return None
    fields: dict[str, JSONValue] = dict(update_fields(event))
    return {
        "id": event.id,
        "kind": event.kind,
        "message": event.message,
        "actor": event.actor,
        "at": rfc3339(event.at),
        "fields": fields,
    }


def _alert(alert: LinkedAlert) -> JSONValue:
    return {
        "id": alert.id,
        "name": alert.name,
        "status": alert.status,
        "severity": alert.severity,
        "summary": alert.summary,
    }
