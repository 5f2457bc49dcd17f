"""``opsbook alerts``, ``opsbook silence ...`` and ``opsbook maintenance``: what is firing and why
it is (not) paging, read from the store; silences written to it with the audit trail.

Like ``opsbook status`` these talk to the store directly, through the alerts domain's service,
silences and maintenance modules (the same functions the API uses). Times show in the config's
timezone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from opsbook.alerts import service, silences
from opsbook.alerts.maintenance import OpenWindow, open_windows, upcoming_windows
from opsbook.alerts.models import OPEN_STATUSES, Alert, AlertStatus, Silence
from opsbook.cli.context import get_context, open_store
from opsbook.config import load, parse_duration
from opsbook.errors import InputError, NotFound
from opsbook.types import JSONValue

app = typer.Typer(help="Show alerts: firing and pending by default.", invoke_without_command=True)
silence_app = typer.Typer(help="Add, list and expire silences.", no_args_is_help=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

STATUS_STYLE = {
    AlertStatus.FIRING: "red",
    AlertStatus.PENDING: "yellow",
    AlertStatus.RESOLVED: "green",
    AlertStatus.INACTIVE: "dim",
}
UPCOMING = timedelta(days=7)
SHORT_ID = 8
WHEN = "%a %Y-%m-%d %H:%M"


def _print_json(console: Console, value: JSONValue) -> None:
    console.print(json.dumps(value, indent=2), markup=False, highlight=False, soft_wrap=True)


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def _ago(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _name(item: Alert) -> str:
    """The rule for rule alerts; the alertname an ingested alert came with."""
    if item.rule and item.integration is None:
        return item.rule
    return item.labels.get("alertname") or item.rule or "-"


def _alerts_table(items: Sequence[Alert], now: datetime) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True, justify="right", min_width=2)
    table.add_column("status", no_wrap=True, min_width=8)
    table.add_column("sev", no_wrap=True, min_width=4)
    table.add_column("alert", overflow="fold", max_width=24)
    table.add_column("check", overflow="fold", max_width=16)
    table.add_column("since", no_wrap=True, justify="right", min_width=5)
    table.add_column("muted", overflow="fold")
    for item in items:
        since = item.resolved_at or item.fired_at or item.started_at
        table.add_row(
            str(item.id),
            Text(item.status.value, style=STATUS_STYLE[item.status]),
            item.severity,
            _name(item),
            item.check_id or "-",
            _ago(now - since),
            Text(service.mute_reason(item), style="dim"),
        )
    return table


@app.callback()
def alerts(
    ctx: typer.Context,
    show_all: Annotated[
        bool, typer.Option("--all", help="Every alert, resolved ones included (newest 100).")
    ] = False,
    config: ConfigOption = Path("opsbook.yaml"),
    as_json: JsonOption = False,
) -> None:
    """List alerts: id, status, severity, rule, check, since when, and why it is muted."""
    if ctx.invoked_subcommand is not None:
        return
    cli = get_context(ctx)
    now = get_context(ctx).clock.now()
    with open_store(cli, config) as (_, engine), engine.begin() as conn:
        statuses = None if show_all else OPEN_STATUSES
        found = service.list_alerts(conn, statuses=statuses)
    if as_json:
        _print_json(cli.console, [service.alert_json(a) for a in found])
        return
    if not found:
        _say(cli.console, "no alerts" if show_all else "no firing or pending alerts")
        return
    cli.console.print(_alerts_table(found, now))


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
    config: ConfigOption = Path("opsbook.yaml"),
    as_json: JsonOption = False,
) -> None:
    """One alert: labels, annotations, values, why it is muted, and its timeline."""
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        found, events = service.alert_with_events(conn, _alert_id(alert_id))
    if as_json:
        body = service.alert_json(found)
        body["events"] = [service.event_json(e) for e in events]
        _print_json(cli.console, body)
        return
    zone = ZoneInfo(loaded.timezone)
    console = cli.console
    console.print(
        Text.assemble(
            (f"alert {found.id} ", "bold"),
            (found.status.value, STATUS_STYLE[found.status]),
            f" {found.severity} {_name(found)}",
        )
    )
    facts = Table.grid(padding=(0, 1))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column(overflow="fold")
    rows = [
        ("source", found.source.value + (f" ({found.integration})" if found.integration else "")),
        ("check", found.check_id or "-"),
        ("started", _local(found.started_at, zone)),
        ("fired", _local(found.fired_at, zone) if found.fired_at else "-"),
        ("resolved", _local(found.resolved_at, zone) if found.resolved_at else "-"),
        ("muted", service.mute_reason(found) or "no"),
        ("flapping", "yes" if found.flapping else "no"),
        ("fingerprint", found.fingerprint),
        ("labels", ", ".join(f"{k}={v}" for k, v in sorted(found.labels.items()))),
    ]
    rows += [(f"  {k}", v) for k, v in sorted(found.annotations.items())]
    rows += [(f"  {k}", json.dumps(v)) for k, v in sorted(found.values.items())]
    for name, value in rows:
        facts.add_row(name, Text(value))
    console.print(facts)
    table = Table(
        title="timeline", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left"
    )
    table.add_column("at", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("what", overflow="fold", ratio=1)
    for event in events:
        table.add_row(_local(event.at, zone), event.kind, event.message)
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
    author: Annotated[
        str | None, typer.Option("--author", "-a", help="Who (default: $USER).")
    ] = None,
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """Silence the alerts matching every MATCHER; prints the new silence's id."""
    cli = get_context(ctx)
    parsed = silences.parse_matchers(matchers, field="MATCHER")
    by = cli.author(author)
    with open_store(cli, config) as (loaded, engine):
        now = get_context(ctx).clock.now()
        if (duration is None) == (until is None):
            raise InputError("give --duration or --until (one of them)", field="--duration")
        if duration is not None:
            try:
                ends_at = now + parse_duration(duration)
            except ValueError as exc:
                raise InputError(f"--duration: {exc}", field="--duration") from None
        else:
            ends_at = _until(until or "", ZoneInfo(loaded.timezone))
        try:
            with engine.begin() as conn:
                created = silences.create_silence(
                    conn,
                    matchers=parsed,
                    starts_at=now,
                    ends_at=ends_at,
                    created_by=by,
                    comment=comment,
                    now=now,
                    origin="cli",
                )
        except InputError as exc:
            option = {
                "matchers": "MATCHER",
                "ends_at": "--duration/--until",
                "comment": "--comment",
                "created_by": "--author",
            }.get(exc.field)
            if option is None:
                raise
            raise InputError(f"{option}: {exc.message.split(': ', 1)[1]}", field=option) from None
    _say(cli.console, created.id)


