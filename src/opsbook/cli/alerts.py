"""``opsbook alerts``, ``opsbook silence ...`` and ``opsbook maintenance``: what is firing and why
it is (not) paging, and the silences people add and expire, through the server's API
(``/api/v1/alerts``, ``/api/v1/silences``, ``/api/v1/maintenance``). Who adds or expires a
silence is whoever the token belongs to. Times show in the config's timezone (UTC without one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from opsbook.cli.context import get_context
from opsbook.cli.remote import ConfigOption, connect
from opsbook.config import parse_duration
from opsbook.errors import InputError, NotFound
from opsbook.types import JSONValue

app = typer.Typer(help="Show alerts: firing and pending by default.", invoke_without_command=True)
silence_app = typer.Typer(help="Add, list and expire silences.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

STATUS_STYLE = {"firing": "red", "pending": "yellow", "resolved": "green", "inactive": "dim"}
UPCOMING = timedelta(days=7)
SHORT_ID = 8
WHEN = "%a %Y-%m-%d %H:%M"
OPEN = "firing,pending"
MOST = 1000
"""The API's largest page of alerts: `opsbook alerts` shows every open one up to this many."""
Body = dict[str, Any]


def _print_json(console: Console, value: JSONValue) -> None:
    console.print(json.dumps(value, indent=2), markup=False, highlight=False, soft_wrap=True)


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _at(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def _local(raw: str | None, zone: ZoneInfo) -> str:
    return _at(raw).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if raw else "-"


def _ago(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _name(item: Body) -> str:
    """The rule for rule alerts; the alertname an ingested alert came with."""
    if item["rule"] and item["integration"] is None:
        return str(item["rule"])
    return str(item["labels"].get("alertname") or item["rule"] or "-")


def _alerts_table(items: Sequence[Body], now: datetime) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True, justify="right", min_width=2)
    table.add_column("status", no_wrap=True, min_width=8)
    table.add_column("sev", no_wrap=True, min_width=4)
    table.add_column("alert", overflow="fold", max_width=24)
    table.add_column("check", overflow="fold", max_width=16)
    table.add_column("since", no_wrap=True, justify="right", min_width=5)
    table.add_column("muted", overflow="fold")
    for item in items:
        since = item["resolved_at"] or item["fired_at"] or item["started_at"]
        table.add_row(
            str(item["id"]),
            Text(item["status"], style=STATUS_STYLE.get(item["status"], "")),
            item["severity"],
            _name(item),
            item["check"] or "-",
            _ago(now - _at(since)),
            Text(item["muted"]["reason"], style="dim"),
        )
    return table


@app.callback()
def alerts(
    ctx: typer.Context,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every alert, resolved ones included (newest 100).")
    ] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List alerts: id, status, severity, rule, check, since when, and why it is muted."""
    if ctx.invoked_subcommand is not None:
        return
    cli = get_context(ctx)
    remote = connect(cli, config)
    if show_all:
        found = remote.api.get("/api/v1/alerts", limit=100)["alerts"]
    else:
        found = remote.api.get("/api/v1/alerts", status=OPEN, limit=MOST)["alerts"]
    if as_json:
        _print_json(cli.console, found)
        return
    if not found:
        _say(cli.console, "no alerts" if show_all else "no firing or pending alerts")
        return
    cli.console.print(_alerts_table(found, cli.clock.now()))


def _alert_id(raw: str) -> int:
    if not raw.isdigit():
        raise InputError(
            f"ID: {raw!r} is not an alert id (a number, see `opsbook alerts`)", field="ID"
        )
    return int(raw)


@app.command("show")
def show(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(metavar="ID", help="The alert id.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """One alert: labels, annotations, values, why it is muted, and its timeline."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    found = remote.api.get(f"/api/v1/alerts/{_alert_id(alert_id)}")
    if as_json:
        _print_json(cli.console, found)
        return
    zone = remote.zone
    console = cli.console
    console.print(
        Text.assemble(
            (f"alert {found['id']} ", "bold"),
            (found["status"], STATUS_STYLE.get(found["status"], "")),
            f" {found['severity']} {_name(found)}",
        )
    )
    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column(overflow="fold")
    integration = f" ({found['integration']})" if found["integration"] else ""
    rows = [
        ("source", found["source"] + integration),
        ("check", found["check"] or "-"),
        ("started", _local(found["started_at"], zone)),
        ("fired", _local(found["fired_at"], zone)),
        ("resolved", _local(found["resolved_at"], zone)),
        ("muted", found["muted"]["reason"] or "no"),
        ("flapping", "yes" if found["flapping"] else "no"),
        ("fingerprint", found["fingerprint"]),
        ("labels", ", ".join(f"{k}={v}" for k, v in sorted(found["labels"].items()))),
    ]
    rows += [(f"  {k}", v) for k, v in sorted(found["annotations"].items())]
    rows += [(f"  {k}", json.dumps(v)) for k, v in sorted(found["values"].items())]
    for name, value in rows:
        facts.add_row(name, Text(value))
    console.print(facts)
    table = Table(
        title="timeline", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left"
    )
    table.add_column("at", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("what", overflow="fold", ratio=1)
    for event in found["events"]:
        table.add_row(_local(event["at"], zone), event["kind"], event["message"])
    console.print(table)


# --- silences -----------------------------------------------------------------------------


def _until(raw: str, zone: ZoneInfo) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError(
            f"--until: {raw!r} is not a date and time (use ISO 8601, e.g. 2026-11-22T18:00)",
            field="--until",
        ) from None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


# The server names the body's fields ($.matchers[1]); the user typed arguments and options.
_OPTIONS = {
    "$.matchers": "MATCHER",
    "$.ends_at": "--duration/--until",
    "$.duration": "--duration",
    "$.comment": "--comment",
}


def _as_option(exc: InputError) -> InputError:
    for field, option in _OPTIONS.items():
        if exc.field.startswith(field):
            named = option + exc.field.removeprefix(field)
            rest = exc.message.split(": ", 1)[-1]
            return InputError(f"{named}: {rest}", field=named)
    return exc


@silence_app.command("add")
def silence_add(
    ctx: typer.Context,
    matchers: Annotated[
        list[str],
        typer.Argument(
            metavar="MATCHER...",
            help='Label matchers: name="value", name!=value, name=~regex, name!~regex; '
            "a bare first word is an alertname.",
        ),
    ],
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why (required).")],
    duration: Annotated[
        str | None, typer.Option("--duration", "-d", help="How long, e.g. 2h.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Until when (ISO 8601; local to the config).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Silence the alerts matching every MATCHER; prints the new silence's id.

    The silence is created by whoever the token belongs to (`opsbook whoami`)."""
    cli = get_context(ctx)
    # Checked here first, so a mistake names the argument as typed (the server would quote
    # neither it nor its value). Imported here: the alerts package loads SQLAlchemy, which
    # only this command's check needs (issue 15).
    from opsbook.alerts import silences

    parsed = silences.parse_matchers(matchers, field="MATCHER")
    remote = connect(cli, config)
    if (duration is None) == (until is None):
        raise InputError("give --duration or --until (one of them)", field="--duration")
    body: dict[str, Any] = {
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in parsed
        ],
        "comment": comment,
    }
    if duration is not None:
        try:
            parse_duration(duration)
        except ValueError as exc:
            raise InputError(f"--duration: {exc}", field="--duration") from None
        body["duration"] = duration
    else:
        body["ends_at"] = _until(until or "", remote.zone).isoformat()
    try:
        created = remote.api.post("/api/v1/silences", body)
    except InputError as exc:
        raise _as_option(exc) from None
    _say(cli.console, created["id"])


def _silences_table(items: Sequence[Body], zone: ZoneInfo) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("matchers", overflow="fold")
    table.add_column("ends", no_wrap=True)
    table.add_column("by", overflow="ellipsis", no_wrap=True, max_width=10)
    table.add_column("comment", overflow="ellipsis", no_wrap=True, max_width=24)
    for item in items:
        table.add_row(
            item["id"][:SHORT_ID],
            item["state"],
            "\n".join(item["matchers_text"]),
            _at(item["ends_at"]).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            item["created_by"],
            item["comment"],
        )
    return table


@silence_app.command("list")
def silence_list(
    ctx: typer.Context,
    expired: Annotated[bool, typer.Option("--expired", help="Include expired silences.")] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Active silences, then pending ones (and expired ones with --expired)."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    found = remote.api.get("/api/v1/silences", expired="true" if expired else None)["silences"]
    if as_json:
        _print_json(cli.console, found)
        return
    if not found:
        _say(cli.console, "no silences")
        return
    cli.console.print(_silences_table(found, remote.zone))
    _say(cli.console, f"ends in {remote.timezone}; ids are shortened (any unique prefix works)")


@silence_app.command("expire")
def silence_expire(
    ctx: typer.Context,
    silence_id: Annotated[str, typer.Argument(metavar="ID", help="The silence id or a prefix.")],
    config: ConfigOption = None,
) -> None:
    """End a silence now (as whoever the token belongs to)."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    known = remote.api.get("/api/v1/silences", expired="true")["silences"]
    full = _resolve_id([s["id"] for s in known], silence_id)
    expired = remote.api.delete(f"/api/v1/silences/{full}")
    _say(cli.console, f"ok: silence {expired['id']} expired")


def _resolve_id(known: Sequence[str], prefix: str) -> str:
    found = [s for s in known if s.startswith(prefix)] if prefix else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"no silence with id {prefix!r}", field="ID")
    raise InputError(
        f"ID: {prefix!r} matches {len(found)} silences; give more of the id", field="ID"
    )


# --- maintenance --------------------------------------------------------------------------


def _scope(opening: Body) -> str:
    if opening["global"]:
        return "everything"
    return ", ".join([*opening["components"], *(f"check {c}" for c in opening["checks"])])


def _windows_table(title: str, items: Sequence[Body], zone: ZoneInfo) -> Table:
    table = Table(
        title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left"
    )
    table.add_column("window", overflow="ellipsis", no_wrap=True, max_width=20)
    table.add_column("from", no_wrap=True)
    table.add_column("until", no_wrap=True)
    table.add_column("holds", overflow="fold", ratio=1)
    for item in items:
        description = item["description"]
        table.add_row(
            item["name"],
            _at(item["start"]).astimezone(zone).strftime(WHEN),
            _at(item["end"]).astimezone(zone).strftime(WHEN),
            _scope(item) + (f" — {description}" if description else ""),
        )
    return table


def maintenance(
    ctx: typer.Context, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Maintenance windows open now and in the next 7 days (alerts they hold are not sent)."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    found = remote.api.get("/api/v1/maintenance")
    opened, upcoming = found["open"], found["upcoming"]
    if as_json:
        _print_json(cli.console, {"open": opened, "upcoming": upcoming})
        return
    if not found["configured"]:
        _say(cli.console, "no maintenance windows in the server's config")
        return
    zone = remote.zone
    if opened:
        cli.console.print(_windows_table("open now", opened, zone))
    else:
        _say(cli.console, "no window is open now")
    if upcoming:
        cli.console.print(_windows_table("next 7 days", upcoming, zone))
    else:
        _say(cli.console, "none in the next 7 days")
    _say(cli.console, f"times in {remote.timezone}")
