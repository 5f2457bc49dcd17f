"""``opsbook incidents [--all]``, ``opsbook incidents stats`` and ``opsbook incident ...``:
declare, show (with the timeline and response times), acknowledge, update, note, severity,
assign, merge, reopen, action (add an action item) and postmortem; ``opsbook actions [--all]``
and ``opsbook actions done ID``.

These are clients of the server's incident API (docs/api.md#incidents): they open no store,
so they see what the server sees, and a change is committed (with its timeline and audit
events) by the server before "ok". Who acts is whoever the token belongs to (``opsbook login``
or ``$OPSBOOK_TOKEN``); the server's errors are named with this command's arguments
(``$.severity`` becomes ``--severity``). Times show in the config's timezone (UTC without one).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from opsbook.cli import incident_messages
from opsbook.cli.client import ApiClient
from opsbook.cli.context import get_context
from opsbook.cli.incident_messages import Connected, elapsed_between, parse_at
from opsbook.config import parse_duration
from opsbook.config.units import format_elapsed
from opsbook.errors import InputError, NotFound
from opsbook.types import JSONValue

list_app = typer.Typer(help="List incidents: open ones by default.", invoke_without_command=True)
app = typer.Typer(help="Declare, show and work an incident.", no_args_is_help=True)
actions_app = typer.Typer(
    help="List action items: open ones by default.", invoke_without_command=True
)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="The opsbook config: its server (or --server) and timezone.",
        dir_okay=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IdArgument = Annotated[int, typer.Argument(metavar="ID", help="The incident id.")]
MessageOption = Annotated[str, typer.Option("--message", "-m", help="What to say.")]
DEFAULT_CONFIG = Path("opsbook.yaml")


# The values of incidents.IncidentStatus and incidents.Role (tests/cli/test_startup_imports.py
# holds them equal), spelled here because the incidents package loads SQLAlchemy and the
# server's task loop: 0.4 s that `opsbook incidents` would spend before asking (issue 15).
STATUSES = ("investigating", "identified", "monitoring", "resolved")
ROLES = ("commander", "comms")
STATUS_WORDS = ", ".join(STATUSES)


def _connect(ctx: typer.Context, config: Path) -> Connected:
    return incident_messages.connect(get_context(ctx), config)


@contextmanager
def _named(options: Mapping[str, str]) -> Iterator[None]:
    """The server names a bad part of the body by its JSON path (``$.severity``); on the
    command line that is the argument that carried it (``--severity``)."""
    try:
        yield
    except (InputError, NotFound) as exc:
        option = options.get(exc.field)
        if option is None:
            raise
        said = f"{option}: {exc.message.split(': ', 1)[-1]}"
        raise type(exc)(said, field=option) from None


def _change(
    ctx: typer.Context, config: Path, path: str, body: dict[str, Any], **options: str
) -> None:
    """POST ``body`` to ``path``; prints "ok" once the server has committed it."""
    connected = _connect(ctx, config)
    with _named({f"$.{key}": name for key, name in options.items()}):
        connected.api.post(path, body)
    _say(connected.cli.console, "ok")


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _print_json(console: Console, value: JSONValue) -> None:
    _say(console, json.dumps(value, indent=2))


def _when(at: str | None, zone: ZoneInfo) -> str:
    parsed = parse_at(at)
    return parsed.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if parsed else "-"


def _took(seconds: float | None) -> str:
    return format_elapsed(incident_messages.seconds(seconds)) if seconds is not None else "-"


def _incidents_table(items: Sequence[Mapping[str, Any]], zone: ZoneInfo) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in ("id", "sev", "status", "title", "declared", "commander", "acked"):
        table.add_column(name, overflow="fold")
    for item in items:
        declared = parse_at(item["declared_at"])
        table.add_row(
            str(item["id"]),
            item["severity"],
            item["status"],
            item["title"],
            declared.astimezone(zone).strftime("%Y-%m-%d %H:%M") if declared else "-",
            item["commander"] or "-",
            "yes" if item["acknowledged_at"] else "no",
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
    connected = _connect(ctx, config)
    found = connected.api.get("/api/v1/incidents", all="true" if all_ else None)["incidents"]
    console = connected.cli.console
    if as_json:
        _print_json(console, found)
    elif not found:
        _say(console, "no open incidents" if not all_ else "no incidents")
    else:
        console.print(_incidents_table(found, connected.zone))


@list_app.command("stats")
def stats(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="How far back, e.g. 30d.")] = "30d",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """MTTA, MTTM, MTTR and response targets met, per severity, over the period."""
    try:
        parse_duration(since)
    except ValueError as exc:
        raise InputError(f"--since: {exc}", field="--since") from None
    connected = _connect(ctx, config)
    with _named({"since": "--since"}):
        rows = connected.api.get("/api/v1/incidents/stats", since=since)["severities"]
    if not rows:
        _say(connected.cli.console, f"no incidents in the last {since}")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in ("severity", "declared", "ack in target", "resolved", "MTTA", "MTTM", "MTTR"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            row["severity"],
            str(row["declared"]),
            f"{row['met_target']}/{row['met_target'] + row['missed_target']}",
            str(row["resolved"]),
            _took(row["mtta_s"]),
            _took(row["mttm_s"]),
            _took(row["mttr_s"]),
        )
    connected.cli.console.print(table)


@app.command("declare")
def declare(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What is wrong, in a line.")],
    severity: Annotated[str, typer.Option("--severity", "-s", help="SEV1..SEV4 (as configured).")],
    summary: Annotated[str, typer.Option("--summary", help="More detail.")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Declare an incident; prints its id."""
    connected = _connect(ctx, config)
    body = {"title": title, "severity": severity, "summary": summary}
    with _named({"$.title": "TITLE", "$.severity": "--severity", "$.summary": "--summary"}):
        created = connected.api.post("/api/v1/incidents", body)
    _say(connected.cli.console, str(created["id"]))


