"""Action items: a postmortem's follow-ups, each with an owner, an optional due day and a done
time. Adding and completing one writes a timeline event on its incident and the audit trail in
the caller's transaction (``records.add_event``), like every other incident change.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.errors import Conflict, InputError, NotFound
from opsbook.incidents.models import ActionItem
from opsbook.incidents.records import add_event, get_incident
from opsbook.incidents.tables import action_item

MAX_TITLE_CHARS = 300
MAX_OWNER_CHARS = 200


def _row_to_action(row: Any) -> ActionItem:
    return ActionItem(
        id=int(row.id),
        incident_id=int(row.incident_id),
        title=row.title,
        owner=row.owner,
        due=row.due,
        done_at=row.done_at,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _text(value: str, *, field: str, what: str, limit: int) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InputError(f"{field}: {what}", field=field)
    if len(cleaned) > limit:
        raise InputError(
            f"{field}: at most {limit} characters (this one has {len(cleaned)})", field=field
        )
    return cleaned


def get_action(conn: Connection, action_id: int) -> ActionItem:
    row = conn.execute(sa.select(action_item).where(action_item.c.id == action_id)).first()
    if row is None:
        raise NotFound(f"no action item with id {action_id}", field="action_id")
    return _row_to_action(row)


def add_action(
    conn: Connection,
    incident_id: int,
    *,
    title: str,
    owner: str,
    due: date | None,
    actor: str,
    now: datetime,
    origin: str = "system",
) -> ActionItem:
    """Add an action item to the incident (open or resolved: postmortems follow resolution).

    Raises ``NotFound`` for an unknown incident and ``InputError`` naming ``title`` or
    ``owner``; writes nothing then (caller's rollback)."""
    title = _text(title, field="title", what="say what is to be done", limit=MAX_TITLE_CHARS)
    owner = _text(owner, field="owner", what="name who owns it", limit=MAX_OWNER_CHARS)
    get_incident(conn, incident_id)
    result = conn.execute(
        action_item.insert().values(
            incident_id=incident_id,
            title=title,
            owner=owner,
            due=due,
            created_at=now,
            created_by=actor,
        )
    )
    key = result.inserted_primary_key
    if key is None or key[0] is None:  # pragma: no cover - both backends return the id
        raise RuntimeError("the store did not return the new action item id")
    action_id = int(key[0])
    add_event(
        conn,
        incident_id,
        kind="action_added",
        actor=actor,
        message=f"action item {action_id} for {owner}: {title}"
        + (f" (due {due.isoformat()})" if due else ""),
        now=now,
        origin=origin,
        detail={
            "action_id": action_id,
            "owner": owner,
            "due": due.isoformat() if due else None,
        },
    )
    return get_action(conn, action_id)


def complete_action(
    conn: Connection, action_id: int, *, actor: str, now: datetime, origin: str = "system"
) -> ActionItem:
    """Mark the action item done. ``NotFound`` for an unknown id, ``Conflict`` if already done."""
    found = get_action(conn, action_id)
    if found.done_at is not None:
        raise Conflict(f"action item {action_id} was already done at {found.done_at.isoformat()}")
    conn.execute(action_item.update().where(action_item.c.id == action_id).values(done_at=now))
    add_event(
        conn,
        found.incident_id,
        kind="action_done",
        actor=actor,
        message=f"action item {action_id} done: {found.title}",
        now=now,
        origin=origin,
        detail={"action_id": action_id},
    )
    return get_action(conn, action_id)


def list_actions(
    conn: Connection,
    *,
    open_only: bool = True,
    owner: str | None = None,
    incident_id: int | None = None,
) -> list[ActionItem]:
    """Action items, soonest due first (those without a due day last), then in creation order."""
    query = sa.select(action_item)
    if open_only:
        query = query.where(action_item.c.done_at.is_(None))
    if owner is not None:
        query = query.where(action_item.c.owner == owner.strip())
    if incident_id is not None:
        query = query.where(action_item.c.incident_id == incident_id)
    query = query.order_by(action_item.c.due.is_(None), action_item.c.due, action_item.c.id)
    return [_row_to_action(row) for row in conn.execute(query)]