def _silences_table(items: Sequence[Silence], now: datetime, zone: ZoneInfo) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("matchers", overflow="fold")
    table.add_column("ends", no_wrap=True)
    table.add_column("by", overflow="ellipsis", no_wrap=True, max_width=10)
    table.add_column("comment", overflow="ellipsis", no_wrap=True, max_width=24)
    for item in items:
        table.add_row(
            item.id[:SHORT_ID],
            item.state(now),
            "\n".join(str(m) for m in item.matchers),
            item.ends_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            item.created_by,
            item.comment,
        )
    return table


@silence_app.command("list")
def silence_list(
    ctx: typer.Context,
    expired: Annotated[bool, typer.Option("--expired", help="Include expired silences.")] = False,
    config: ConfigOption = Path("opsbook.yaml"),
    as_json: JsonOption = False,
) -> None:
    """Active silences, then pending ones (and expired ones with --expired)."""
    cli = get_context(ctx)
    now = get_context(ctx).clock.now()
    with open_store(cli, config) as (loaded, engine), engine.begin() as conn:
        found = silences.list_silences(conn, now=now, include_expired=expired)
    if as_json:
        _print_json(cli.console, [service.silence_json(s, now) for s in found])
        return
    if not found:
        _say(cli.console, "no silences")
        return
    cli.console.print(_silences_table(found, now, ZoneInfo(loaded.timezone)))
    _say(cli.console, f"ends in {loaded.timezone}; ids are shortened (any unique prefix works)")


@silence_app.command("expire")
def silence_expire(
    ctx: typer.Context,
    silence_id: Annotated[str, typer.Argument(metavar="ID", help="The silence id or a prefix.")],
    author: Annotated[
        str | None, typer.Option("--author", "-a", help="Who (default: $USER).")
    ] = None,
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """End a silence now."""
    cli = get_context(ctx)
    by = cli.author(author)
    with open_store(cli, config) as (_, engine), engine.begin() as conn:
        now = get_context(ctx).clock.now()
        full = _resolve_id(silences.list_silences(conn, now=now, include_expired=True), silence_id)
        expired = silences.expire_silence(conn, full, now=now, actor=f"user:{by}", origin="cli")
    _say(cli.console, f"ok: silence {expired.id} expired")


def _resolve_id(known: Sequence[Silence], prefix: str) -> str:
    found = [s.id for s in known if s.id.startswith(prefix)] if prefix else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound(f"no silence with id {prefix!r}", field="ID")
    raise InputError(
        f"ID: {prefix!r} matches {len(found)} silences; give more of the id", field="ID"
    )


# --- maintenance --------------------------------------------------------------------------


def _scope(opening: OpenWindow) -> str:
    if opening.is_global:
        return "everything"
    return ", ".join([*opening.components, *(f"check {c}" for c in opening.checks)])


def _windows_table(title: str, items: Sequence[OpenWindow], zone: ZoneInfo) -> Table:
    table = Table(
        title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title_justify="left"
    )
    table.add_column("window", overflow="ellipsis", no_wrap=True, max_width=20)
    table.add_column("from", no_wrap=True)
    table.add_column("until", no_wrap=True)
    table.add_column("holds", overflow="fold", ratio=1)
    for item in items:
        table.add_row(
            item.name,
            item.start.astimezone(zone).strftime(WHEN),
            item.end.astimezone(zone).strftime(WHEN),
            _scope(item) + (f" — {item.description}" if item.description else ""),
        )
    return table


def maintenance(
    ctx: typer.Context, config: ConfigOption = Path("opsbook.yaml"), as_json: JsonOption = False
) -> None:
    """Maintenance windows open now and in the next 7 days (alerts they hold are not sent)."""
    cli = get_context(ctx)
    loaded = load(config, environ=cli.environ)
    now = get_context(ctx).clock.now()
    opened, upcoming = open_windows(loaded, now), upcoming_windows(loaded, now, UPCOMING)
    if as_json:
        _print_json(
            cli.console,
            {
                "open": [service.window_json(o) for o in opened],
                "upcoming": [service.window_json(o) for o in upcoming],
            },
        )
        return
    if not loaded.maintenance:
        _say(cli.console, "no maintenance windows in the config")
        return
    zone = ZoneInfo(loaded.timezone)
    if opened:
        cli.console.print(_windows_table("open now", opened, zone))
    else:
        _say(cli.console, "no window is open now")
    if upcoming:
        cli.console.print(_windows_table("next 7 days", upcoming, zone))
    else:
        _say(cli.console, "none in the next 7 days")
    _say(cli.console, f"times in {loaded.timezone}")
