"""``opsbook incidents [--all]``, ``opsbook incidents stats`` and ``opsbook incident ...``:
declare, show (with the timeline and response times), acknowledge, update, note, severity,
assign, merge, reopen, action (add an action item) and postmortem; ``opsbook actions [--all]``
and ``opsbook actions done ID``.

Like ``opsbook alerts`` these talk to the store directly through the incidents domain (the same
functions the API uses); each change commits with its timeline and audit events before "ok".
Who acts is ``--author``, else ``$USER``, else the login name. Times show in the config's timezone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Connection

from opsbook.cli import incident_messages
from opsbook.cli.context import get_context, open_store
from opsbook.config import Config, parse_duration
from opsbook.config.units import format_elapsed
from opsbook.errors import InputError, NotFound
from opsbook.incidents import (
    ActionItem,
    Incident,
    IncidentStatus,
    Role,
    action_json,
    incident_detail_json,
    incident_json,
    incident_stats,
    list_escalations,
    render_postmortem,
    service,
)
from opsbook.types import JSONValue

list_app = typer.Typer(help="List incidents: open ones by default.", invoke_without_command=True)
app = typer.Typer(help="Declare, show and work an incident.", no_args_is_help=True)
actions_app = typer.Typer(
    help="List action items: open ones by default.", invoke_without_command=True
)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False)
]
AuthorOption = Annotated[
    str | None, typer.Option("--author", "-a", help="Who acts (default: $USER).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IdArgument = Annotated[int, typer.Argument(metavar="ID", help="The incident id.")]
MessageOption = Annotated[str, typer.Option("--message", "-m", help="What to say.")]
DEFAULT_CONFIG = Path("opsbook.yaml")


STATUS_WORDS = ", ".join(s.value for s in IncidentStatus)


@contextmanager
def _change(ctx: typer.Context, config: Path) -> Iterator[tuple[Config, Connection]]:
    """The loaded config and a connection in one transaction; commits, then prints "ok"."""
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        yield loaded, conn
    _say(cli.console, "ok")


def _actor(ctx: typer.Context, author: str | None) -> str:
    return f"user:{get_context(ctx).author(author)}"


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _print_json(console: Console, value: JSONValue) -> None:
    _say(console, json.dumps(value, indent=2))


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if at is not None else "-"


def _took(delta: timedelta | None) -> str:
    return format_elapsed(delta) if delta is not None else "-"


def _option_error(exc: InputError, options: dict[str, str]) -> InputError:
    """A domain error names ``message``; on the command line that is ``--message``."""
    option = options.get(exc.field)
    if option is None:
        return exc
    return InputError(f"{option}: {exc.message.split(': ', 1)[-1]}", field=option)


def _incidents_table(items: Sequence[Incident], zone: ZoneInfo) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in ("id", "sev", "status", "title", "declared", "commander", "acked"):
        table.add_column(name, overflow="fold")
    for item in items:
        table.add_row(
            str(item.id),
            item.severity,
            item.status.value,
            item.title,
            item.declared_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            item.commander or "-",
            "yes" if item.acknowledged_at else "no",
        )
    return table


@list_app.callback()
def incidents(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include resolved incidents.")] = False,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Open incidents, newest first (with --all, resolved ones too)."""
    if ctx.invoked_subcommand is not None:
        return
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        found = service.list_incidents(conn, include_resolved=all_)
        linked = {i.id: service.alert_ids(conn, i.id) for i in found}
    if as_json:
        _print_json(cli.console, [incident_json(i, alert_ids=linked[i.id]) for i in found])
    elif not found:
        _say(cli.console, "no open incidents" if not all_ else "no incidents")
    else:
        cli.console.print(_incidents_table(found, ZoneInfo(loaded.timezone)))


