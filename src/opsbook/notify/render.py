"""Messages for people: an alert notice rendered through a Jinja2 template into a subject and a
body (email) or a title and a body (chat through Apprise).

The shipped templates are package data in ``templates/<name>.{subject,body}.j2``; a channel
overrides them with ``template:`` (a shipped name, or its own ``subject``/``body``, both checked
at load by ``opsbook.config.templates.check_template``). Rendering runs in Jinja2's sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Literal

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from opsbook.alerts.models import Alert, AlertNotice, AlertStatus
from opsbook.config.alerts import MessageTemplate

Part = Literal["subject", "body"]
DEFAULT_TEMPLATE: Mapping[str, str] = {"smtp": "email", "apprise": "chat"}


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as a template sees it (``{% for a in alerts %}{{ a.name }}``)."""

    name: str
    status: Literal["FIRING", "RESOLVED"]
    severity: str
    summary: str
    values: Mapping[str, object]
    values_text: str
    runbook: str
    link: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    started_at: str
    ended_at: str


def format_time(at: datetime) -> str:
    """``2026-11-22 13:09:10 UTC``: what templates show for a time."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def variables(notice: AlertNotice, *, severities: Sequence[str] = ()) -> dict[str, object]:
    """What a message template may use (``MESSAGE_VARIABLES``), for ``notice``.

    ``severity`` is the most severe of the alerts' severities, in the order of ``severities``
    (the config's ``severities`` keys, most severe first).
    """
    external_url = (notice.external_url or "").rstrip("/")
    views = [_view(a, external_url=external_url) for a in notice.alerts]
    names = list(dict.fromkeys(v.name for v in views))
    rank = {name: i for i, name in enumerate(severities)}
    known = sorted({v.severity for v in views if v.severity}, key=lambda s: rank.get(s, len(rank)))
    return {
        "status": notice.status.upper(),
        "severity": known[0] if known else "",
        "names": ", ".join(names),
        "alerts": views,
        "channel": notice.receiver,
        "reason": notice.reason,
        "group": dict(notice.group_labels),
        "external_url": external_url,
        "at": format_time(notice.at),
    }


def _view(alert: Alert, *, external_url: str) -> AlertView:
    is_resolved = alert.status in {AlertStatus.RESOLVED, AlertStatus.INACTIVE}
    ended_at = alert.resolved_at or alert.ends_at or alert.updated_at
    return AlertView(
        name=alert.labels.get("alertname") or alert.rule or "",
        status="RESOLVED" if is_resolved else "FIRING",
        severity=alert.severity or alert.labels.get("severity", ""),
        summary=alert.annotations.get("summary", ""),
        values=dict(alert.values),
        values_text=", ".join(f"{k}={v}" for k, v in alert.values.items()),
        runbook=alert.annotations.get("runbook", ""),
        # The same link as the webhook's generatorURL.
        link=f"{external_url}/alerts/{alert.id}" if external_url else "",
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        started_at=format_time(alert.fired_at or alert.started_at),
        ended_at=format_time(ended_at) if is_resolved else "",
    )


@cache
def _environment() -> SandboxedEnvironment:
    # Plain text, never HTML: no autoescape. trim_blocks/lstrip_blocks let a {% for %} sit on
    # its own line without leaving blank lines in the message.
    return SandboxedEnvironment(autoescape=False, trim_blocks=True, lstrip_blocks=True)


@cache
def shipped(name: str, part: Part) -> str:
    """The source of a shipped template part. Raises ``FileNotFoundError`` for an unknown name."""
    path = resources.files("opsbook.notify") / "templates" / f"{name}.{part}.j2"
    return path.read_text(encoding="utf-8")


def sources(kind: str, template: str | MessageTemplate | None) -> dict[Part, str]:
    """The subject and body templates of a channel of ``kind`` (``smtp`` or ``apprise``)."""
    default = DEFAULT_TEMPLATE[kind]
    if isinstance(template, str):
        return {"subject": shipped(template, "subject"), "body": shipped(template, "body")}
    own = template or MessageTemplate()
    return {
        "subject": own.subject if own.subject is not None else shipped(default, "subject"),
        "body": own.body if own.body is not None else shipped(default, "body"),
    }


def render(templates: Mapping[Part, str], values: Mapping[str, object]) -> Message:
    """Render ``templates`` with ``values``. The subject is made one line (it becomes a mail
    header or a chat title); the body loses trailing blank lines.

    Raises ``ValueError`` saying which part failed and why (a failure while rendering, such as
    a division by zero or a sandbox refusal).
    """
    out: dict[Part, str] = {}
    for part, text in templates.items():
        try:
            out[part] = _environment().from_string(text).render(**values)
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise ValueError(f"the {part} template failed: {type(exc).__name__}: {exc}") from exc
    subject = re.sub(r"\s+", " ", out["subject"]).strip()
    return Message(subject=subject, body=out["body"].rstrip() + "\n")
