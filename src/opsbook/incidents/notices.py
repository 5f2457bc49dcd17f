"""What incident notices carry beside the incident: its linked alerts and the person paged."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.tables import alert
from opsbook.config import Config
from opsbook.incidents.models import LinkedAlert, Recipient
from opsbook.incidents.service import alert_name
from opsbook.incidents.tables import incident_alert


def linked_alerts(conn: Connection, incident_id: int) -> tuple[LinkedAlert, ...]:
    """The incident's alerts in the order they were linked."""
    rows = conn.execute(
        sa.select(alert)
        .join(incident_alert, incident_alert.c.alert_id == alert.c.id)
        .where(incident_alert.c.incident_id == incident_id)
        .order_by(incident_alert.c.linked_at, alert.c.id)
    )
    return tuple(
        LinkedAlert(
            id=int(row.id),
            name=alert_name(row),
            status=str(row.status),
            severity=row.severity,
            summary=str((row.annotations or {}).get("summary") or ""),
        )
        for row in rows
    )


def recipient(config: Config, person: str) -> Recipient:
    """``oncall.people.<person>`` as a notice shows it (just the id if it is gone from the
    config, so a page already decided on still names someone)."""
    found = config.oncall.people.get(person)
    if found is None:
        return Recipient(id=person, name=person)
    return Recipient(id=person, name=found.name, email=found.email, phone=found.phone)


def person_channels(config: Config, person: str) -> list[str]:
    found = config.oncall.people.get(person)
    return list(found.notify) if found is not None else []
