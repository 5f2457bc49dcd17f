"""``opsbook incident message ID``: draft a message about the incident (a status update, the
email to affected users...) from the shipped templates, to paste, without sending anything;
the response and escalation lines ``opsbook incident show`` prints; and how the incident
commands reach the server (``connect``).

Everything here works on the API's JSON (``GET /api/v1/incidents/{id}``), not on the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from opsbook.cli.client import ApiClient
from opsbook.cli.context import CliContext, get_context
from opsbook.config import format_duration
from opsbook.config.client import ClientConfig, load_client
from opsbook.config.templates import SHIPPED_INCIDENT_MESSAGES
from opsbook.config.units import format_elapsed
from opsbook.errors import InputError

if TYPE_CHECKING:
    from opsbook.config import Config

TEMPLATE_WORDS = ", ".join(SHIPPED_INCIDENT_MESSAGES)


@dataclass(frozen=True)
class Connected:
    """A command's server, and the config it was found from (None without a config file)."""

    cli: CliContext
    api: ApiClient
    config: ClientConfig | Config | None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone) if self.config is not None else ZoneInfo("UTC")


def connect(cli: CliContext, path: Path) -> Connected:
    """The client of the server ``path``'s config names (or ``--server``); without a config
    file there, ``--server`` or ``$OPSBOOK_SERVER`` says where and times show in UTC."""
    config = load_client(path, environ=cli.environ) if path.exists() else None
    return Connected(cli=cli, api=cli.api(config), config=config)


def parse_at(value: str | None) -> datetime | None:
    """An API time (RFC 3339, ``Z``) as an aware datetime."""
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def elapsed_between(start: str | None, end: str | None) -> timedelta | None:
    """``end - start`` from two API times; None while ``end`` has not happened."""
    began, ended = parse_at(start), parse_at(end)
    return ended - began if began is not None and ended is not None else None


def response_line(found: Mapping[str, Any], *, now: datetime) -> str:
    """``respond    within 15m: met (acknowledged after 3m12s)``, or due, overdue, missed."""
    response = found["response"]
    if response is None:
        return f"respond    - ({found['severity']} is no longer configured)"
    state = response["state"]
    head = f"respond    within {format_duration(seconds(response['target_s']))}: {state}"
    due_at = parse_at(response["due_at"]) or now
    if state == "met" or (state == "missed" and found["acknowledged_at"]):
        took = elapsed_between(found["declared_at"], found["acknowledged_at"]) or timedelta()
        return f"{head} (acknowledged after {_elapsed(took)})"
    if state == "due":
        return f"{head} (in {_elapsed(due_at - now)})"
    if state == "overdue":
        return f"{head} (by {_elapsed(now - due_at)}; acknowledge it)"
    return f"{head} (resolved without an acknowledgement)"


def _elapsed(delta: timedelta) -> str:
    # "in 0s" reads as a bug; under a second is shown as the second it is in.
    return format_elapsed(max(delta, timedelta(seconds=1)))


def escalation_lines(
    runs: Sequence[Mapping[str, Any]], *, zone: ZoneInfo, now: datetime
) -> list[str]:
    """One line per escalation (the API's ``escalations``): what it pages next and when, or
    how it ended."""
    lines = []
    for run in runs:
        head = f"escalation {run['policy']}: "
        next_at = parse_at(run["next_at"])
        if run["state"] == "active" and next_at is not None and run["next_level"] is not None:
            per_round = run.get("levels_per_round")
            of = f" of {per_round}" if per_round is not None else ""
            rounds = f" (round {run['next_round']})" if run["next_round"] > 1 else ""
            left = format_elapsed(next_at - now)
            when = f"in {left}" if left != "0s" else "now"
            at = next_at.astimezone(zone).strftime("%H:%M:%S")
            lines.append(f"{head}level {run['next_level']}{of}{rounds} due {at} ({when})")
        elif run["state"] == "active":
            lines.append(f"{head}waiting for an acknowledgement after the last level")
        else:
            ended_at = parse_at(run["ended_at"])
            ended = ended_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if ended_at else "-"
            verb = "exhausted" if run["state"] == "exhausted" else "stopped"
            why = run["ended_reason"] or run["state"]
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
        Path,
        typer.Option(
            "--config",
            "-c",
            help="The opsbook config: its server (or --server).",
            dir_okay=False,
        ),
    ] = Path("opsbook.yaml"),
) -> None:
    """Draft a message (subject and body) about the incident's latest update; sends nothing."""
    if template is not None and template not in SHIPPED_INCIDENT_MESSAGES:
        raise InputError(
            f"--template: no incident template named {template!r} (use {TEMPLATE_WORDS})",
            field="--template",
        )
    connected = connect(get_context(ctx), config)
    path = f"/api/v1/incidents/{incident_id}/message"
    try:
        drafted = connected.api.get(path, template=template, channel=channel)
    except InputError as exc:
        if exc.field != "channel":
            raise
        # The server does not repeat the name it refused; the one who typed it may.
        known = exc.message.split("of that name ", 1)[-1]
        raise InputError(
            f"--channel: no channel named {channel!r} {known}", field="--channel"
        ) from None
    out = connected.cli.console.file
    out.write(f"Subject: {drafted['subject']}\n\n{drafted['body'].rstrip()}\n")
