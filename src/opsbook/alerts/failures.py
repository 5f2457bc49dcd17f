"""Marking an alert a background task could not handle: a ``failed`` event on its timeline,
which the API (``GET /api/v1/alerts/{id}``) and ``opsbook alerts show`` list with the reason.

Written in its own savepoint after the failed item's work was rolled back, so the rest of the
pass commits. A task that fails on the same alert every pass writes the reason once.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.alerts.records import add_event
from opsbook.alerts.tables import alert_event

FAILED = "failed"


def mark_failed(conn: Connection, *, alert_id: int, task: str, reason: str, now: datetime) -> None:
    """Put ``"<task>: <reason>"`` on the alert's timeline unless its last failure says so."""
    message = f"{task}: {reason}"
    last = conn.execute(
        sa.select(alert_event.c.message)
        .where(alert_event.c.alert_id == alert_id, alert_event.c.kind == FAILED)
        .order_by(alert_event.c.id.desc())
        .limit(1)
    ).scalar()
    if last != message:
        add_event(conn, alert_id=alert_id, at=now, kind=FAILED, message=message)
