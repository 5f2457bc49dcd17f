"""The one JSON shape of incidents and their timelines: the API's bodies and the CLI's
``--json``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Connection

from opsbook.config import Config
from opsbook.incidents.escalation import list_escalations, policy_levels
from opsbook.incidents.models import ActionItem, Escalation, Incident, IncidentEvent, Response
from opsbook.incidents.records import alert_ids, get_incident, timeline
from opsbook.oncall import Level
from opsbook.types import JSONValue


def iso(at: datetime | None) -> str | None:
    """RFC 3339 in UTC with ``Z``, as the rest of the API writes times."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at is not None else None


def seconds(delta: timedelta | None) -> int | None:
    return int(delta.total_seconds()) if delta is not None else None


def incident_json(item: Incident, *, alert_ids: Sequence[int] = ()) -> dict[str, JSONValue]:
    return {
        "id": item.id,
        "title": item.title,
        "severity": item.severity,
        "status": item.status.value,
        "summary": item.summary,
        "declared_at": iso(item.declared_at),
        "declared_by": item.declared_by,
        "acknowledged_at": iso(item.acknowledged_at),
        "mitigated_at": iso(item.mitigated_at),
        "resolved_at": iso(item.resolved_at),
        "commander": item.commander,
        "comms": item.comms,
        "component": item.component,
        "merged_into": item.merged_into,
        "alert_ids": list(alert_ids),
        "time_to_acknowledge_s": seconds(item.time_to_acknowledge),
        "time_to_mitigate_s": seconds(item.time_to_mitigate),
        "time_to_resolve_s": seconds(item.time_to_resolve),
    }


def response_json(item: Response | None) -> dict[str, JSONValue] | None:
    """The response target (None when the incident's severity is no longer configured)."""
    if item is None:
        return None
    return {
        "target_s": seconds(item.target),
        "due_at": iso(item.due_at),
        "state": item.state,
    }


def event_json(event: IncidentEvent) -> dict[str, JSONValue]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "kind": event.kind,
        "actor": event.actor,
        "message": event.message,
        "detail": dict(event.detail),
    }


def action_json(item: ActionItem) -> dict[str, JSONValue]:
    return {
        "id": item.id,
        "incident_id": item.incident_id,
        "title": item.title,
        "owner": item.owner,
        "due": item.due.isoformat() if item.due is not None else None,
        "done_at": iso(item.done_at),
        "created_at": iso(item.created_at),
        "created_by": item.created_by,
    }


def escalation_json(item: Escalation, *, levels: Sequence[Level] | None) -> dict[str, JSONValue]:
    """``next_level``/``next_round`` (1-based) name the level ``next_at`` pages; None once it
    ended or past the last level. ``levels`` is the policy's (None when it is gone), repeats
    unrolled; ``levels_per_round`` is how many one round has, so a client says "level 2 of 3"
    from what the server runs rather than from a config file of its own."""
    upcoming = levels[item.step] if levels is not None and item.step < len(levels) else None
    active = item.is_active and upcoming is not None
    return {
        "id": item.id,
        "policy": item.policy,
        "state": item.state,
        "step": item.step,
        "levels": len(levels) if levels is not None else None,
        "levels_per_round": max(level.number for level in levels) if levels else None,
        "next_level": upcoming.number if active and upcoming else None,
        "next_round": upcoming.round + 1 if active and upcoming else None,
        "next_at": iso(item.next_at),
        "started_at": iso(item.started_at),
        "ended_at": iso(item.ended_at),
        "ended_reason": item.ended_reason,
    }


def response_for(found: Incident, *, config: Config, now: datetime) -> Response | None:
    """The incident against its severity's ``respond_within``; None when the severity is no
    longer configured."""
    severity = config.severities.get(found.severity)
    return found.response(severity.respond_within, now=now) if severity is not None else None


def incident_detail_json(
    conn: Connection, incident_id: int, *, config: Config, now: datetime
) -> dict[str, JSONValue]:
    """One incident with its response target, escalations and timeline: the API's body for
    every incident answer and ``opsbook incident show --json``. ``NotFound`` if there is none."""
    found = get_incident(conn, incident_id)
    return {
        **incident_json(found, alert_ids=alert_ids(conn, incident_id)),
        "response": response_json(response_for(found, config=config, now=now)),
        "escalations": [
            escalation_json(e, levels=policy_levels(config, e.policy))
            for e in list_escalations(conn, incident_id)
        ],
        "timeline": [event_json(e) for e in timeline(conn, incident_id)],
    }
