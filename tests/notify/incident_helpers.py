"""Shared by the incident notification tests: a config with severities, people and channels,
and hand-built incidents, events and notices (the Levqor seed's payment incident)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from notify_helpers import T0

from opsbook.config import Config
from opsbook.incidents.models import (
    Incident,
    IncidentEvent,
    IncidentNotice,
    IncidentStatus,
    LinkedAlert,
    Page,
    Recipient,
)

PUBLIC_URL = "https://ops.example.com"
ANA = Recipient(id="ana", name="Ana Lima", email="ana@example.com", phone="+351 910 000 000")
ALERT = LinkedAlert(
    id=7,
    name="payment-webhook-errors",
    status="firing",
    severity="SEV1",
    summary="stripe webhook 5xx rate 12%",
)
PAGE = Page(escalation_id=3, level=1, round=0, via="schedule:primary")


def incident_config(
    channels: Mapping[str, Mapping[str, Any]], *, public_url: str | None = PUBLIC_URL
) -> Config:
    """A config with SEV1 (15m, major outage), ``channels`` and Ana (paged via ``pager``)."""
    return Config.model_validate(
        {
            "service": "levqor",
            "server": {"public_url": public_url} if public_url else {},
            "severities": {
                "SEV1": {
                    "respond_within": "15m",
                    "page": True,
                    "status_impact": "major_outage",
                    "description": "Customer-facing outage",
                },
                "SEV3": {"respond_within": "4h"},
            },
            "channels": dict(channels),
            "oncall": {
                "people": {
                    "ana": {
                        "name": ANA.name,
                        "email": ANA.email,
                        "phone": ANA.phone,
                        "notify": [next(iter(channels))],
                    }
                }
            },
        }
    )


def make_incident(**changes: Any) -> Incident:
    incident = Incident(
        id=42,
        title="Payment Processing Delays",
        severity="SEV1",
        status=IncidentStatus.INVESTIGATING,
        declared_at=T0,
        acknowledged_at=None,
        mitigated_at=None,
        resolved_at=None,
        declared_by="user:ana",
        commander="ana",
        comms=None,
        summary="Payment confirmation emails are delayed.",
        merged_into=None,
        component="payments",
        root_alert_id=7,
        updated_at=T0,
    )
    return replace(incident, **changes)


def status_event(
    status: str, message: str, *, fields: Mapping[str, str] | None = None, **changes: Any
) -> IncidentEvent:
    """A status event as ``incidents.service.update`` writes it (``"<status>: <text>"``)."""
    event = IncidentEvent(
        id=101,
        incident_id=42,
        at=T0 + timedelta(minutes=20),
        kind="status",
        actor="user:ana",
        message=f"{status}: {message}",
        detail={"from": "investigating", "to": status, "fields": dict(fields or {})},
    )
    return replace(event, **changes)


def page_notice(channel: str = "pager", **changes: Any) -> IncidentNotice:
    notice = IncidentNotice(
        kind="page",
        channel=channel,
        key=f"page:3:0:{channel}:ana",
        incident=make_incident(),
        alerts=(ALERT,),
        person=ANA,
        page=PAGE,
        at=T0 + timedelta(minutes=5),
    )
    return replace(notice, **changes)


def update_notice(event: IncidentEvent, channel: str = "status", **changes: Any) -> IncidentNotice:
    notice = IncidentNotice(
        kind="incident",
        channel=channel,
        key=f"incident:{event.id}:{channel}",
        incident=make_incident(),
        alerts=(ALERT,),
        event=event,
        at=event.at,
    )
    return replace(notice, **changes)
