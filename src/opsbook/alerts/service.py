"""Reads of alerts for people: the API and the CLI list, count and show alerts through these,
and write them in one JSON shape (the API's bodies and the CLI's ``--json``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.maintenance import OpenWindow
from opsbook.alerts.models import Alert, AlertEvent, AlertStatus, Matcher, Silence
from opsbook.alerts.records import alert_events, get_alert, row_to_alert
from opsbook.alerts.tables import alert
from opsbook.types import JSONValue

MAX_LIMIT = 1000


def list_alerts(
    conn: Connection,
    *,
    statuses: Collection[AlertStatus] | None = None,
    limit: int = 100,
    rule: str | None = None,
) -> list[Alert]:
    """Alerts newest first (by start, then id), optionally only some statuses or one rule.

    Raises ``ValueError`` for a ``limit`` outside 1..1000 (callers validate user input first).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    query = sa.select(alert)
    if statuses is not None:
        query = query.where(alert.c.status.in_(sorted(s.value for s in statuses)))
    if rule is not None:
        query = query.where(alert.c.rule == rule)
    query = query.order_by(alert.c.started_at.desc(), alert.c.id.desc()).limit(limit)
    return [row_to_alert(row) for row in conn.execute(query)]


def count_by_status(conn: Connection) -> dict[AlertStatus, int]:
    """How many alerts are in each status (every status is present, zero when none)."""
    counts = dict.fromkeys(AlertStatus, 0)
    rows = conn.execute(sa.select(alert.c.status, sa.func.count()).group_by(alert.c.status))
    for status, n in rows:
        counts[AlertStatus(status)] = int(n)
    return counts


def alert_with_events(conn: Connection, alert_id: int) -> tuple[Alert, list[AlertEvent]]:
    """One alert and its timeline, oldest event first. Raises ``NotFound``."""
    found = get_alert(conn, alert_id)
    return found, alert_events(conn, alert_id)


def iso(at: datetime | None) -> str | None:
    """RFC 3339 in UTC with ``Z``, as the rest of the API writes times."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at is not None else None


def alert_json(item: Alert) -> dict[str, JSONValue]:
    """The API's and ``--json``'s shape of an alert; ``muted`` says why it is held back."""
    return {
        "id": item.id,
        "fingerprint": item.fingerprint,
        "status": item.status.value,
        "source": item.source.value,
        "rule": item.rule,
        "integration": item.integration,
        "check": item.check_id,
        "severity": item.severity,
        "labels": dict(item.labels),
        "annotations": dict(item.annotations),
        "values": dict(item.values),
        "started_at": iso(item.started_at),
        "fired_at": iso(item.fired_at),
        "resolved_at": iso(item.resolved_at),
        "muted": {
            "suppressed_by": item.suppressed_by,
            "suppressed_reason": item.suppressed_reason,
            "silenced_by": list(item.silenced_by),
            "maintenance": item.maintenance,
        },
        "flapping": item.flapping,
        "acknowledged_at": iso(item.acknowledged_at),
    }


def event_json(event: AlertEvent) -> dict[str, JSONValue]:
    return {
        "id": event.id,
        "at": iso(event.at),
        "kind": event.kind,
        "from_status": event.from_status.value if event.from_status else None,
        "to_status": event.to_status.value if event.to_status else None,
        "values": dict(event.values),
        "message": event.message,
    }


def matcher_json(matcher: Matcher) -> dict[str, JSONValue]:
    """Alertmanager's matcher object."""
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.is_regex,
        "isEqual": matcher.is_equal,
    }


def silence_json(found: Silence, now: datetime) -> dict[str, JSONValue]:
    return {
        "id": found.id,
        "state": found.state(now),
        "matchers": [matcher_json(m) for m in found.matchers],
        "matchers_text": [str(m) for m in found.matchers],
        "starts_at": iso(found.starts_at),
        "ends_at": iso(found.ends_at),
        "created_by": found.created_by,
        "comment": found.comment,
        "created_at": iso(found.created_at),
        "updated_at": iso(found.updated_at),
    }


def window_json(opening: OpenWindow) -> dict[str, JSONValue]:
    return {
        "name": opening.name,
        "start": iso(opening.start),
        "end": iso(opening.end),
        "global": opening.is_global,
        "components": list(opening.components),
        "checks": list(opening.checks),
        "description": opening.description,
    }


def mute_reason(item: Alert) -> str:
    """Why a firing alert is not notified, in words; empty when nothing holds it back."""
    reasons = []
    if item.suppressed_reason:
        reasons.append(f"suppressed: {item.suppressed_reason}")
    if item.silenced_by:
        reasons.append("silenced by " + ", ".join(s[:8] for s in item.silenced_by))
    if item.maintenance:
        reasons.append(f"maintenance {item.maintenance}")
    if item.acknowledged_at is not None:
        reasons.append("acknowledged")
    return "; ".join(reasons)
