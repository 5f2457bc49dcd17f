"""The transactional outbox: notification rows written in the caller's transaction, then claimed,
sent and marked by a delivery worker (STYLE.md R21).

Every function takes the connection (and its transaction) from the caller. A row is ``pending``
until it is ``delivered`` or ``dead``; a worker claims it by setting ``claimed_until`` (a lease),
so a row claimed by a worker that crashed is claimed again once the lease has passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from opsbook.errors import Conflict, NotFound
from opsbook.notify.tables import notification
from opsbook.store.audit import record_audit
from opsbook.types import JSONValue

State: TypeAlias = Literal["pending", "delivered", "dead"]

# SQLite allows 32766 bound parameters per statement; a row binds 9.
_INSERT_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class NewNotification:
    """What ``enqueue_many`` inserts: one rendered message for one channel."""

    channel: str
    kind: str
    payload: Mapping[str, JSONValue]
    idempotency_key: str
    incident_id: int | None = None
    """The incident a page or incident update is about (its outcome goes on the timeline)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A claimed row, ready to send. ``attempts`` counts this attempt (the first is 1)."""

    id: int
    idempotency_key: str
    channel: str
    kind: str
    payload: Mapping[str, JSONValue]
    attempts: int
    created_at: datetime
    due_at: datetime
    incident_id: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A stored row without its payload, as the dead-letter list shows it."""

    id: int
    idempotency_key: str
    channel: str
    kind: str
    state: State
    created_at: datetime
    due_at: datetime
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    dead_at: datetime | None


def _insert(conn: Connection) -> Any:
    # Both dialects spell "skip duplicates" the same way (INSERT ... ON CONFLICT DO NOTHING).
    if conn.dialect.name == "postgresql":
        return postgresql.insert(notification)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(notification)
    raise NotImplementedError(f"no upsert for the {conn.dialect.name} dialect")


def enqueue(
    conn: Connection,
    *,
    channel: str,
    kind: str,
    payload: Mapping[str, JSONValue],
    idempotency_key: str,
    now: datetime,
) -> int | None:
    """Insert one pending notification, due ``now``; returns its id.

    A row with the same ``idempotency_key`` already stored (in any state) makes this a no-op
    that returns None: the same event never enqueues twice.
    """
    new = NewNotification(
        channel=channel, kind=kind, payload=payload, idempotency_key=idempotency_key
    )
    ids = enqueue_many(conn, [new], now=now)
    return ids[0] if ids else None


def enqueue_many(conn: Connection, items: Sequence[NewNotification], *, now: datetime) -> list[int]:
    """Insert ``items`` in one statement, skipping idempotency keys already stored; returns the
    ids of the rows inserted (in no particular order)."""
    if not items:
        return []
    rows = [
        {
            "idempotency_key": item.idempotency_key,
            "channel": item.channel,
            "kind": item.kind,
            "payload": dict(item.payload),
            "state": "pending",
            "created_at": now,
            "due_at": now,
            "attempts": 0,
            "incident_id": item.incident_id,
        }
        for item in items
    ]
    ids: list[int] = []
    for i in range(0, len(rows), _INSERT_CHUNK):
        stmt = (
            _insert(conn)
            .values(rows[i : i + _INSERT_CHUNK])
            .on_conflict_do_nothing(index_elements=[notification.c.idempotency_key])
            .returning(notification.c.id)
        )
        ids.extend(int(row.id) for row in conn.execute(stmt))
    return ids


def _claimable(now: datetime) -> sa.ColumnElement[bool]:
    t = notification
    return sa.and_(
        t.c.state == "pending",
        t.c.due_at <= now,
        sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until <= now),
    )


def claim_due(conn: Connection, *, now: datetime, limit: int, lease: timedelta) -> list[Pending]:
    """Claim up to ``limit`` due rows, oldest due first, for ``lease``; returns them.

    1. Due rows are pending, with ``due_at`` passed and no live claim (``claimed_until`` empty
       or passed: the worker that claimed it crashed, or was too slow).
    2. ``claimed_until = now + lease`` is set and the attempt counted on those rows, so two
       workers never claim the same row: on PostgreSQL the rows are first selected ``FOR UPDATE
       SKIP LOCKED`` (rows another worker holds are skipped, not waited for); on SQLite one
       ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)`` does it, and SQLite runs one writer at a
       time.
    3. The attempt is counted at the claim, not at the outcome, so a row that crashes its
       worker every time still reaches the attempt limit instead of looping forever.
    """
    t = notification
    due = sa.select(t.c.id).where(_claimable(now)).order_by(t.c.due_at, t.c.id).limit(limit)
    if conn.dialect.name == "postgresql":
        # Lock first, then update: inside an UPDATE's IN (...) PostgreSQL may rescan a
        # LIMIT ... SKIP LOCKED subquery and see other rows each time, claiming past the limit.
        ids = list(conn.scalars(due.with_for_update(skip_locked=True)))
        if not ids:
            return []
        chosen = t.c.id.in_(ids)
    else:
        chosen = t.c.id.in_(due.scalar_subquery())
    stmt = (
        sa.update(t)
        .where(chosen, _claimable(now))
        .values(claimed_until=now + lease, attempts=t.c.attempts + 1)
        .returning(
            t.c.id,
            t.c.idempotency_key,
            t.c.channel,
            t.c.kind,
            t.c.payload,
            t.c.attempts,
            t.c.created_at,
            t.c.due_at,
            t.c.incident_id,
        )
    )
    claimed = [
        Pending(
            id=int(row.id),
            idempotency_key=row.idempotency_key,
            channel=row.channel,
            kind=row.kind,
            payload=row.payload,
            attempts=int(row.attempts),
            created_at=row.created_at,
            due_at=row.due_at,
            incident_id=row.incident_id,
        )
        for row in conn.execute(stmt)
    ]
    # RETURNING gives no order; deliver the oldest first.
    return sorted(claimed, key=lambda p: (p.due_at, p.id))


