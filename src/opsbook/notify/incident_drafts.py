"""Drafts: the message a channel would get about an incident's latest update, rendered from
the same templates and values as a real notification, but sent nowhere and recorded nowhere
(``GET /api/v1/incidents/{id}/message``, which ``opsbook incident message`` shows)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.config import Config
from opsbook.incidents import IncidentNotice, service
from opsbook.incidents.models import NOTIFIED_KINDS
from opsbook.incidents.notices import linked_alerts
from opsbook.incidents.records import row_to_event
from opsbook.incidents.tables import incident_event
from opsbook.notify.incident_render import render_incident
from opsbook.notify.render import Message


def draft_message(
    conn: Connection,
    incident_id: int,
    *,
    config: Config,
    template: str | None,
    channel: str | None,
    now: datetime,
) -> Message:
    """The subject and body ``channel`` (or no channel: the default email) would get about the
    incident's latest notified event, in the shipped ``template`` if one is named. The caller
    has checked that ``template`` and ``channel`` exist. Raises ``NotFound`` for an unknown
    incident."""
    found = service.get_incident(conn, incident_id)
    t = incident_event
    latest = conn.execute(
        sa.select(t)
        .where(t.c.incident_id == incident_id, t.c.kind.in_(sorted(NOTIFIED_KINDS)))
        .order_by(t.c.at.desc(), t.c.id.desc())
        .limit(1)
    ).first()
    update = conn.execute(
        sa.select(t)
        .where(t.c.incident_id == incident_id, t.c.kind == "status")
        .order_by(t.c.at.desc(), t.c.id.desc())
        .limit(1)
    ).first()
    notice = IncidentNotice(
        kind="incident",
        channel=channel or "",
        key=f"draft:{incident_id}",
        incident=found,
        alerts=linked_alerts(conn, incident_id),
        event=row_to_event(latest) if latest is not None else None,
        at=now,
    )
    return render_incident(
        config,
        notice,
        template,
        now=now,
        latest=row_to_event(update) if update is not None else None,
    )
