"""What the incidents task does about new timeline events: start and stop escalations, and tell
the severity's ``notify`` channels.

An event is handled once: ``react`` claims it (``handled_at`` set where still NULL) before
acting, in the same transaction as what it does, so a crash redoes it and two servers never
both do it (STYLE.md R21). An event that cannot be handled is rolled back alone, claim
included, so the next pass retries it (``isolation.handle_each``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.config import Config
from opsbook.incidents.escalation import (
    active_escalations,
    escalate_on_request,
    start_escalation,
    stop_escalation,
)
from opsbook.incidents.isolation import handle_each
from opsbook.incidents.models import (
    NOTIFIED_KINDS,
    EmitIncident,
    Incident,
    IncidentEvent,
    IncidentNotice,
    IncidentStatus,
)
from opsbook.incidents.notices import linked_alerts
from opsbook.incidents.records import row_to_event, row_to_incident
from opsbook.incidents.tables import incident, incident_event
from opsbook.tasks import TaskFailures

BATCH = 500
STARTS = frozenset({"declared", "reopened", "severity"})


def react(
    conn: Connection,
    *,
    config: Config,
    emit: EmitIncident,
    now: datetime,
    failures: TaskFailures | None = None,
) -> int:
    """Handle unhandled timeline events in id order (a bounded batch); returns how many
    notices were queued.

    1. declared, reopened, severity: start the severity's escalation policy if the incident is
       open, unacknowledged, not merged and has no active escalation;
    2. acknowledged, resolved (a status event to resolved), merged: end its active escalations;
    3. every kind in ``NOTIFIED_KINDS``: one notice per channel of the incident's severity's
       ``notify``, keyed ``incident:{event_id}:{channel}``;
    4. mark the event handled.

    The notices go to ``emit`` in this transaction, once unless an event fails: that event is
    rolled back alone, counted in ``failures`` and marked on its incident's timeline
    (``isolation.handle_each``, stage ``reaction``).
    """
    rows = conn.execute(
        sa.select(incident_event)
        .where(incident_event.c.handled_at.is_(None))
        .order_by(incident_event.c.id)
        .limit(BATCH)
    ).all()

    def handle(row: Any) -> list[IncidentNotice]:
        claimed = conn.execute(
            incident_event.update()
            .where(incident_event.c.id == row.id, incident_event.c.handled_at.is_(None))
            .values(handled_at=now)
        ).rowcount
        if claimed != 1:
            return []  # another server's pass took it
        return _react_to(conn, row_to_event(row), config=config, now=now)

    return handle_each(
        conn,
        rows,
        handle,
        incident_of=lambda row: int(row.incident_id),
        emit=emit,
        stage="reaction",
        now=now,
        failures=failures,
    )


def _react_to(
    conn: Connection, event: IncidentEvent, *, config: Config, now: datetime
) -> list[IncidentNotice]:
    found_row = conn.execute(
        sa.select(incident).where(incident.c.id == event.incident_id).with_for_update()
    ).first()
    if found_row is None:  # pragma: no cover - the event cascades away with its incident
        return []
    found = row_to_incident(found_row)
    if event.kind in STARTS:
        _maybe_start(conn, found, config=config, now=now)
    stop = _stop_state(event)
    if stop is not None:
        for esc in active_escalations(conn, found.id):
            stop_escalation(
                conn, esc, state=stop, message=f"{stop} by {event.actor}", now=now, by=event.actor
            )
    if event.kind == "escalate":
        return escalate_on_request(conn, found, config=config, request=event, now=now)
    if event.kind not in NOTIFIED_KINDS:
        return []
    then = as_of(conn, found, event)
    severity = config.severities.get(then.severity)
    if severity is None or not severity.notify:
        return []
    alerts = linked_alerts(conn, found.id)
    return [
        IncidentNotice(
            kind="incident",
            channel=channel,
            key=f"incident:{event.id}:{channel}",
            incident=then,
            alerts=alerts,
            event=event,
            at=event.at,
        )
        for channel in severity.notify
    ]


def as_of(conn: Connection, found: Incident, event: IncidentEvent) -> Incident:
    """The incident with the status and severity it had right after ``event``: two updates
    handled in one pass must each say what was true when it was posted, not what is true now.
    """
    status = _last(conn, event, ("declared", "status", "reopened"))
    severity = _last(conn, event, ("declared", "severity"))
    return dataclasses.replace(
        found,
        status=IncidentStatus(_after(status, "status", IncidentStatus.INVESTIGATING.value)),
        severity=_after(severity, "severity", found.severity),
    )


def _last(conn: Connection, event: IncidentEvent, kinds: tuple[str, ...]) -> Any:
    return conn.execute(
        sa.select(incident_event.c.kind, incident_event.c.detail)
        .where(
            incident_event.c.incident_id == event.incident_id,
            incident_event.c.kind.in_(kinds),
            incident_event.c.id <= event.id,
        )
        .order_by(incident_event.c.id.desc())
        .limit(1)
    ).first()


def _after(row: Any, what: str, default: str) -> str:
    """What ``row`` (a declared, status, reopened or severity event) set ``what`` to."""
    if row is None:
        return default
    if row.kind == "declared":
        return str(row.detail.get("severity", default)) if what == "severity" else default
    value = row.detail.get("to")
    return str(value) if isinstance(value, str) else default


def _stop_state(event: IncidentEvent) -> str | None:
    if event.kind == "acknowledged":
        return "acknowledged"
    if event.kind == "merged":
        return "merged"
    if event.kind == "status" and event.detail.get("to") == "resolved":
        return "resolved"
    return None


def _maybe_start(conn: Connection, found: Incident, *, config: Config, now: datetime) -> None:
    severity = config.severities.get(found.severity)
    if severity is None or severity.escalation is None:
        return
    if severity.escalation not in config.oncall.escalation:  # pragma: no cover - load refuses it
        return
    if not found.is_open or found.acknowledged_at is not None or found.merged_into is not None:
        return
    if active_escalations(conn, found.id):
        return
    start_escalation(conn, found, policy=severity.escalation, now=now)