@list_app.command("stats")
def stats(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 30d.")] = "30d",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """MTTA, MTTM, MTTR and response targets met, per severity, over the period."""
    try:
        period = parse_duration(since)
    except ValueError as exc:
        raise InputError(f"--since: {exc}", field="--since") from None
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        now = get_context(ctx).clock.now()
        targets = {name: sev.respond_within for name, sev in loaded.severities.items()}
        rows = incident_stats(conn, since=now - period, targets=targets, now=now)
    if not rows:
        _say(cli.console, f"no incidents in the last {since}")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in ("severity", "declared", "ack in target", "resolved", "MTTA", "MTTM", "MTTR"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            row.severity,
            str(row.declared),
            f"{row.met_target}/{row.met_target + row.missed_target}",
            str(row.resolved),
            _took(row.mtta),
            _took(row.mttm),
            _took(row.mttr),
        )
    cli.console.print(table)


@app.command("declare")
def declare(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What is wrong, in a line.")],
    severity: Annotated[str, typer.Option("--severity", "-s", help="SEV1..SEV4 (as configured).")],
    summary: Annotated[str, typer.Option("--summary", help="More detail.")] = "",
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Declare an incident; prints its id."""
    actor = _actor(ctx, author)
    cli = get_context(ctx)
    try:
        with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
            created = service.declare(
                conn,
                title=title,
                severity=severity,
                summary=summary,
                actor=actor,
                now=get_context(ctx).clock.now(),
                origin="cli",
                severities=list(loaded.severities),
            )
    except InputError as exc:
        raise _option_error(exc, {"title": "TITLE", "severity": "--severity"}) from None
    _say(cli.console, str(created.id))


@app.command("show")
def show(
    ctx: typer.Context,
    incident_id: IdArgument,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """One incident: its state, response times, linked alerts and timeline."""
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        if as_json:
            body = incident_detail_json(
                conn, incident_id, config=loaded, now=get_context(ctx).clock.now()
            )
            _print_json(cli.console, body)
            return
        found = service.get_incident(conn, incident_id)
        events = service.timeline(conn, incident_id)
        linked = service.alert_ids(conn, incident_id)
        runs = list_escalations(conn, incident_id)
    zone = ZoneInfo(loaded.timezone)
    lines = [
        f"incident {found.id}: {found.title}",
        f"severity   {found.severity}",
        f"status     {found.status.value}"
        + (f" (merged into incident {found.merged_into})" if found.merged_into else ""),
        f"declared   {_when(found.declared_at, zone)} by {found.declared_by}",
        f"commander  {found.commander or '-'}",
        f"comms      {found.comms or '-'}",
        f"alerts     {', '.join(str(a) for a in linked) or '-'}",
        f"to ack     {_took(found.time_to_acknowledge)}",
        f"to mitigate {_took(found.time_to_mitigate)}",
        f"to resolve {_took(found.time_to_resolve)}",
    ]
    if found.summary:
        lines.insert(1, found.summary)
    lines.append(
        incident_messages.response_line(found, config=loaded, now=get_context(ctx).clock.now())
    )
    lines += incident_messages.escalation_lines(
        runs, config=loaded, zone=zone, now=get_context(ctx).clock.now()
    )
    for line in lines:
        _say(cli.console, line)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("at", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("by", no_wrap=True)
    table.add_column("message", overflow="fold")
    for event in events:
        table.add_row(_when(event.at, zone), event.kind, event.actor, event.message)
    cli.console.print(table)


@app.command("ack")
def ack(
    ctx: typer.Context,
    incident_id: IdArgument,
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Acknowledge the incident (the seeds: within 5 minutes)."""
    actor = _actor(ctx, author)
    with _change(ctx, config) as (_loaded, conn):
        service.acknowledge(
            conn, incident_id, actor=actor, now=get_context(ctx).clock.now(), origin="cli"
        )


@app.command("update")
def update(
    ctx: typer.Context,
    incident_id: IdArgument,
    status: Annotated[str, typer.Argument(metavar="STATUS", help=STATUS_WORDS)],
    message: Annotated[
        str | None, typer.Argument(metavar="MESSAGE", help="What to say (or --message).")
    ] = None,
    message_option: Annotated[
        str | None, typer.Option("--message", "-m", help="What to say (or MESSAGE).")
    ] = None,
    impact: Annotated[str | None, typer.Option("--impact", help="Who or what is affected.")] = None,
    eta: Annotated[str | None, typer.Option("--eta", help="When a fix is expected.")] = None,
    workaround: Annotated[
        str | None, typer.Option("--workaround", help="What users can do meanwhile.")
    ] = None,
    next_update: Annotated[
        str | None, typer.Option("--next-update", help="When the next update comes.")
    ] = None,
    root_cause: Annotated[str | None, typer.Option("--root-cause", help="What caused it.")] = None,
    fix: Annotated[str | None, typer.Option("--fix", help="What fixed or will fix it.")] = None,
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Post a status update (investigating, identified, monitoring, resolved) saying MESSAGE,
    with optional fields the message templates show (impact, ETA, workaround, next update, root
    cause, fix). ``opsbook incident update 1 identified "pool exhausted"``."""
    said = _one_message(message, message_option)
    given = {
        "impact": impact,
        "eta": eta,
        "workaround": workaround,
        "next_update": next_update,
        "root_cause": root_cause,
        "fix": fix,
    }
    fields = {key: value for key, value in given.items() if value is not None}
    try:
        target = IncidentStatus(status)
    except ValueError:
        raise InputError(
            f"STATUS: {status!r} is not an incident status (use {STATUS_WORDS})", field="STATUS"
        ) from None
    actor = _actor(ctx, author)
    try:
        with _change(ctx, config) as (_loaded, conn):
            service.update(
                conn,
                incident_id,
                status=target,
                message=said,
                fields=fields,
                actor=actor,
                now=get_context(ctx).clock.now(),
                origin="cli",
            )
    except InputError as exc:
        named = "MESSAGE" if message is not None else "--message"
        options = {"message": named} | {
            f"fields.{key}": "--" + key.replace("_", "-") for key in given
        }
        raise _option_error(exc, options) from None


def _one_message(positional: str | None, option: str | None) -> str:
    """MESSAGE or ``--message``: the tour writes it positionally, scripts may use the option."""
    if positional is not None and option is not None and positional != option:
        raise InputError(
            "MESSAGE: give the message once, as MESSAGE or as --message, not both",
            field="MESSAGE",
        )
    said = positional if positional is not None else option
    if said is None:
        raise InputError(
            'MESSAGE: say what changed, e.g. opsbook incident update 1 identified "pool exhausted"',
            field="MESSAGE",
        )
    return said


@app.command("reopen")
def reopen(
    ctx: typer.Context,
    incident_id: IdArgument,
    message: MessageOption,
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Move a resolved incident back to investigating."""
    actor = _actor(ctx, author)
    try:
        with _change(ctx, config) as (_loaded, conn):
            service.reopen(
                conn,
                incident_id,
                message=message,
                actor=actor,
                now=get_context(ctx).clock.now(),
                origin="cli",
            )
    except InputError as exc:
        raise _option_error(exc, {"message": "--message"}) from None


@app.command("note")
def note(
    ctx: typer.Context,
    incident_id: IdArgument,
    message: MessageOption,
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add a note to the timeline."""
    actor = _actor(ctx, author)
    try:
        with _change(ctx, config) as (_loaded, conn):
            service.add_note(
                conn,
                incident_id,
                message=message,
                actor=actor,
                now=get_context(ctx).clock.now(),
                origin="cli",
            )
    except InputError as exc:
        raise _option_error(exc, {"message": "--message"}) from None


@app.command("severity")
def severity(
    ctx: typer.Context,
    incident_id: IdArgument,
    new_severity: Annotated[str, typer.Argument(metavar="SEVERITY", help="e.g. SEV2")],
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Change the incident's severity."""
    actor = _actor(ctx, author)
    try:
        with _change(ctx, config) as (loaded, conn):
            service.change_severity(
                conn,
                incident_id,
                severity=new_severity,
                severities=list(loaded.severities),
                actor=actor,
                now=get_context(ctx).clock.now(),
                origin="cli",
            )
    except InputError as exc:
        raise _option_error(exc, {"severity": "SEVERITY"}) from None


@app.command("assign")
def assign(
    ctx: typer.Context,
    incident_id: IdArgument,
    commander: Annotated[
        str | None, typer.Option("--commander", help="The incident commander.")
    ] = None,
    comms: Annotated[str | None, typer.Option("--comms", help="Who writes the updates.")] = None,
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Give a person the commander or the comms role."""
    if (commander is None) == (comms is None):
        raise InputError("give --commander or --comms (one of them)", field="--commander")
    role, person = (Role.COMMANDER, commander) if commander is not None else (Role.COMMS, comms)
    actor = _actor(ctx, author)
    try:
        with _change(ctx, config) as (_loaded, conn):
            service.set_role(
                conn,
                incident_id,
                role=role,
                person=person or "",
                actor=actor,
                now=get_context(ctx).clock.now(),
                origin="cli",
            )
    except InputError as exc:
        raise _option_error(exc, {"person": f"--{role.value}"}) from None


@app.command("merge")
def merge(
    ctx: typer.Context,
    source: Annotated[int, typer.Argument(metavar="SOURCE", help="The incident to merge.")],
    into: Annotated[int, typer.Argument(metavar="INTO", help="The incident to merge it into.")],
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Merge SOURCE into INTO: its alerts move, and SOURCE is resolved as merged."""
    actor = _actor(ctx, author)
    try:
        with _change(ctx, config) as (_loaded, conn):
            service.merge(
                conn, source, into=into, actor=actor, now=get_context(ctx).clock.now(), origin="cli"
            )
    except InputError as exc:
        raise _option_error(exc, {"into": "INTO"}) from None
    except NotFound as exc:
        if exc.field != "into":
            raise
        raise NotFound(f"INTO: {exc.message.split(': ', 1)[-1]}", field="INTO") from None


def _due(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--due: {value!r} is not a date (use YYYY-MM-DD, e.g. 2026-12-01)", field="--due"
        ) from None


@app.command("action")
def add_action(
    ctx: typer.Context,
    incident_id: IdArgument,
    title: Annotated[str, typer.Argument(metavar="TITLE", help="What is to be done.")],
    owner: Annotated[str, typer.Option("--owner", help="Who owns it.")],
    due: Annotated[str | None, typer.Option("--due", help="Due day, e.g. 2026-12-01.")] = None,
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add an action item to the incident; prints its id."""
    due_day = _due(due)
    actor = _actor(ctx, author)
    cli = get_context(ctx)
    try:
        with open_store(cli, config) as (_loaded, engine), engine.begin() as conn:
            created = service.add_action(
                conn,
                incident_id,
                title=title,
                owner=owner,
                due=due_day,
                actor=actor,
                now=get_context(ctx).clock.now(),
                origin="cli",
            )
    except InputError as exc:
        raise _option_error(exc, {"title": "TITLE", "owner": "--owner"}) from None
    _say(cli.console, str(created.id))


@app.command("postmortem")
def postmortem(
    ctx: typer.Context,
    incident_id: IdArgument,
    template: Annotated[
        Path | None,
        typer.Option("--template", help="A Jinja2 template instead of the shipped one."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Render the incident's postmortem as markdown from its timeline and action items."""
    source = None
    if template is not None:
        try:
            source = template.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"--template: cannot read {template}: {exc}", field="--template"
            ) from None
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        try:
            text = render_postmortem(
                conn,
                incident_id,
                zone=ZoneInfo(loaded.timezone),
                now=get_context(ctx).clock.now(),
                template=source,
                template_name=str(template) if template is not None else "postmortem.md.j2",
            )
        except InputError as exc:
            raise InputError(exc.message, field="--template") from None
    if output is None:
        cli.console.file.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--output: cannot write {output}: {exc}", field="--output") from None
    _say(cli.console, f"wrote {output}")


def _actions_table(items: Sequence[ActionItem], today: date) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in ("id", "incident", "title", "owner", "due", "done"):
        table.add_column(name, overflow="fold")
    for item in items:
        due = item.due.isoformat() if item.due is not None else "-"
        table.add_row(
            str(item.id),
            str(item.incident_id),
            item.title,
            item.owner,
            Text(due, style="red") if item.is_overdue(today) else Text(due),
            "yes" if item.is_done else "no",
        )
    return table


@actions_app.callback()
def actions(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include done action items.")] = False,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's.")] = None,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Open action items, soonest due first (with --all, done ones too); overdue in red."""
    if ctx.invoked_subcommand is not None:
        return
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        found = service.list_actions(conn, open_only=not all_, owner=owner)
    if as_json:
        _print_json(cli.console, [action_json(a) for a in found])
    elif not found:
        _say(cli.console, "no open action items" if not all_ else "no action items")
    else:
        today = get_context(ctx).clock.now().astimezone(ZoneInfo(loaded.timezone)).date()
        cli.console.print(_actions_table(found, today))


@actions_app.command("done")
def action_done(
    ctx: typer.Context,
    action_id: Annotated[int, typer.Argument(metavar="ID", help="The action item id.")],
    author: AuthorOption = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Mark an action item done."""
    actor = _actor(ctx, author)
    with _change(ctx, config) as (_loaded, conn):
        service.complete_action(
            conn, action_id, actor=actor, now=get_context(ctx).clock.now(), origin="cli"
        )


app.command("message")(incident_messages.message)