def mark_delivered(conn: Connection, notification_id: int, *, now: datetime) -> bool:
    """Mark the row delivered; False when it already was (two workers sent it after a lapsed
    lease), so the delivery is recorded once."""
    t = notification
    result = conn.execute(
        sa.update(t)
        .where(t.c.id == notification_id, t.c.state != "delivered")
        .values(state="delivered", delivered_at=now, claimed_until=None, last_error=None)
    )
    return result.rowcount == 1


def mark_retry(conn: Connection, notification_id: int, *, due_at: datetime, error: str) -> None:
    """Release the claim and make the row due again at ``due_at``, keeping ``error``.

    A row another worker has meanwhile delivered (after this worker's lease ran out) stays
    delivered.
    """
    t = notification
    conn.execute(
        sa.update(t)
        .where(t.c.id == notification_id, t.c.state == "pending")
        .values(due_at=due_at, claimed_until=None, last_error=error)
    )


def mark_dead(conn: Connection, notification_id: int, *, reason: str, now: datetime) -> bool:
    """Move the row to dead letters with ``reason``; False when it was not pending any more
    (delivered meanwhile)."""
    t = notification
    result = conn.execute(
        sa.update(t)
        .where(t.c.id == notification_id, t.c.state == "pending")
        .values(state="dead", dead_at=now, claimed_until=None, last_error=reason)
    )
    return result.rowcount == 1


def release(conn: Connection, notification_ids: Sequence[int]) -> None:
    """Drop the claims on ``notification_ids`` without counting their attempts, so another
    worker (or this one after a restart) picks them up now instead of after the lease."""
    if not notification_ids:
        return
    t = notification
    conn.execute(
        sa.update(t)
        .where(t.c.id.in_(notification_ids), t.c.state == "pending")
        .values(claimed_until=None, attempts=sa.case((t.c.attempts > 0, t.c.attempts - 1), else_=0))
    )


def next_due_at(conn: Connection, *, now: datetime) -> datetime | None:
    """When the earliest pending row becomes claimable: its due time, or the end of a live
    claim on it. None when nothing is pending."""
    t = notification
    unclaimed = sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until <= now)
    due = sa.select(sa.func.min(t.c.due_at)).where(t.c.state == "pending", unclaimed)
    leased = sa.select(sa.func.min(t.c.claimed_until)).where(
        t.c.state == "pending", t.c.claimed_until > now
    )
    times = [conn.scalar(due), conn.scalar(leased)]
    return min((at for at in times if at is not None), default=None)


def _row_to_notification(row: sa.Row[Any]) -> Notification:
    return Notification(
        id=int(row.id),
        idempotency_key=row.idempotency_key,
        channel=row.channel,
        kind=row.kind,
        state=row.state,
        created_at=row.created_at,
        due_at=row.due_at,
        attempts=int(row.attempts),
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        dead_at=row.dead_at,
    )


_LISTED = [c for c in notification.c if c.name != "payload"]


def get_notification(conn: Connection, notification_id: int) -> Notification:
    """The row ``notification_id``; raises ``NotFound``."""
    row = conn.execute(
        sa.select(*_LISTED).where(notification.c.id == notification_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no notification {notification_id}", field="id")
    return _row_to_notification(row)


def list_dead_letters(conn: Connection, *, limit: int = 100) -> list[Notification]:
    """Dead notifications, the most recent first."""
    t = notification
    rows = conn.execute(
        sa.select(*_LISTED)
        .where(t.c.state == "dead")
        .order_by(t.c.dead_at.desc(), t.c.id.desc())
        .limit(limit)
    )
    return [_row_to_notification(row) for row in rows]


def requeue(
    conn: Connection, notification_id: int, *, now: datetime, actor: str, origin: str
) -> Notification:
    """Put a dead notification back in the queue, due now, with a fresh attempt count, and audit
    it (``notification.retry`` by ``actor`` from ``origin``); returns it.

    Raises ``NotFound`` for an unknown id and ``Conflict`` for one that is not dead (a pending
    row is already queued; a delivered one must not be sent twice). ``last_error`` is kept until
    the next attempt, so the reason it died stays visible.
    """
    current = get_notification(conn, notification_id)
    if current.state != "dead":
        raise Conflict(
            f"notification {notification_id} is {current.state}; only dead notifications "
            "can be retried"
        )
    t = notification
    conn.execute(
        sa.update(t)
        .where(t.c.id == notification_id, t.c.state == "dead")
        .values(state="pending", due_at=now, claimed_until=None, attempts=0, dead_at=None)
    )
    record_audit(
        conn,
        actor=actor,
        action="notification.retry",
        subject=f"notification:{notification_id}",
        # last_error is stored redacted (webhook.display_url); it says why it had died.
        detail={"channel": current.channel, "last_error": current.last_error},
        origin=origin,
        at=now,
    )
    return get_notification(conn, notification_id)
