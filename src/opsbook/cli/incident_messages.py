"""``opsbook incident message ID``: draft a message about the incident (a status update, the
email to affected users...) from the shipped templates, to paste, without sending anything;
and the escalation lines ``opsbook incident show`` prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import typer

from opsbook.cli.context import get_context, open_store
from opsbook.config import Config, format_duration
from opsbook.config.templates import SHIPPED_INCIDENT_MESSAGES
from opsbook.config.units import format_elapsed
from opsbook.errors import InputError
from opsbook.incidents import (
    Escalation,
    Incident,
    IncidentNotice,
    policy_levels,
    response_for,
    service,
)
from opsbook.incidents.models import NOTIFIED_KINDS
from opsbook.incidents.notices import linked_alerts
from opsbook.incidents.records import row_to_event
from opsbook.incidents.tables import incident_event
from opsbook.notify import render_incident

TEMPLATE_WORDS = ", ".join(SHIPPED_INCIDENT_MESSAGES)


def response_line(found: Incident, *, config: Config, now: datetime) -> str:
    """``respond    within 15m: met (acknowledged after 3m12s)``, or due, overdue, missed."""
    response = response_for(found, config=config, now=now)
    if response is None:
        return f"respond    - ({found.severity} is no longer configured)"
    head = f"respond    within {format_duration(response.target)}: {response.state}"
    if response.state == "met" or (response.state == "missed" and found.acknowledged_at):
        took = found.time_to_acknowledge or timedelta()
        return f"{head} (acknowledged after {_elapsed(took)})"
    if response.state == "due":
        return f"{head} (in {_elapsed(response.due_at - now)})"
    if response.state == "overdue":
        return f"{head} (by {_elapsed(now - response.due_at)}; acknowledge it)"
    return f"{head} (resolved without an acknowledgement)"


def _elapsed(delta: timedelta) -> str:
    # "in 0s" reads as a bug; under a second is shown as the second it is in.
    return format_elapsed(max(delta, timedelta(seconds=1)))


def escalation_lines(
    runs: Sequence[Escalation], *, config: Config, zone: ZoneInfo, now: datetime
) -> list[str]:
    """One line per escalation: what it pages next and when, or how it ended."""
    lines = []
    for run in runs:
        head = f"escalation {run.policy}: "
        levels = policy_levels(config, run.policy)
        if run.is_active and run.next_at is not None and levels and run.step < len(levels):
            level = levels[run.step]
            per_round = max(lv.number for lv in levels)
            rounds = f" (round {level.round + 1})" if level.round else ""
            left = format_elapsed(run.next_at - now)
            when = f"in {left}" if left != "0s" else "now"
            at = run.next_at.astimezone(zone).strftime("%H:%M:%S")
            lines.append(f"{head}level {level.number} of {per_round}{rounds} due {at} ({when})")
        elif run.is_active:
            lines.append(f"{head}waiting for an acknowledgement after the last level")
        else:
            ended = (
                run.ended_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
                if run.ended_at
                else "-"
            )
            verb = "exhausted" if run.state == "exhausted" else "stopped"
            why = run.ended_reason or run.state
            lines.append(f"{head}{verb}: {why} at {ended}")
    return lines


def message(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(metavar="ID", help="The incident id.")],
    template: Annotated[
        str | None,
        typer.Option("--template", "-t", help=f"A shipped template: {TEMPLATE_WORDS}."),
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option("--channel", help="Draft it as this channel would get it."),
    ] = None,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False)
    ] = Path("opsbook.yaml"),
) -> None:
    """Draft a message (subject and body) about the incident's latest update; sends nothing."""
    if template is not None and template not in SHIPPED_INCIDENT_MESSAGES:
        raise InputError(
            f"--template: no incident template named {template!r} (use {TEMPLATE_WORDS})",
            field="--template",
        )
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        if channel is not None and channel not in loaded.channels:
            known = ", ".join(loaded.channels) or "none are configured"
            raise InputError(
                f"--channel: no channel named {channel!r} (known: {known})", field="--channel"
            )
        found = service.get_incident(conn, incident_id)
        t = incident_event
        latest = conn.execute(
            sa.select(t)
            .where(t.c.incident_id == incident_id, t.c.kind.in_(sorted(NOTIFIED_KINDS)))
            .order_by(t.c.at.desc(), t.c.id.desc())
            .limit(1)
        ).first()
        event = row_to_event(latest) if latest is not None else None
        update = conn.execute(
            sa.select(t)
            .where(t.c.incident_id == incident_id, t.c.kind == "status")
            .order_by(t.c.at.desc(), t.c.id.desc())
            .limit(1)
        ).first()
        notice = IncidentNotice(
            kind="incident",
            channel=channel or "",
            key=f"draft:{incident_id}",
            incident=found,
            alerts=linked_alerts(conn, incident_id),
            event=event,
            at=cli.clock.now(),
        )
    drafted = render_incident(
        loaded,
        notice,
        template,
        now=cli.clock.now(),
        latest=row_to_event(update) if update is not None else None,
    )
    out = cli.console.file
    out.write(f"Subject: {drafted.subject}\n\n{drafted.body.rstrip()}\n")
