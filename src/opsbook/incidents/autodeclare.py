"""Incidents from firing alerts, by the severity policy, grouped so one outage is one incident.

Pure SQL over the alerts domain's tables: the incident side never calls the alert engine, it
reads what the engine stored (DESIGN.md: an incident knows alerts only by id and labels).

A firing alert that is in no incident and whose severity pages (``severities.<name>.page``):

1. joins the incident of its dependency root, if it is suppressed by an alert in an open
   incident (or one declared for that root), else
2. joins the newest open incident of the same component (the ``component`` label, or the
   component that lists its check), else
3. joins the newest open incident declared within ``incidents.group_within`` before the alert
   fired (one outage taking several components down at once), else
4. declares a new incident titled from its ``summary`` annotation.

Linked alerts' later firing and resolving are put on their incident's timeline.

Each alert is handled in its own savepoint: one that cannot be (a malformed row written around
ingest) is rolled back alone, marked failed on its timeline, counted in ``TaskFailures``, and
the rest of the pass commits. Text read from the alert is repaired (``textsafe.repair``) before
it is written into an incident, so a lone surrogate shows as U+FFFD instead of failing the write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from opsbook.alerts.failures import mark_failed
from opsbook.alerts.tables import alert
from opsbook.config import Config
from opsbook.incidents.records import add_event
from opsbook.incidents.service import alert_name, declare, link_alert
from opsbook.incidents.tables import incident, incident_alert
from opsbook.tasks import TaskFailures, describe_error
from opsbook.textsafe import repair

log = structlog.get_logger(__name__)

TASK = "incidents"
ACTOR = "system:incidents"
ORIGIN = "runner"


def component_of(row: Any, config: Config) -> str | None:
    label = row.labels.get("component")
    if label:
        return repair(str(label))
    if row.check_id is None:
        return None
    return next((c for c, spec in config.components.items() if row.check_id in spec.checks), None)


def _open_incidents() -> sa.Select[Any]:
    return sa.select(incident.c.id).where(
        incident.c.status != "resolved", incident.c.merged_into.is_(None)
    )


def _root_incident(conn: Connection, root_alert_id: int) -> int | None:
    linked = sa.select(incident_alert.c.incident_id).where(
        incident_alert.c.alert_id == root_alert_id
    )
    query = _open_incidents().where(
        sa.or_(incident.c.id.in_(linked), incident.c.root_alert_id == root_alert_id)
    )
    return conn.execute(query.order_by(incident.c.id.desc()).limit(1)).scalar()


def _component_incident(conn: Connection, component: str) -> int | None:
    query = _open_incidents().where(incident.c.component == component)
    return conn.execute(query.order_by(incident.c.id.desc()).limit(1)).scalar()


def _recent_incident(conn: Connection, since: datetime) -> int | None:
    query = _open_incidents().where(incident.c.declared_at >= since)
    return conn.execute(query.order_by(incident.c.id.desc()).limit(1)).scalar()


def _title(row: Any) -> str:
    summary = repair(str(row.annotations.get("summary") or "")).strip()
    return (summary or f"{alert_name(row)} firing")[:300]


def _isolated(
    conn: Connection,
    row: Any,
    work: Callable[[], None],
    *,
    failures: TaskFailures | None,
    now: datetime,
) -> None:
    """``work()`` for one alert in a savepoint; on failure roll it back, mark the alert."""
    try:
        with conn.begin_nested():
            work()
    except Exception as exc:
        # Per-item isolation (R13's supervisor exception, one level down): one alert's failure
        # must not hold back every other alert's incident and page.
        reason = describe_error(exc)
        log.warning("incident_alert_failed", alert_id=int(row.id), error=reason)
        if failures is not None:
            failures.item_failed(TASK)
        with conn.begin_nested():
            mark_failed(conn, alert_id=int(row.id), task=TASK, reason=reason, now=now)


def _record_changes(
    conn: Connection, *, now: datetime, failures: TaskFailures | None = None
) -> None:
    """Timeline events for linked alerts whose status moved since the last pass."""
    linked = sa.select(alert, incident_alert.c.incident_id, incident_alert.c.alert_status).join(
        incident_alert, incident_alert.c.alert_id == alert.c.id
    )
    # Index lookups of a few rows each, where "status differs" read every link: alerts firing
    # now that the timeline did not see fire, and the links not yet "resolved" (taken first:
    # joined, SQLite would read every resolved alert) whose alert has resolved.
    fired = linked.where(alert.c.status == "firing", incident_alert.c.alert_status != "firing")
    unresolved = sa.select(incident_alert.c.alert_id).where(
        incident_alert.c.alert_status.in_(("pending", "firing", "inactive"))
    )
    ids = list(conn.scalars(unresolved))
    rows = list(conn.execute(fired))
    if ids:
        rows += conn.execute(linked.where(alert.c.id.in_(ids), alert.c.status == "resolved")).all()
    rows.sort(key=lambda row: row.id)
    for row in rows:
        _isolated(
            conn,
            row,
            lambda row=row: _record_change(conn, row, now=now),  # type: ignore[misc]
            failures=failures,
            now=now,
        )


def _record_change(conn: Connection, row: Any, *, now: datetime) -> None:
    at = row.resolved_at if row.status == "resolved" else row.fired_at
    add_event(
        conn,
        int(row.incident_id),
        kind=f"alert_{row.status}",
        actor=ACTOR,
        message=f"alert {alert_name(row)} {row.status}",
        now=now,
        origin=ORIGIN,
        at=min(at or now, now),
        detail={"alert_id": int(row.id), "severity": row.severity},
    )
    conn.execute(
        incident_alert.update()
        .where(incident_alert.c.alert_id == row.id)
        .values(alert_status=row.status)
    )


def sync_alerts(
    conn: Connection, *, config: Config, now: datetime, failures: TaskFailures | None = None
) -> list[int]:
    """One pass: link paging firing alerts into incidents and record linked alerts' changes.

    Returns the ids of the incidents declared by this pass. Alerts are taken roots first
    (unsuppressed before suppressed, then by id) so a dependent finds its root's incident.
    """
    _record_changes(conn, now=now, failures=failures)
    paging = sorted(name for name, sev in config.severities.items() if sev.page)
    # NOT EXISTS, not NOT IN: PostgreSQL reads all of incident_alert for a NOT IN subquery,
    # and looks up each firing alert's link by index for NOT EXISTS.
    linked = sa.exists().where(incident_alert.c.alert_id == alert.c.id)
    rows = conn.execute(
        sa.select(alert)
        .where(
            alert.c.status == "firing",
            alert.c.severity.in_(paging),
            ~linked,
        )
        .order_by(alert.c.suppressed_by.is_not(None), alert.c.id)
    ).all()
    declared: list[int] = []
    for row in rows:
        _isolated(
            conn,
            row,
            lambda row=row: _link_or_declare(conn, row, config=config, now=now, declared=declared),  # type: ignore[misc]
            failures=failures,
            now=now,
        )
    return declared


def _link_or_declare(
    conn: Connection, row: Any, *, config: Config, now: datetime, declared: list[int]
) -> None:
    component = component_of(row, config)
    target = None
    if row.suppressed_by is not None:
        target = _root_incident(conn, int(row.suppressed_by))
    if target is None and component is not None:
        target = _component_incident(conn, component)
    window = config.incidents.group_within
    if target is None and window:
        target = _recent_incident(conn, (row.fired_at or now) - window)
    if target is not None:
        link_alert(conn, target, row, actor=ACTOR, now=now, origin=ORIGIN)
        return
    created = declare(
        conn,
        title=_title(row),
        severity=row.severity,
        actor=ACTOR,
        now=now,
        summary=repair(str(row.annotations.get("description") or "")),
        alert_ids=[int(row.id)],
        origin=ORIGIN,
        component=component,
        root_alert_id=int(row.suppressed_by or row.id),
    )
    declared.append(created.id)
