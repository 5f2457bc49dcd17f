"""Messages about incidents: an ``IncidentNotice`` as template variables (``INCIDENT_VARIABLES``)
and rendered through the shipped or a channel's own incident template.

Pure: no store access. The emitter passes the incident's latest status update in (``latest``)
when the notice's own event is not one, so ``update`` always says what was last posted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from opsbook.config import Config
from opsbook.config.alerts import IncidentMessageTemplate
from opsbook.config.templates import SHIPPED_INCIDENT_MESSAGES
from opsbook.config.units import format_duration
from opsbook.errors import InputError
from opsbook.incidents.models import (
    UPDATE_FIELDS,
    IncidentEvent,
    IncidentNotice,
    IncidentStatus,
    LinkedAlert,
    Recipient,
)
from opsbook.notify.render import Message, Part, format_time, render, shipped

log = structlog.get_logger(__name__)

ACK_ACTION = "ack"
"""The ``action`` of a page's signed acknowledge link (``opsbook.accounts.links``)."""

PAGE_TEMPLATE = "page"
EMAIL_TEMPLATE = "incident-email"
CHAT_TEMPLATE = "incident-chat"


@dataclass(frozen=True, slots=True)
class IncidentView:
    """The incident as a template sees it: times formatted, status as a word."""

    id: int
    title: str
    severity: str
    status: str
    summary: str
    component: str
    """The component's configured name (``components.<id>.name``: "Website"), "" when none."""
    component_id: str
    declared_at: str
    acknowledged_at: str
    resolved_at: str
    duration: str
    commander: str
    comms: str
    link: str
    respond_within: str
    impact: str
    description: str


@dataclass(frozen=True, slots=True)
class EventView:
    kind: str
    message: str
    actor: str
    at: str


@dataclass(frozen=True, slots=True)
class UpdateView:
    """The status update a message is about; every part is "" when not given."""

    message: str
    impact: str
    eta: str
    workaround: str
    next_update: str
    root_cause: str
    fix: str


@dataclass(frozen=True, slots=True)
class LevelView:
    number: int
    round: int
    via: str


