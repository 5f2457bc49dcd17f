"""The message that asks for an approval: one outbox row per channel, written in the same
transaction as the request (``approvals.request_approval``), so a request that commits is
announced and one that rolls back is not (STYLE.md R21).

Which channels: ``runbooks.approvals.channels`` when set; else, for a run for an incident, the
channels that incident was paged on (its escalation's), then its severity's ``notify``; else
none, and the caller records why. The message names who asks, the step (id, kind, risk, the
first 12 hex digits of its digest), the parameters as stored (secret ones ``***``), the expiry
and where to approve; the config's secrets are masked in all of it once more.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.config import Config
from opsbook.config.alerts import Channel
from opsbook.notify import outbox
from opsbook.notify.apprise import apprise_payload
from opsbook.notify.smtp import email_payload
from opsbook.notify.tables import notification
from opsbook.redaction import mask_values, secret_values
from opsbook.runbooks.runs import incident_severity
from opsbook.types import JSONValue

KIND = "runbook_approval"
VERSION = "1"
DIGEST_CHARS = 12


@dataclass(frozen=True)
class ApprovalRequest:
    """What the message says; ``params`` as stored (secret values already ``***``)."""

    approval_id: int
    run_id: int
    runbook: str
    step_id: str
    kind: str
    risk: str
    step_digest: str
    params: Mapping[str, str | None]
    requested_by: str
    expires_at: datetime
    incident_id: int | None


def approval_channels(
    conn: Connection, config: Config, *, incident_id: int | None
) -> tuple[list[str], str]:
    """The channels to tell, and a note saying why none when the list is empty."""
    configured = list(config.runbooks.approvals.channels)
    if configured:
        return configured, ""
    if incident_id is None:
        return [], (
            "no channel told: the run is for no incident and runbooks.approvals.channels is not set"
        )
    paged = conn.execute(
        sa.select(notification.c.channel)
        .where(notification.c.incident_id == incident_id, notification.c.kind == "page")
        .distinct()
    ).scalars()
    found = sorted(str(c) for c in paged)
    severity = incident_severity(conn, incident_id)
    policy = config.severities.get(severity) if severity is not None else None
    if policy is not None:
        found += [c for c in policy.notify if c not in found]
    found = [c for c in found if c in config.channels]
    if not found:
        return [], (
            f"no channel told: incident {incident_id} was paged on none and its severity "
            "notifies none; set runbooks.approvals.channels"
        )
    return found, ""


def enqueue_approval_notice(
    conn: Connection, config: Config, request: ApprovalRequest, *, now: datetime
) -> tuple[list[str], str]:
    """Queue the message to each channel (``approval_channels``); returns the channels and
    the note when there are none. Idempotent per approval and channel."""
    channels, note = approval_channels(conn, config, incident_id=request.incident_id)
    hidden = secret_values(config)
    items = [
        outbox.NewNotification(
            channel=name,
            kind=KIND,
            payload=_payload(config.channels[name], config, request, hidden),
            idempotency_key=f"{KIND}:{request.approval_id}:{name}",
        )
        for name in channels
    ]
    outbox.enqueue_many(conn, items, now=now)
    return channels, note


def links(config: Config, request: ApprovalRequest) -> dict[str, str]:
    """The run's page (``/runs/{id}``) and the API route that decides, absolute when
    ``server.public_url`` is set."""
    base = str(config.server.public_url or "").rstrip("/")
    return {
        "run": f"{base}/runs/{request.run_id}",
        "decide": f"{base}/api/v1/approvals/{request.approval_id}",
    }


def _params_text(params: Mapping[str, str | None]) -> str:
    if not params:
        return "none"
    return ", ".join(f"{k}={'' if v is None else v}" for k, v in sorted(params.items()))


def _payload(
    channel: Channel, config: Config, request: ApprovalRequest, hidden: list[str]
) -> dict[str, JSONValue]:
    link = links(config, request)
    digest = request.step_digest[:DIGEST_CHARS]
    expires = request.expires_at.isoformat()
    if channel.webhook is not None:
        body: dict[str, Any] = {
            "version": VERSION,
            "type": KIND,
            "approval": {
                "id": request.approval_id,
                "requested_by": request.requested_by,
                "expires_at": expires,
            },
            "run": {
                "id": request.run_id,
                "runbook": request.runbook,
                "incident_id": request.incident_id,
                "params": {k: v for k, v in sorted(request.params.items())},
            },
            "step": {
                "id": request.step_id,
                "kind": request.kind,
                "risk": request.risk,
                "digest": digest,
            },
            "links": link,
        }
        masked: dict[str, JSONValue] = _masked(body, hidden)
        return masked
    subject = (
        f"Approval needed: {request.runbook} / {request.step_id} ({request.risk}), "
        f"run {request.run_id}"
    )
    incident = f" for incident {request.incident_id}" if request.incident_id else ""
    lines = [
        f"{request.requested_by} asks another person to approve step {request.step_id} "
        f"of runbook {request.runbook} (run {request.run_id}{incident}).",
        f"Step: {request.step_id}, {request.kind}, risk {request.risk}, digest {digest}",
        f"Parameters: {_params_text(request.params)}",
        f"Expires: {expires}",
        f"Approve or deny: {link['run']}",
        f'API: POST {link["decide"]} {{"approve": true}}',
    ]
    text = mask_values("\n".join(lines), hidden)
    subject = mask_values(subject, hidden)
    if channel.smtp is not None:
        return email_payload(subject=subject, body=text, to=channel.smtp.to)
    return apprise_payload(title=subject, body=text, resolved=False)


def _masked(value: Any, hidden: list[str]) -> Any:
    if isinstance(value, str):
        return mask_values(value, hidden)
    if isinstance(value, dict):
        return {k: _masked(v, hidden) for k, v in value.items()}
    return value
