"""Reading and writing alert rows: the helpers every part of the domain shares.

The engine, ingest and dispatch all change ``alert`` rows; they do it through these functions so
each change leaves an ``alert_event`` in the same transaction (nothing changes without a trace).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.models import Alert, AlertEvent, AlertSource, AlertStatus
from opsbook.alerts.tables import alert, alert_event
from opsbook.errors import NotFound
from opsbook.textsafe import repair, repair_map
from opsbook.types import JSONValue

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1
_SEPARATOR = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over the sorted names and values,
    each followed by the byte 0xff, as 16 hex digits (``model.LabelSet.Fingerprint``).

    Computing it the same way means an alert ingested from Prometheus keeps the fingerprint
    Alertmanager would show for it.
    """
    value = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            # surrogatepass: a lone surrogate in a stored label still hashes (and stably).
            for byte in part.encode("utf-8", "surrogatepass"):
                value = ((value ^ byte) * _FNV_PRIME) & _MASK
            value = ((value ^ _SEPARATOR) * _FNV_PRIME) & _MASK
    return f"{value:016x}"


def row_to_alert(row: Any) -> Alert:
    """The row as an ``Alert``, its text repaired (``textsafe.repair``): a row written around ingest
    may hold text no encoder takes, and every reader (API, CLI, dispatch, email) goes through
    here."""
    return Alert(
        id=int(row.id),
        fingerprint=row.fingerprint,
        source=AlertSource(row.source),
        rule=row.rule,
        integration=row.integration,
        dedup_key=row.dedup_key,
        check_id=row.check_id,
        labels=_text_map(row.labels),
        annotations=_text_map(row.annotations),
        severity=row.severity,
        status=AlertStatus(row.status),
        started_at=row.started_at,
        fired_at=row.fired_at,
        resolved_at=row.resolved_at,
        ends_at=row.ends_at,
        last_seen_at=row.last_seen_at,
        updated_at=row.updated_at,
        values=repair_map(row.values) if isinstance(row.values, Mapping) else {},
        flapping=bool(row.flapping),
        acknowledged_at=row.acknowledged_at,
        suppressed_by=row.suppressed_by,
        suppressed_reason=repair(row.suppressed_reason) if row.suppressed_reason else None,
        silenced_by=tuple(row.silenced_by or ()),
        maintenance=row.maintenance,
    )


def row_to_event(row: Any) -> AlertEvent:
    return AlertEvent(
        id=int(row.id),
        alert_id=int(row.alert_id),
        at=row.at,
        kind=row.kind,
        from_status=AlertStatus(row.from_status) if row.from_status else None,
        to_status=AlertStatus(row.to_status) if row.to_status else None,
        values=repair_map(row.values) if isinstance(row.values, Mapping) else {},
        message=repair(row.message),
    )


def _text_map(value: object) -> dict[str, str]:
    # Not a mapping only when written around every writer; shown empty rather than failing.
    if not isinstance(value, Mapping):
        return {}
    return {repair(str(k)): repair(str(v)) for k, v in value.items()}


def add_event(
    conn: Connection,
    *,
    alert_id: int,
    at: datetime,
    kind: str,
    message: str,
    from_status: AlertStatus | None = None,
    to_status: AlertStatus | None = None,
    values: Mapping[str, JSONValue] | None = None,
) -> None:
    conn.execute(
        alert_event.insert().values(
            alert_id=alert_id,
            at=at,
            kind=kind,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value if to_status else None,
            values=dict(values or {}),
            message=message,
        )
    )


def open_alert(
    conn: Connection,
    *,
    fingerprint: str,
    source: AlertSource,
    labels: Mapping[str, str],
    severity: str,
    status: AlertStatus,
    now: datetime,
    annotations: Mapping[str, str] | None = None,
    values: Mapping[str, JSONValue] | None = None,
    rule: str | None = None,
    integration: str | None = None,
    dedup_key: str | None = None,
    check_id: str | None = None,
    started_at: datetime | None = None,
    ends_at: datetime | None = None,
    message: str,
) -> int:
    """Insert a new open episode (``pending`` or ``firing``) and its first event; its id.

    The caller has checked there is no open episode for ``fingerprint`` (``find_open``); the
    unique ``open_key`` makes a race between two writers fail instead of opening two.
    """
    if status not in (AlertStatus.PENDING, AlertStatus.FIRING):
        raise ValueError(f"a new alert is pending or firing, not {status}")
    started = started_at or now
    result = conn.execute(
        alert.insert().values(
            fingerprint=fingerprint,
            open_key=fingerprint,
            source=source.value,
            rule=rule,
            integration=integration,
            dedup_key=dedup_key,
            check_id=check_id,
            labels=dict(labels),
            annotations=dict(annotations or {}),
            severity=severity,
            status=status.value,
            started_at=started,
            fired_at=now if status is AlertStatus.FIRING else None,
            ends_at=ends_at,
            last_seen_at=now,
            updated_at=now,
            values=dict(values or {}),
            silenced_by=[],
        )
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new alert id")
    alert_id = int(key[0])
    add_event(
        conn,
        alert_id=alert_id,
        at=now,
        kind=status.value,
        to_status=status,
        values=values,
        message=message,
    )
    return alert_id


def find_open(conn: Connection, fingerprint: str) -> Alert | None:
    row = conn.execute(sa.select(alert).where(alert.c.open_key == fingerprint)).first()
    return row_to_alert(row) if row is not None else None


def set_status(
    conn: Connection,
    current: Alert,
    to: AlertStatus,
    *,
    now: datetime,
    message: str,
    values: Mapping[str, JSONValue] | None = None,
    **columns: Any,
) -> None:
    """Move ``current`` to ``to`` with an event; closing statuses free the fingerprint."""
    changes: dict[str, Any] = {"status": to.value, "updated_at": now, **columns}
    if to is AlertStatus.FIRING and current.fired_at is None:
        changes["fired_at"] = now
    if to in (AlertStatus.RESOLVED, AlertStatus.INACTIVE):
        changes["open_key"] = None
        changes.setdefault("resolved_at", now)
    if values is not None:
        changes["values"] = dict(values)
    conn.execute(alert.update().where(alert.c.id == current.id).values(**changes))
    add_event(
        conn,
        alert_id=current.id,
        at=now,
        kind=to.value,
        from_status=current.status,
        to_status=to,
        values=values,
        message=message,
    )


def get_alert(conn: Connection, alert_id: int) -> Alert:
    row = conn.execute(sa.select(alert).where(alert.c.id == alert_id)).first()
    if row is None:
        raise NotFound(f"no alert with id {alert_id}")
    return row_to_alert(row)


def alert_events(conn: Connection, alert_id: int) -> list[AlertEvent]:
    rows = conn.execute(
        sa.select(alert_event).where(alert_event.c.alert_id == alert_id).order_by(alert_event.c.id)
    )
    return [row_to_event(r) for r in rows]
