"""The timeline side of delivering a page or an incident update: its outcome becomes an incident
event (``page_delivered``, ``page_failed``, ``notification_delivered``,
``notification_failed``), written in the transaction that records the outcome in the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.engine import Connection

from opsbook.incidents.records import add_event
from opsbook.notify.outbox import Pending
from opsbook.types import JSONValue

ACTOR = "system:notify"
ORIGIN = "notify"
_EVENT_PREFIX = {"page": "page", "incident": "notification"}


def record_outcome(conn: Connection, item: Pending, *, error: str | None, now: datetime) -> None:
    """Add the outcome of ``item`` to its incident's timeline: delivered when ``error`` is None,
    else failed (dead) with ``error``. A row without ``incident_id`` (an alert) adds nothing."""
    if item.incident_id is None:
        return
    person = _person(item.payload)
    detail: dict[str, JSONValue] = {
        "notification_id": item.id,
        "channel": item.channel,
        "person": person[0] if person else None,
        "attempts": item.attempts,
    }
    if error is None:
        kind = "delivered"
        message = f"{_what(item, person)} delivered (attempt {item.attempts})"
    else:
        kind = "failed"
        message = f"{_what(item, person)} failed: {error}"
        detail["error"] = error
    add_event(
        conn,
        item.incident_id,
        kind=f"{_EVENT_PREFIX.get(item.kind, 'notification')}_{kind}",
        actor=ACTOR,
        message=message,
        now=now,
        origin=ORIGIN,
        detail=detail,
    )


def _what(item: Pending, person: tuple[str, str] | None) -> str:
    """``page to Ana via pager`` / ``incident update via slack``."""
    what = "page" if item.kind == "page" else "incident update"
    to = f" to {person[1]}" if person else ""
    return f"{what}{to} via {item.channel}"


def _person(payload: Mapping[str, JSONValue]) -> tuple[str, str] | None:
    # IncidentEmitter stores ``person`` ({id, name, ...} or null) in every incident payload.
    found = payload.get("person")
    if not isinstance(found, Mapping):
        return None
    person_id, name = found.get("id"), found.get("name")
    if not isinstance(person_id, str):
        return None
    return person_id, name if isinstance(name, str) and name else person_id
