"""Reading incident rows, and the timeline writer every change goes through: an
``incident_event`` plus the audit trail in the caller's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.errors import NotFound
from opsbook.incidents.models import Incident, IncidentEvent, IncidentStatus
from opsbook.incidents.tables import incident, incident_alert, incident_event
from opsbook.store.audit import record_audit
from opsbook.types import JSONValue

MAX_LIMIT = 1000


def row_to_incident(row: Any) -> Incident:
    return Incident(
        id=int(row.id),
        title=row.title,
        severity=row.severity,
        status=IncidentStatus(row.status),
        declared_at=row.declared_at,
        acknowledged_at=row.acknowledged_at,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        declared_by=row.declared_by,
        commander=row.commander,
        comms=row.comms,
        summary=row.summary,
        merged_into=row.merged_into,
        component=row.component,
        root_alert_id=row.root_alert_id,
        updated_at=row.updated_at,
    )


def add_event(
    conn: Connection,
    incident_id: int,
    *,
    kind: str,
    actor: str,
    message: str,
    now: datetime,
    origin: str,
    at: datetime | None = None,
    detail: Mapping[str, JSONValue] | None = None,
    handled: bool = False,
) -> int:
    """Append a timeline event and its audit event (``incident.<kind>``) in ``conn``'s
    transaction; returns the event's id. ``at`` is when it happened (an alert's fired_at),
    ``now`` when it was written. ``handled`` events are written as already reacted to
    (``reactions.react`` skips them): the incidents task's own escalation events."""
    body = dict(detail or {})
    result = conn.execute(
        incident_event.insert().values(
            incident_id=incident_id,
            at=at or now,
            kind=kind,
            actor=actor,
            message=message,
            detail=body,
            handled_at=now if handled else None,
        )
    )
    record_audit(
        conn,
        actor=actor,
        action=f"incident.{kind}",
        subject=f"incident:{incident_id}",
        detail={"message": message, **body},
        origin=origin,
        at=now,
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new event id")
    return int(key[0])


def row_to_event(row: Any) -> IncidentEvent:
    return IncidentEvent(
        id=int(row.id),
        incident_id=int(row.incident_id),
        at=row.at,
        kind=row.kind,
        actor=row.actor,
        message=row.message,
        detail=dict(row.detail),
    )


def get_incident(conn: Connection, incident_id: int) -> Incident:
    row = conn.execute(sa.select(incident).where(incident.c.id == incident_id)).first()
    if row is None:
        raise NotFound(f"no incident with id {incident_id}", field="incident_id")
    return row_to_incident(row)


def list_incidents(
    conn: Connection, *, include_resolved: bool = False, limit: int = 100
) -> list[Incident]:
    """Open incidents (with ``include_resolved``, all of them), newest first.

    Raises ``ValueError`` for a ``limit`` outside 1..1000 (callers validate user input first).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    query = sa.select(incident)
    if not include_resolved:
        query = query.where(incident.c.status != IncidentStatus.RESOLVED.value)
    query = query.order_by(incident.c.declared_at.desc(), incident.c.id.desc()).limit(limit)
    return [row_to_incident(row) for row in conn.execute(query)]


def timeline(conn: Connection, incident_id: int) -> list[IncidentEvent]:
    """The incident's events in the order they happened (ties in the order they were written)."""
    get_incident(conn, incident_id)
    rows = conn.execute(
        sa.select(incident_event)
        .where(incident_event.c.incident_id == incident_id)
        .order_by(incident_event.c.at, incident_event.c.id)
    )
    return [row_to_event(r) for r in rows]


def alert_ids(conn: Connection, incident_id: int) -> list[int]:
    """The ids of the alerts linked to the incident, in the order they were linked."""
    rows = conn.execute(
        sa.select(incident_alert.c.alert_id)
        .where(incident_alert.c.incident_id == incident_id)
        .order_by(incident_alert.c.linked_at, incident_alert.c.alert_id)
    )
    return [int(r.alert_id) for r in rows]
