"""Per-incident isolation for the incidents task's loops over incidents (reactions, escalation
timers, ``escalate_after``): one incident that cannot be handled (a row written by a later
version or straight into the store, a bug) is rolled back alone, and every other incident is
still escalated and told of.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from opsbook.incidents.models import EmitIncident, IncidentNotice
from opsbook.incidents.records import add_event
from opsbook.incidents.tables import incident_event
from opsbook.tasks import TaskFailures, describe_error

log = structlog.get_logger(__name__)

TASK = "incidents"
ACTOR = "system:incidents"
ORIGIN = "runner"
FAILED = "failed"

Item = TypeVar("Item")


def handle_each(
    conn: Connection,
    items: Sequence[Item],
    handle: Callable[[Item], Sequence[IncidentNotice]],
    *,
    incident_of: Callable[[Item], int],
    emit: EmitIncident,
    stage: str,
    now: datetime,
    failures: TaskFailures | None,
) -> int:
    """``handle`` each item and ``emit`` the notices it returns; returns how many were queued.

    1. Every item, then one ``emit``, in one savepoint: the usual pass writes its notices in
       one statement (DESIGN.md: notifications are batched).
    2. If that raises, it is rolled back and each item is handled again in its own savepoint
       with its own ``emit``. One that raises is rolled back alone (its pages and timeline
       events with it, so the next pass retries it), logged as ``incident_item_failed`` with
       its incident and ``stage``, counted in ``failures`` under ``incidents``, and given a
       ``failed`` event on its incident's timeline once per distinct reason. The rest commit.

    ``incident_of`` must not read what ``handle`` may trip on (take the raw id column).
    """
    if not items:
        return 0
    try:
        with conn.begin_nested():
            notices = [notice for item in items for notice in handle(item)]
            if notices:
                emit(conn, notices)
    except Exception:
        # Found again, and reported, by the item that raises it.
        return _each_alone(
            conn,
            items,
            handle,
            incident_of=incident_of,
            emit=emit,
            stage=stage,
            now=now,
            failures=failures,
        )
    return len(notices)


def _each_alone(
    conn: Connection,
    items: Sequence[Item],
    handle: Callable[[Item], Sequence[IncidentNotice]],
    *,
    incident_of: Callable[[Item], int],
    emit: EmitIncident,
    stage: str,
    now: datetime,
    failures: TaskFailures | None,
) -> int:
    queued = 0
    for item in items:
        try:
            with conn.begin_nested():
                notices = list(handle(item))
                if notices:
                    emit(conn, notices)
        except Exception as exc:
            # Per-item isolation (R13's supervisor exception, one level down): one incident's
            # failure must not hold back every other incident's pages on every pass.
            _failed(conn, incident_of(item), exc, stage=stage, now=now, failures=failures)
            continue
        queued += len(notices)
    return queued


def _failed(
    conn: Connection,
    incident_id: int,
    exc: Exception,
    *,
    stage: str,
    now: datetime,
    failures: TaskFailures | None,
) -> None:
    reason = describe_error(exc)
    log.warning("incident_item_failed", incident_id=incident_id, stage=stage, error=reason)
    if failures is not None:
        failures.item_failed(TASK)
    # Not guarded: when even this insert fails, the store is at fault rather than the item,
    # and the whole pass failing is the right signal (the runner counts it, /ready shows it).
    with conn.begin_nested():
        mark_failed(conn, incident_id, stage=stage, reason=reason, now=now)


def mark_failed(
    conn: Connection, incident_id: int, *, stage: str, reason: str, now: datetime
) -> None:
    """Put ``"<stage>: <reason>"`` on the incident's timeline (kind ``failed``, already handled)
    unless its last failure says so: a poisoned incident fails every pass, and says it once."""
    message = f"{stage}: {reason}"
    last = conn.execute(
        sa.select(incident_event.c.message)
        .where(incident_event.c.incident_id == incident_id, incident_event.c.kind == FAILED)
        .order_by(incident_event.c.id.desc())
        .limit(1)
    ).scalar()
    if last == message:
        return
    add_event(
        conn,
        incident_id,
        kind=FAILED,
        actor=ACTOR,
        message=message,
        now=now,
        origin=ORIGIN,
        detail={"task": TASK, "stage": stage},
        handled=True,
    )
