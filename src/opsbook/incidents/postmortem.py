"""The postmortem: markdown rendered from the incident's record (its row, the real timeline,
linked alerts and action items) through a Jinja2 template in the sandbox, so a template
from a user's file cannot reach Python internals.

The shipped default (``templates/postmortem.md.j2``) follows the seeds' template: summary,
impact, timeline, root cause, resolution, action items, lessons learned. This module is the one
place that touches Jinja2 for postmortems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from jinja2 import FunctionLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.engine import Connection

from opsbook.alerts.tables import alert
from opsbook.errors import InputError
from opsbook.incidents.actions import list_actions
from opsbook.incidents.models import ActionItem, Incident, IncidentEvent
from opsbook.incidents.records import alert_ids, get_incident, timeline
from opsbook.incidents.service import alert_name

PLACEHOLDER = "_to be written_"
DEFAULT_TEMPLATE = "postmortem.md.j2"


@cache
def shipped_template() -> str:
    path = resources.files("opsbook.incidents") / "templates" / DEFAULT_TEMPLATE
    return path.read_text(encoding="utf-8")


def format_span(delta: timedelta) -> str:
    """``1 hour 5 minutes``, as the seeds' template writes a duration (whole minutes)."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    if minutes or not parts:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


def _clock(at: datetime, *, day: str, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return local.strftime("%H:%M" if local.strftime("%Y-%m-%d") == day else "%Y-%m-%d %H:%M")


def _said(events: Sequence[IncidentEvent], statuses: tuple[str, ...]) -> list[str]:
    """What the status updates moving to ``statuses`` said (the text after ``status: ``)."""
    return [
        e.message.split(": ", 1)[-1]
        for e in events
        if e.kind == "status" and e.detail.get("to") in statuses
    ]


@dataclass(frozen=True)
class _Record:
    incident: Incident
    events: list[IncidentEvent]
    alerts: list[Any]
    actions: list[ActionItem]


def _read(conn: Connection, incident_id: int) -> _Record:
    found = get_incident(conn, incident_id)
    ids = alert_ids(conn, incident_id)
    rows = {r.id: r for r in conn.execute(sa.select(alert).where(alert.c.id.in_(ids)))}
    return _Record(
        incident=found,
        events=timeline(conn, incident_id),
        alerts=[rows[i] for i in ids if i in rows],
        actions=list_actions(conn, open_only=False, incident_id=incident_id),
    )


def _values(record: _Record, *, zone: ZoneInfo, now: datetime) -> dict[str, object]:
    # What a postmortem template may use; docs/incidents.md lists it for template authors.
    found = record.incident
    day = found.declared_at.astimezone(zone).strftime("%Y-%m-%d")
    end = found.resolved_at
    duration = format_span((end or now) - found.declared_at) + ("" if end else " (ongoing)")
    components: list[str] = [found.component] if found.component else []
    for row in record.alerts:
        label = row.labels.get("component")
        if label and label not in components:
            components.append(str(label))
    return {
        "placeholder": PLACEHOLDER,
        "timezone": str(zone),
        "incident": {
            "id": found.id,
            "title": found.title,
            "severity": found.severity,
            "status": found.status.value,
            "summary": found.summary,
            "commander": found.commander,
            "comms": found.comms,
            "declared_by": found.declared_by,
        },
        "date": day,
        "duration": duration,
        "components": components,
        "alerts": [
            {"id": int(r.id), "name": alert_name(r), "severity": r.severity, "status": r.status}
            for r in record.alerts
        ],
        "timeline": [
            {
                "time": _clock(e.at, day=day, zone=zone),
                "kind": e.kind,
                "actor": e.actor,
                "message": e.message,
            }
            for e in record.events
        ],
        "root_cause": "\n\n".join(_said(record.events, ("identified",))),
        "resolution": "\n\n".join(_said(record.events, ("monitoring", "resolved"))),
        "actions": [
            {
                "id": a.id,
                "title": a.title,
                "owner": a.owner,
                "due": a.due.isoformat() if a.due else None,
                "done": a.is_done,
                "overdue": a.is_overdue(now.astimezone(zone).date()),
            }
            for a in record.actions
        ],
    }


def _template_line(tb: TracebackType | None, filename: str) -> int | None:
    # Jinja rewrites a render error's traceback so that template frames carry the template's
    # file name and line (jinja2.debug.rewrite_traceback_stack); the last such frame is where.
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_template(source: str, values: dict[str, object], *, name: str) -> str:
    """``source`` rendered with ``values``. Raises ``InputError`` (field ``template``) saying
    ``name:line: what is wrong`` for a syntax error or a failure while rendering."""
    env = SandboxedEnvironment(
        loader=FunctionLoader(lambda _n: (source, name, lambda: True)),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    try:
        return env.get_template(name).render(**values)
    except TemplateSyntaxError as exc:
        raise InputError(f"{name}:{exc.lineno}: {exc.message or exc}", field="template") from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        line = _template_line(exc.__traceback__, name)
        where = f"{name}:{line}" if line is not None else name
        raise InputError(f"{where}: {type(exc).__name__}: {exc}", field="template") from None


def render_postmortem(
    conn: Connection,
    incident_id: int,
    *,
    zone: ZoneInfo,
    now: datetime,
    template: str | None = None,
    template_name: str = DEFAULT_TEMPLATE,
) -> str:
    """The incident's postmortem in markdown, times in ``zone``. ``template`` is a template's
    source (default: the shipped one) and ``template_name`` how errors name it. Raises
    ``NotFound`` for an unknown incident and ``InputError`` for a broken template."""
    values = _values(_read(conn, incident_id), zone=zone, now=now)
    source = shipped_template() if template is None else template
    return render_template(source, values, name=template_name)