def format_span(span: timedelta) -> str:
    """``1h 5m``, ``2d 3h``, ``45s``: how long, to the minute, as people read it."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts)


def external_url(config: Config) -> str:
    return (config.server.public_url or "").rstrip("/")


def incident_link(config: Config, incident_id: int) -> str:
    """``{public_url}/incidents/{id}``, or "" without a public URL."""
    base = external_url(config)
    return f"{base}/incidents/{incident_id}" if base else ""


def ack_link(config: Config, incident_id: int) -> str:
    """The API endpoint acknowledging the incident (POST), or "" without a public URL."""
    base = external_url(config)
    return f"{base}/api/v1/incidents/{incident_id}/ack" if base else ""


def signed_ack_link(config: Config, token: str) -> str:
    """``{public_url}/ack/{token}``, the page's one-click acknowledge link (web/ack.py), or ""
    without a public URL."""
    base = external_url(config)
    return f"{base}/ack/{token}" if base else ""


def update_fields(event: IncidentEvent | None) -> dict[str, str]:
    """The ``UPDATE_FIELDS`` a status event was given (``detail["fields"]``), non-empty only."""
    if event is None:
        return {}
    fields = event.detail.get("fields")
    if not isinstance(fields, Mapping):
        return {}
    return {
        name: str(fields[name]).strip()
        for name in UPDATE_FIELDS
        if fields.get(name) not in (None, "")
    }


def update_message(event: IncidentEvent) -> str:
    """The update's text: ``service.update`` stores ``"identified: <text>"``; the status is
    shown by the templates already, so the prefix is dropped."""
    status = event.detail.get("to")
    prefix = f"{status}: " if isinstance(status, str) else ""
    if prefix and event.message.startswith(prefix):
        return event.message[len(prefix) :]
    return event.message


def is_update(event: IncidentEvent | None) -> bool:
    return event is not None and event.kind == "status"


def _incident(config: Config, notice: IncidentNotice, *, now: datetime) -> IncidentView:
    incident = notice.incident
    severity = config.severities.get(incident.severity)
    end = incident.resolved_at or now
    return IncidentView(
        id=incident.id,
        title=incident.title,
        severity=incident.severity,
        status=_status_word(incident.status),
        summary=incident.summary,
        component=component_name(config, incident.component),
        component_id=incident.component or "",
        declared_at=format_time(incident.declared_at),
        acknowledged_at=_time(incident.acknowledged_at),
        resolved_at=_time(incident.resolved_at),
        duration=format_span(end - incident.declared_at),
        commander=incident.commander or "",
        comms=incident.comms or "",
        link=incident_link(config, incident.id),
        respond_within=format_duration(severity.respond_within) if severity else "",
        impact=severity.status_impact.replace("_", " ") if severity else "",
        description=severity.description if severity else "",
    )


def component_name(config: Config, component: str | None) -> str:
    """What people call the component: its configured ``name``, else its id (a component
    since removed from the config), else ""."""
    if not component:
        return ""
    configured = config.components.get(component)
    return configured.name if configured is not None else component


def _status_word(status: IncidentStatus) -> str:
    return status.value.capitalize()


def _time(at: datetime | None) -> str:
    return format_time(at) if at is not None else ""


def _update(notice: IncidentNotice, latest: IncidentEvent | None) -> UpdateView:
    event = notice.event if is_update(notice.event) else latest
    fields = update_fields(event)
    return UpdateView(
        message=update_message(event) if event is not None else "",
        **{name: fields.get(name, "") for name in UPDATE_FIELDS},
    )


def _event(event: IncidentEvent | None) -> EventView | None:
    if event is None:
        return None
    return EventView(
        kind=event.kind, message=event.message, actor=event.actor, at=format_time(event.at)
    )


def variables(
    config: Config,
    notice: IncidentNotice,
    *,
    now: datetime,
    latest: IncidentEvent | None = None,
    ack_link: str = "",
    diagnosis: str = "",
) -> dict[str, object]:
    """What an incident template may use (``INCIDENT_VARIABLES``; see docs/notifications.md).

    ``latest`` is the incident's latest status event, the ``update`` shown when the notice's
    own event is not a status update; ``now`` ends an open incident's ``duration``;
    ``ack_link`` is the page's signed acknowledge link ("" when it has none); ``diagnosis``
    the short form of the incident's auto-diagnosis ("" when none finished yet).
    """
    page = notice.page
    person: Recipient | None = notice.person
    alerts: list[LinkedAlert] = list(notice.alerts)
    return {
        "kind": notice.kind,
        "incident": _incident(config, notice, now=now),
        "event": _event(notice.event),
        "update": _update(notice, latest),
        "person": person,
        "level": LevelView(number=page.level, round=page.round, via=page.via) if page else None,
        "alerts": alerts,
        "channel": notice.channel,
        "external_url": external_url(config),
        "at": format_time(notice.at or now),
        "ack_link": ack_link,
        "diagnosis": diagnosis,
    }


def default_template(kind: str, channel_kind: str | None) -> str:
    """The shipped template a channel uses unless it names its own: ``page`` for pages,
    ``incident-chat`` for Apprise updates, ``incident-email`` for the rest."""
    if kind == "page":
        return PAGE_TEMPLATE
    return CHAT_TEMPLATE if channel_kind == "apprise" else EMAIL_TEMPLATE


def shipped_sources(name: str) -> dict[Part, str]:
    return {"subject": shipped(name, "subject"), "body": shipped(name, "body")}


def sources(template: str | IncidentMessageTemplate | None, *, default: str) -> dict[Part, str]:
    """The subject and body templates: a shipped name, a channel's own parts (a part left out
    is ``default``'s), or ``default``."""
    if isinstance(template, str):
        return shipped_sources(template)
    fallback = shipped_sources(default)
    own = template or IncidentMessageTemplate()
    return {
        "subject": own.subject if own.subject is not None else fallback["subject"],
        "body": own.body if own.body is not None else fallback["body"],
    }


def render_incident(
    config: Config,
    notice: IncidentNotice,
    template: str | None = None,
    *,
    now: datetime,
    latest: IncidentEvent | None = None,
    ack_link: str = "",
    diagnosis: str = "",
) -> Message:
    """The subject and body of ``notice`` for its channel.

    ``template`` names a shipped incident template to use instead of the channel's (the CLI
    drafts an ``affected-users`` email with it). Otherwise the channel's ``page_template`` or
    ``incident_template`` is used, else the default for the channel's kind. A channel's own
    template that fails while rendering is logged and replaced by the shipped default: a
    broken template must not lose the page. ``now`` ends an open incident's duration;
    ``ack_link`` is the page's signed acknowledge link. Raises ``InputError`` for a
    ``template`` opsbook does not ship.
    """
    values = variables(
        config, notice, now=now, latest=latest, ack_link=ack_link, diagnosis=diagnosis
    )
    channel = config.channels.get(notice.channel)
    default = default_template(notice.kind, channel.kind if channel else None)
    if template is not None:
        if template not in SHIPPED_INCIDENT_MESSAGES:
            known = ", ".join(SHIPPED_INCIDENT_MESSAGES)
            raise InputError(
                f"template: {template!r} is not a shipped incident template (use {known})",
                field="template",
            )
        return render(shipped_sources(template), values)
    own = None
    if channel is not None:
        own = channel.page_template if notice.kind == "page" else channel.incident_template
    try:
        return render(sources(own, default=default), values)
    except ValueError as exc:
        log.warning(
            "incident_template_failed", channel=notice.channel, key=notice.key, error=str(exc)
        )
        return render(shipped_sources(default), values)