@app.command("show")
def show(
    ctx: typer.Context,
    incident_id: IdArgument,
    as_json: JsonOption = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """One incident: its state, response times, linked alerts and timeline."""
    connected = _connect(ctx, config)
    found = connected.api.get(f"/api/v1/incidents/{incident_id}")
    console = connected.cli.console
    if as_json:
        _print_json(console, found)
        return
    zone, now = connected.zone, connected.cli.clock.now()
    merged = found["merged_into"]
    lines = [
        f"incident {found['id']}: {found['title']}",
        f"severity   {found['severity']}",
        f"status     {found['status']}" + (f" (merged into incident {merged})" if merged else ""),
        f"declared   {_when(found['declared_at'], zone)} by {found['declared_by']}",
        f"commander  {found['commander'] or '-'}",
        f"comms      {found['comms'] or '-'}",
        f"alerts     {', '.join(str(a) for a in found['alert_ids']) or '-'}",
    ]
    # From the timestamps, not the *_s fields: those are whole seconds, cut, and "3m18s" is
    # the time rounded to the second.
    for label, at in (
        ("to ack    ", "acknowledged_at"),
        ("to mitigate", "mitigated_at"),
        ("to resolve", "resolved_at"),
    ):
        took = elapsed_between(found["declared_at"], found[at])
        lines.append(f"{label} {format_elapsed(took) if took is not None else '-'}")
    if found["summary"]:
        lines.insert(1, found["summary"])
    lines.append(incident_messages.response_line(found, now=now))
    lines += incident_messages.escalation_lines(found["escalations"], zone=zone, now=now)
    for line in lines:
        _say(console, line)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("at", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("by", no_wrap=True)
    table.add_column("message", overflow="fold")
    for event in found["timeline"]:
        table.add_row(_when(event["at"], zone), event["kind"], event["actor"], event["message"])
    console.print(table)


@app.command("ack")
def ack(ctx: typer.Context, incident_id: IdArgument, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Acknowledge the incident (the seeds: within 5 minutes)."""
    _change(ctx, config, f"/api/v1/incidents/{incident_id}/ack", {})


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
    if status not in STATUSES:
        raise InputError(
            f"STATUS: {status!r} is not an incident status (use {STATUS_WORDS})", field="STATUS"
        )
    options = {"message": "MESSAGE" if message is not None else "--message", "status": "STATUS"}
    options |= {f"fields.{key}": "--" + key.replace("_", "-") for key in given}
    body = {"status": status, "message": said, "fields": fields}
    _change(ctx, config, f"/api/v1/incidents/{incident_id}/updates", body, **options)


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
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Move a resolved incident back to investigating."""
    path = f"/api/v1/incidents/{incident_id}/reopen"
    _change(ctx, config, path, {"message": message}, message="--message")


@app.command("note")
def note(
    ctx: typer.Context,
    incident_id: IdArgument,
    message: MessageOption,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add a note to the timeline."""
    path = f"/api/v1/incidents/{incident_id}/notes"
    _change(ctx, config, path, {"message": message}, message="--message")


@app.command("escalate")
def escalate(
    ctx: typer.Context,
    incident_id: IdArgument,
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="Why: the runbook's rule that calls for it.")
    ],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Page the next escalation level now, acknowledged or not ("escalate if a data breach
    is suspected")."""
    path = f"/api/v1/incidents/{incident_id}/escalate"
    _change(ctx, config, path, {"reason": reason}, reason="--reason")


@app.command("severity")
def severity(
    ctx: typer.Context,
    incident_id: IdArgument,
    new_severity: Annotated[str, typer.Argument(metavar="SEVERITY", help="e.g. SEV2")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Change the incident's severity."""
    path = f"/api/v1/incidents/{incident_id}/severity"
    _change(ctx, config, path, {"severity": new_severity}, severity="SEVERITY")


@app.command("assign")
def assign(
    ctx: typer.Context,
    incident_id: IdArgument,
    commander: Annotated[
        str | None, typer.Option("--commander", help="The incident commander.")
    ] = None,
    comms: Annotated[str | None, typer.Option("--comms", help="Who writes the updates.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Give a person the commander or the comms role."""
    if (commander is None) == (comms is None):
        raise InputError("give --commander or --comms (one of them)", field="--commander")
    commander_role, comms_role = ROLES
    role, person = (commander_role, commander) if commander is not None else (comms_role, comms)
    path = f"/api/v1/incidents/{incident_id}/roles"
    body = {"role": role, "person": person or ""}
    _change(ctx, config, path, body, person=f"--{role}")


@app.command("merge")
def merge(
    ctx: typer.Context,
    source: Annotated[int, typer.Argument(metavar="SOURCE", help="The incident to merge.")],
    into: Annotated[int, typer.Argument(metavar="INTO", help="The incident to merge it into.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Merge SOURCE into INTO: its alerts move, and SOURCE is resolved as merged."""
    _change(ctx, config, f"/api/v1/incidents/{source}/merge", {"into": into}, into="INTO")


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
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Add an action item to the incident; prints its id."""
    due_day = _due(due)
    connected = _connect(ctx, config)
    body = {"title": title, "owner": owner, "due": due_day.isoformat() if due_day else None}
    with _named({"$.title": "TITLE", "$.owner": "--owner", "$.due": "--due"}):
        created = connected.api.post(f"/api/v1/incidents/{incident_id}/actions", body)
    _say(connected.cli.console, str(created["id"]))


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
    connected = _connect(ctx, config)
    text = _postmortem(connected.api, incident_id, source=source, name=str(template))
    cli = connected.cli
    if output is None:
        cli.console.file.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"--output: cannot write {output}: {exc}", field="--output") from None
    _say(cli.console, f"wrote {output}")


def _postmortem(api: ApiClient, incident_id: int, *, source: str | None, name: str) -> str:
    """The shipped postmortem as the server renders it; or, with ``source``, the user's
    template rendered here with the values the server gives (the template never leaves this
    machine, and its errors name the user's file and line)."""
    path = f"/api/v1/incidents/{incident_id}/postmortem"
    if source is None:
        return api.request("GET", path, accept="text/markdown").text
    values = api.get(path + "/values")
    from opsbook.incidents.postmortem import render_template

    try:
        return render_template(source, values, name=name)
    except InputError as exc:
        raise InputError(exc.message, field="--template") from None


def _actions_table(items: Sequence[Mapping[str, Any]], today: date) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for name in ("id", "incident", "title", "owner", "due", "done"):
        table.add_column(name, overflow="fold")
    for item in items:
        due = item["due"] or "-"
        # An open item past its due day (due today is not overdue yet).
        overdue = item["done_at"] is None and item["due"] and date.fromisoformat(due) < today
        table.add_row(
            str(item["id"]),
            str(item["incident_id"]),
            item["title"],
            item["owner"],
            Text(due, style="red") if overdue else Text(due),
            "yes" if item["done_at"] else "no",
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
    connected = _connect(ctx, config)
    found = connected.api.get("/api/v1/actions", all="true" if all_ else None, owner=owner)
    found = found["actions"]
    console = connected.cli.console
    if as_json:
        _print_json(console, found)
    elif not found:
        _say(console, "no open action items" if not all_ else "no action items")
    else:
        today = connected.cli.clock.now().astimezone(connected.zone).date()
        console.print(_actions_table(found, today))


@actions_app.command("done")
def action_done(
    ctx: typer.Context,
    action_id: Annotated[int, typer.Argument(metavar="ID", help="The action item id.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Mark an action item done."""
    _change(ctx, config, f"/api/v1/actions/{action_id}/done", {})


app.command("message")(incident_messages.message)
