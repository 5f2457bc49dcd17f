"""``opsbook oncall who`` and ``opsbook oncall schedule NAME``: who is on call, from the config
alone (no store), through the oncall domain's pure functions. Times show in each schedule's
timezone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.table import Table

from opsbook.cli.context import get_context
from opsbook.config import Config, load
from opsbook.errors import InputError
from opsbook.oncall import Shift, schedule_timezone, shifts, who

app = typer.Typer(help="Who is on call, now or at a time, and the schedule ahead.")

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False),
]
WHEN = "%a %Y-%m-%d %H:%M"


def parse_at(raw: str | None, zone: ZoneInfo, *, now: datetime) -> datetime:
    """``--at``: ISO 8601; without an offset it is in ``zone``. None or ``now``: ``now``."""
    if raw is None or raw.strip().lower() == "now":
        return now
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            f"--at: {raw!r} is not a date and time (use ISO 8601, e.g. 2026-11-22T18:00 or "
            "2026-11-22T18:00+01:00)",
            field="--at",
        ) from None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def person_name(config: Config, person: str) -> str:
    found = config.oncall.people.get(person)
    return found.name if found is not None else person


def why(shift: Shift) -> str:
    return "override" if shift.override else shift.layer


def _table() -> Table:
    return Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)


@app.command("who")
def who_command(
    ctx: typer.Context,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="A time (ISO 8601; without an offset, in the config's timezone). Default: now.",
        ),
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", "-s", help="One schedule (default: every one).")
    ] = None,
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """Who is on call now (or --at a time), for every schedule or one."""
    cli = get_context(ctx)
    loaded = load(config, environ=cli.environ)
    instant = parse_at(at, ZoneInfo(loaded.timezone), now=get_context(ctx).clock.now())
    names = [schedule] if schedule is not None else list(loaded.oncall.schedules)
    if not names:
        cli.console.print("no on-call schedules in the config", highlight=False)
        return
    table = _table()
    for column in ("schedule", "on call", "since", "until", "why"):
        table.add_column(column, no_wrap=column in ("since", "until"), overflow="fold")
    for name in names:
        shift = who(loaded, name, instant)
        zone = schedule_timezone(loaded, name)
        table.add_row(
            name,
            person_name(loaded, shift.person),
            shift.start.astimezone(zone).strftime(WHEN),
            shift.end.astimezone(zone).strftime(WHEN),
            why(shift),
        )
    cli.console.print(table)


@app.command("schedule")
def schedule_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The schedule.")],
    weeks: Annotated[
        int, typer.Option("--weeks", min=1, max=52, help="How many weeks ahead to show.")
    ] = 4,
    at: Annotated[
        str | None, typer.Option("--at", help="Start here instead of now (ISO 8601).")
    ] = None,
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """The shifts of one schedule from now (or --at) for the next weeks, in its timezone."""
    cli = get_context(ctx)
    loaded = load(config, environ=cli.environ)
    zone = schedule_timezone(loaded, name)
    start = parse_at(at, zone, now=get_context(ctx).clock.now())
    found = shifts(loaded, name, start, start + timedelta(weeks=weeks))
    table = _table()
    table.title = f"{name} ({zone.key}), next {weeks} week{'s' if weeks != 1 else ''}"
    table.add_column("start", no_wrap=True)
    table.add_column("end", no_wrap=True)
    table.add_column("on call", overflow="fold", max_width=20)
    table.add_column("why", overflow="fold")
    for shift in found:
        table.add_row(
            shift.start.astimezone(zone).strftime(WHEN),
            shift.end.astimezone(zone).strftime(WHEN),
            person_name(loaded, shift.person),
            why(shift),
        )
    cli.console.print(table)
