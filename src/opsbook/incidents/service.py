"""Changing incidents: declare, acknowledge, status updates, severity, roles, notes, merge and
reopen. Every change writes a timeline event and the audit trail in the caller's transaction
(``records.add_event``), so a change and its trace commit together.

``actor`` names who did it (``user:ana``, ``system:incidents``) and ``origin`` where from
(``cli``, ``api 10.0.0.7``, ``runner``), as in the audit trail.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.tables import alert
from opsbook.errors import Conflict, InputError, NotFound
from opsbook.incidents.actions import add_action, complete_action, get_action, list_actions
from opsbook.incidents.lifecycle import check_severity, transition_problem
from opsbook.incidents.models import UPDATE_FIELDS, Incident, IncidentStatus, Role
from opsbook.incidents.records import (
    MAX_LIMIT,
    add_event,
    alert_ids,
    get_incident,
    list_incidents,
    timeline,
)
from opsbook.incidents.tables import incident, incident_alert
from opsbook.textsafe import repair

# The reads, so callers outside the domain need only this module (STYLE.md R5).
__all__ = [
    "MAX_LIMIT",
    "acknowledge",
    "add_action",
    "add_note",
    "alert_ids",
    "change_severity",
    "complete_action",
    "declare",
    "get_action",
    "get_incident",
    "link_alert",
    "list_actions",
    "list_incidents",
    "merge",
    "reopen",
    "set_role",
    "timeline",
    "update",
]

MAX_TITLE_CHARS = 300
MAX_PERSON_CHARS = 200
MAX_FIELD_CHARS = 500


def _text(value: str, *, field: str, what: str, limit: int | None = None) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InputError(f"{field}: {what}", field=field)
    if limit is not None and len(cleaned) > limit:
        raise InputError(
            f"{field}: at most {limit} characters (this one has {len(cleaned)})", field=field
        )
    return cleaned


def alert_name(row: Any) -> str:
    """The rule for rule alerts; the alertname an ingested alert came with."""
    if row.rule and row.integration is None:
        return repair(str(row.rule))
    return repair(str(row.labels.get("alertname") or row.rule or f"#{row.id}"))


def link_alert(
    conn: Connection, incident_id: int, alert_row: Any, *, actor: str, now: datetime, origin: str
) -> None:
    """Link one alert (a row of ``alert``) and put its firing on the timeline at its fired_at.

    Raises ``Conflict`` when the alert already belongs to an incident.
    """
    taken = conn.execute(
        sa.select(incident_alert.c.incident_id).where(incident_alert.c.alert_id == alert_row.id)
    ).scalar()
    if taken is not None:
        raise Conflict(f"alert {alert_row.id} already belongs to incident {taken}")
    conn.execute(
        incident_alert.insert().values(
            incident_id=incident_id,
            alert_id=alert_row.id,
            linked_at=now,
            alert_status=alert_row.status,
        )
    )
    status = alert_row.status
    at = alert_row.fired_at if status == "firing" else alert_row.resolved_at
    add_event(
        conn,
        incident_id,
        kind=f"alert_{status}" if status in ("firing", "resolved") else "alert_linked",
        actor=actor,
        message=f"alert {alert_name(alert_row)} {status}",
        now=now,
        origin=origin,
        at=min(at or now, now),
        detail={"alert_id": int(alert_row.id), "severity": alert_row.severity},
    )


def _alert_rows(conn: Connection, ids: Sequence[int]) -> list[Any]:
    rows = {r.id: r for r in conn.execute(sa.select(alert).where(alert.c.id.in_(list(ids))))}
    for i, alert_id in enumerate(ids):
        if alert_id not in rows:
            raise NotFound(f"alert_ids[{i}]: no alert with id {alert_id}", field=f"alert_ids[{i}]")
    return [rows[alert_id] for alert_id in ids]


def declare(
    conn: Connection,
    *,
    title: str,
    severity: str,
    actor: str,
    now: datetime,
    summary: str = "",
    alert_ids: Sequence[int] = (),
    origin: str = "system",
    severities: Collection[str] | None = None,
    component: str | None = None,
    root_alert_id: int | None = None,
) -> Incident:
    """Open an incident (investigating) and link ``alert_ids``. ``severities`` are the
    configured names the severity must be one of. Raises ``InputError`` naming the field, or
    ``Conflict`` for an alert already in an incident; writes nothing then (caller's rollback)."""
    title = _text(title, field="title", what="say what is wrong", limit=MAX_TITLE_CHARS)
    check_severity(severity, known=severities)
    rows = _alert_rows(conn, alert_ids)
    result = conn.execute(
        incident.insert().values(
            title=title,
            severity=severity,
            status=IncidentStatus.INVESTIGATING.value,
            declared_at=now,
            declared_by=actor,
            summary=summary.strip(),
            component=component,
            root_alert_id=root_alert_id,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new incident id")
    incident_id = int(key[0])
    add_event(
        conn,
        incident_id,
        kind="declared",
        actor=actor,
        message=f"declared {severity}: {title}",
        now=now,
        origin=origin,
        detail={"severity": severity, "title": title, "summary": summary.strip()},
    )
    for row in rows:
        link_alert(conn, incident_id, row, actor=actor, now=now, origin=origin)
    return get_incident(conn, incident_id)


def _changeable(conn: Connection, incident_id: int) -> Incident:
    found = get_incident(conn, incident_id)
    if found.merged_into is not None:
        raise Conflict(
            f"incident {incident_id} was merged into incident {found.merged_into}; "
            f"change incident {found.merged_into} instead"
        )
    return found


def _set(conn: Connection, incident_id: int, now: datetime, **columns: Any) -> None:
    conn.execute(
        incident.update().where(incident.c.id == incident_id).values(updated_at=now, **columns)
    )


def acknowledge(
    conn: Connection, incident_id: int, *, actor: str, now: datetime, origin: str = "system"
) -> Incident:
    """Mark the incident acknowledged. ``Conflict`` if it already is, or is resolved."""
    found = _changeable(conn, incident_id)
    if found.acknowledged_at is not None:
        raise Conflict(
            f"incident {incident_id} was already acknowledged at "
            f"{found.acknowledged_at.isoformat()}"
        )
    if not found.is_open:
        raise Conflict(f"incident {incident_id} is resolved; there is nothing to acknowledge")
    _set(conn, incident_id, now, acknowledged_at=now)
    add_event(
        conn,
        incident_id,
        kind="acknowledged",
        actor=actor,
        message="acknowledged",
        now=now,
        origin=origin,
    )
    return get_incident(conn, incident_id)


def escalate(
    conn: Connection,
    incident_id: int,
    *,
    reason: str,
    policies: Mapping[str, str | None],
    actor: str,
    now: datetime,
    origin: str = "system",
) -> Incident:
    """Ask for the next escalation level to be paged now, acknowledged or not ("escalate if a
    data breach is suspected"): an ``escalate`` event saying ``reason``, which the incidents
    task's next pass pages (``escalation.escalate_on_request``). ``policies`` maps each
    severity to its escalation policy. ``Conflict`` for a resolved incident or a severity with
    no policy (there is nobody to escalate to)."""
    text = _text(reason, field="reason", what="say why it is escalated", limit=MAX_FIELD_CHARS)
    found = _changeable(conn, incident_id)
    if not found.is_open:
        raise Conflict(f"incident {incident_id} is resolved; reopen it before escalating")
    if policies.get(found.severity) is None:
        raise Conflict(
            f"incident {incident_id} is {found.severity}, which has no escalation policy "
            f"(severities.{found.severity}.escalation): there is nobody to escalate to; "
            "raise its severity instead"
        )
    _set(conn, incident_id, now)
    add_event(
        conn,
        incident_id,
        kind="escalate",
        actor=actor,
        message=f"escalation asked for: {text}",
        now=now,
        origin=origin,
    )
    return get_incident(conn, incident_id)


def update_fields(fields: Mapping[str, str] | None) -> dict[str, str]:
    """The update's ``UPDATE_FIELDS`` stripped, empty ones dropped. Raises ``InputError``
    naming ``fields.<key>`` for an unknown key or a value over 500 characters."""
    out: dict[str, str] = {}
    for key, value in (fields or {}).items():
        where = f"fields.{key}"
        if key not in UPDATE_FIELDS:
            raise InputError(
                f"{where}: not an update field (use {', '.join(UPDATE_FIELDS)})", field=where
            )
        cleaned = value.strip()
        if len(cleaned) > MAX_FIELD_CHARS:
            raise InputError(
                f"{where}: at most {MAX_FIELD_CHARS} characters (this one has {len(cleaned)})",
                field=where,
            )
        if cleaned:
            out[key] = cleaned
    return out


def update(
    conn: Connection,
    incident_id: int,
    *,
    status: IncidentStatus,
    message: str,
    actor: str,
    now: datetime,
    origin: str = "system",
    fields: Mapping[str, str] | None = None,
) -> Incident:
    """Post a status update, with optional ``fields`` (``UPDATE_FIELDS``: impact, eta, ...)
    stored in the event's ``detail["fields"]``. Illegal moves
    (``lifecycle.transition_problem``) raise ``Conflict`` naming both statuses; bad fields
    raise ``InputError`` naming ``fields.<key>``. Reaching monitoring or resolved marks the
    incident mitigated (first time only); resolving also acknowledges an unacknowledged one."""
    text = _text(message, field="message", what="say what changed")
    given = update_fields(fields)
    found = _changeable(conn, incident_id)
    problem = transition_problem(found.status, status)
    if problem is not None:
        raise Conflict(f"incident {incident_id} {problem}")
    columns: dict[str, Any] = {"status": status.value}
    if status in (IncidentStatus.MONITORING, IncidentStatus.RESOLVED):
        columns["mitigated_at"] = found.mitigated_at or now
    if status is IncidentStatus.RESOLVED:
        columns["resolved_at"] = now
    _set(conn, incident_id, now, **columns)
    add_event(
        conn,
        incident_id,
        kind="status",
        actor=actor,
        message=f"{status}: {text}",
        now=now,
        origin=origin,
        detail={"from": found.status.value, "to": status.value}
        | ({"fields": dict(given)} if given else {}),
    )
    return get_incident(conn, incident_id)


def reopen(
    conn: Connection,
    incident_id: int,
    *,
    message: str,
    actor: str,
    now: datetime,
    origin: str = "system",
) -> Incident:
    """Move a resolved incident back to investigating. ``Conflict`` if it is not resolved."""
    text = _text(message, field="message", what="say why it is reopened")
    found = _changeable(conn, incident_id)
    if found.is_open:
        raise Conflict(f"incident {incident_id} is {found.status}, not resolved; update it instead")
    _set(conn, incident_id, now, status=IncidentStatus.INVESTIGATING.value, resolved_at=None)
    add_event(
        conn,
        incident_id,
        kind="reopened",
        actor=actor,
        message=f"reopened: {text}",
        now=now,
        origin=origin,
        detail={"from": "resolved", "to": "investigating"},
    )
    return get_incident(conn, incident_id)


def change_severity(
    conn: Connection,
    incident_id: int,
    *,
    severity: str,
    actor: str,
    now: datetime,
    origin: str = "system",
    severities: Collection[str] | None = None,
) -> Incident:
    check_severity(severity, known=severities)
    found = _changeable(conn, incident_id)
    if found.severity == severity:
        raise Conflict(f"incident {incident_id} is already {severity}")
    _set(conn, incident_id, now, severity=severity)
    add_event(
        conn,
        incident_id,
        kind="severity",
        actor=actor,
        message=f"severity {found.severity} -> {severity}",
        now=now,
        origin=origin,
        detail={"from": found.severity, "to": severity},
    )
    return get_incident(conn, incident_id)


def set_role(
    conn: Connection,
    incident_id: int,
    *,
    role: Role,
    person: str,
    actor: str,
    now: datetime,
    origin: str = "system",
) -> Incident:
    """Make ``person`` the incident's commander or comms lead (replacing whoever was)."""
    who = _text(person, field="person", what="name the person", limit=MAX_PERSON_CHARS)
    found = _changeable(conn, incident_id)
    before = found.commander if role is Role.COMMANDER else found.comms
    _set(conn, incident_id, now, **{role.value: who})
    add_event(
        conn,
        incident_id,
        kind="role",
        actor=actor,
        message=f"{role} is {who}" + (f" (was {before})" if before else ""),
        now=now,
        origin=origin,
        detail={"role": role.value, "person": who, "was": before},
    )
    return get_incident(conn, incident_id)


def add_note(
    conn: Connection,
    incident_id: int,
    *,
    message: str,
    actor: str,
    now: datetime,
    origin: str = "system",
) -> Incident:
    """Add a note to the timeline; resolved and merged incidents take notes too (postmortems)."""
    text = _text(message, field="message", what="write the note")
    get_incident(conn, incident_id)
    _set(conn, incident_id, now)
    add_event(conn, incident_id, kind="note", actor=actor, message=text, now=now, origin=origin)
    return get_incident(conn, incident_id)


def merge(
    conn: Connection,
    source_id: int,
    *,
    into: int,
    actor: str,
    now: datetime,
    origin: str = "system",
) -> Incident:
    """Merge ``source_id`` into ``into``: its alerts move, both timelines say so, and the
    source is resolved as merged. Returns the incident merged into."""
    if source_id == into:
        raise InputError(f"into: incident {into} cannot be merged into itself", field="into")
    source = _changeable(conn, source_id)
    try:
        target = _changeable(conn, into)
    except NotFound:
        raise NotFound(f"into: no incident with id {into}", field="into") from None
    if not target.is_open:
        raise Conflict(f"incident {into} is resolved; reopen it before merging into it")
    moved = conn.execute(
        incident_alert.update()
        .where(incident_alert.c.incident_id == source_id)
        .values(incident_id=into)
    ).rowcount
    _set(
        conn,
        source_id,
        now,
        status=IncidentStatus.RESOLVED.value,
        merged_into=into,
        resolved_at=source.resolved_at or now,
    )
    _set(conn, into, now)
    add_event(
        conn,
        source_id,
        kind="merged",
        actor=actor,
        message=f"merged into incident {into}: {target.title}",
        now=now,
        origin=origin,
        detail={"into": into, "alerts_moved": moved},
    )
    add_event(
        conn,
        into,
        kind="merged_from",
        actor=actor,
        message=f"incident {source_id} merged in ({source.title}; {moved} alerts moved)",
        now=now,
        origin=origin,
        detail={"source": source_id, "alerts_moved": moved},
    )
    return get_incident(conn, into)
