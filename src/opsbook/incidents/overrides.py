"""On-call overrides added at run time ("cover my shift Saturday 10:00-18:00"): the
``oncall_override`` table, their checks, and the reads that hand them to the schedule maths.

They live here, not in ``oncall``, because ``oncall`` is pure and imports only ``config``
(tests/test_architecture.py); paging (``escalation.py``) is their main reader. Every read is by
schedule and ``end_at`` (the table's one index), so history never gets scanned. Each write
commits with its audit event.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.config import Config
from opsbook.config.oncall import Override
from opsbook.errors import InputError, NotFound
from opsbook.store.audit import record_audit
from opsbook.store.metadata import UTCDateTime, id_type, metadata

LONGEST = timedelta(days=90)
REASON_MAX_CHARS = 500

oncall_override = sa.Table(
    "oncall_override",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("schedule", sa.String(100), nullable=False),
    sa.Column("person", sa.String(100), nullable=False),
    sa.Column("start_at", UTCDateTime(), nullable=False),
    sa.Column("end_at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.String(REASON_MAX_CHARS), nullable=True),
    # "user:ana", "token:ci": who added it (the audit trail says from where).
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # Reads ask for one schedule's overrides that end after a time: current and future ones.
    sa.Index(None, "schedule", "end_at"),
)


@dataclass(frozen=True)
class StoredOverride:
    id: int
    schedule: str
    person: str
    start: datetime
    end: datetime
    reason: str | None
    created_by: str
    created_at: datetime

    def as_override(self) -> Override:
        """The shape the schedule maths takes (``oncall.shifts(..., overrides=...)``)."""
        return Override(person=self.person, start=self.start, end=self.end)


def _row(row: Any) -> StoredOverride:
    return StoredOverride(
        id=int(row.id),
        schedule=row.schedule,
        person=row.person,
        start=row.start_at,
        end=row.end_at,
        reason=row.reason,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def check_override(
    config: Config, *, schedule: str, person: str, start: datetime, end: datetime, now: datetime
) -> None:
    """Raises ``InputError`` naming the field (``schedule``, ``person``, ``end``) when the
    override cannot be stored. Messages never repeat the value given."""
    if schedule not in config.oncall.schedules:
        known = ", ".join(config.oncall.schedules) or "none are configured"
        raise InputError(f"schedule: not a configured schedule (known: {known})", field="schedule")
    if person not in config.oncall.people:
        raise InputError(
            "person: not one of oncall.people; add the person to opsbook.yaml first",
            field="person",
        )
    if not config.oncall.people[person].notify:
        # The config refuses such a person on a paged schedule at load (oncall_problems);
        # an override must not let a page go to nobody either.
        paging = [
            name
            for name, policy in config.oncall.escalation.items()
            if any(f"schedule:{schedule}" in level.notify for level in policy.levels)
        ]
        if paging:
            raise InputError(
                f"person: has no notify channels, and this schedule is paged (escalation "
                f"policy {paging[0]}); add notify: [CHANNEL, ...] to the person first",
                field="person",
            )
    if end <= start:
        raise InputError("end: must be after start", field="end")
    if end <= now:
        raise InputError("end: must be in the future", field="end")
    if end - start > LONGEST:
        raise InputError(
            f"end: an override lasts at most {LONGEST.days} days (add several for longer)",
            field="end",
        )


def add_override(
    conn: Connection,
    config: Config,
    *,
    schedule: str,
    person: str,
    start: datetime,
    end: datetime,
    reason: str | None,
    actor: str,
    origin: str,
    now: datetime,
) -> StoredOverride:
    """Check (``check_override``), store, and audit (``oncall_override.add``) an override in
    ``conn``'s transaction. Raises ``InputError``; nothing is written then."""
    check_override(config, schedule=schedule, person=person, start=start, end=end, now=now)
    if reason is not None and len(reason) > REASON_MAX_CHARS:
        raise InputError(f"reason: at most {REASON_MAX_CHARS} characters", field="reason")
    result = conn.execute(
        oncall_override.insert().values(
            schedule=schedule,
            person=person,
            start_at=start,
            end_at=end,
            reason=reason or None,
            created_by=actor,
            created_at=now,
        )
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new oncall_override id")
    created = get_override(conn, int(key[0]))
    record_audit(
        conn,
        actor=actor,
        action="oncall_override.add",
        subject=f"oncall_override:{created.id}",
        detail={
            "schedule": schedule,
            "person": person,
            "start": created.start.isoformat(),
            "end": created.end.isoformat(),
            "reason": created.reason,
        },
        origin=origin,
        at=now,
    )
    return created


def get_override(conn: Connection, override_id: int) -> StoredOverride:
    """Raises ``NotFound`` (field ``override_id``)."""
    row = conn.execute(
        sa.select(oncall_override).where(oncall_override.c.id == override_id)
    ).first()
    if row is None:
        raise NotFound("override_id: no override with this id", field="override_id")
    return _row(row)


def remove_override(
    conn: Connection, override_id: int, *, actor: str, origin: str, now: datetime
) -> StoredOverride:
    """Delete an override (the schedule goes back to its layers) and audit it
    (``oncall_override.remove``). Raises ``NotFound`` (field ``override_id``)."""
    found = get_override(conn, override_id)
    conn.execute(oncall_override.delete().where(oncall_override.c.id == override_id))
    record_audit(
        conn,
        actor=actor,
        action="oncall_override.remove",
        subject=f"oncall_override:{found.id}",
        detail={
            "schedule": found.schedule,
            "person": found.person,
            "start": found.start.isoformat(),
            "end": found.end.isoformat(),
        },
        origin=origin,
        at=now,
    )
    return found


def list_overrides(
    conn: Connection, *, schedules: Collection[str], after: datetime
) -> list[StoredOverride]:
    """The overrides of ``schedules`` that end after ``after`` (on now or to come when
    ``after`` is now), oldest first: the order in which they stack, a later one above."""
    if not schedules:
        return []
    rows = conn.execute(
        sa.select(oncall_override)
        .where(
            oncall_override.c.schedule.in_(sorted(schedules)),
            oncall_override.c.end_at > after,
        )
        .order_by(oncall_override.c.created_at, oncall_override.c.id)
    )
    return [_row(r) for r in rows]


def overrides_by_schedule(
    conn: Connection, *, schedules: Collection[str], after: datetime
) -> dict[str, list[Override]]:
    """``list_overrides`` grouped by schedule, in the shape ``oncall.shifts`` and ``who`` take
    (every schedule asked for has a list, empty when it has none)."""
    out: dict[str, list[Override]] = {name: [] for name in schedules}
    for item in list_overrides(conn, schedules=schedules, after=after):
        out[item.schedule].append(item.as_override())
    return out


def schedule_overrides(conn: Connection, schedule: str, *, after: datetime) -> Sequence[Override]:
    """One schedule's stored overrides that end after ``after``, for ``oncall.who``."""
    return overrides_by_schedule(conn, schedules=[schedule], after=after)[schedule]
