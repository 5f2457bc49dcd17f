"""A responder's override of a component's status for the length of an incident.

Stored as the incident's timeline event (``updates.OVERRIDE_KIND``), with its audit event, in the
caller's transaction: no table of its own, and it ends by itself when the incident resolves
(``updates.publish`` reads it back only while the incident is open). ``status`` None clears it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from opsbook.config import Config
from opsbook.errors import Conflict, InputError
from opsbook.incidents.records import add_event, get_incident
from opsbook.incidents.tables import incident, incident_event
from opsbook.statuspage.build import snapshot_from
from opsbook.statuspage.snapshot import COMPONENT_STATUSES, ComponentStatus
from opsbook.statuspage.updates import OVERRIDE_KIND
from opsbook.types import JSONValue

MAX_MESSAGE_CHARS = 2000


def _effective(conn: Connection, config: Config, component: str, now: datetime) -> str:
    view = snapshot_from(conn, config, now=now).component(component)
    return view.status if view is not None else "operational"


def set_component_status(
    conn: Connection,
    incident_id: int,
    *,
    component: str,
    status: str | None,
    message: str = "",
    config: Config,
    actor: str,
    now: datetime,
    origin: str = "system",
) -> int:
    """Record the override and return its event id.

    Raises ``NotFound`` for an unknown incident, ``Conflict`` for a resolved or merged one, and
    ``InputError`` naming ``component``, ``status`` or ``message``; nothing is written then.
    """
    if component not in config.components:
        known = ", ".join(config.components) or "none are configured"
        raise InputError(
            f"component: no component by that name (known: {known})", field="component"
        )
    checked: ComponentStatus | None = None
    if status is not None:
        for candidate in COMPONENT_STATUSES:
            if candidate == status:
                checked = candidate
        if checked is None:
            raise InputError(
                "status: not a component status (use "
                f"{', '.join(COMPONENT_STATUSES)}, or null to clear the override)",
                field="status",
            )
    text = message.strip()
    if len(text) > MAX_MESSAGE_CHARS:
        raise InputError(
            f"message: at most {MAX_MESSAGE_CHARS} characters (this one has {len(text)})",
            field="message",
        )
    found = get_incident(conn, incident_id)
    if found.merged_into is not None:
        raise Conflict(
            f"incident {incident_id} was merged into incident {found.merged_into}; "
            f"override on incident {found.merged_into} instead"
        )
    if not found.is_open:
        raise Conflict(
            f"incident {incident_id} is resolved; an override lasts only while its incident is open"
        )
    was = _effective(conn, config, component, now)
    detail: dict[str, JSONValue] = {"component": component, "status": checked, "was": was}
    if text:
        detail["message"] = text
    if checked is not None:
        detail["now"] = checked
    event_id = add_event(
        conn,
        incident_id,
        kind=OVERRIDE_KIND,
        actor=actor,
        message=(
            f"component {component} set to {checked}"
            if checked is not None
            else f"component {component} back to its derived status"
        ),
        now=now,
        origin=origin,
        detail=detail,
    )
    if checked is None:
        # What the component shows once the override is gone is known only after it is.
        detail["now"] = _effective(conn, config, component, now)
        conn.execute(
            incident_event.update().where(incident_event.c.id == event_id).values(detail=detail)
        )
    conn.execute(incident.update().where(incident.c.id == incident_id).values(updated_at=now))
    return event_id
