"""``opsbook oncall who`` and ``opsbook oncall schedule NAME``: who is on call, as the server
computes it from its config (``GET /api/v1/oncall``, ``/api/v1/oncall/{schedule}``). Times show
in each schedule's timezone; an ``--at`` without an offset is in the server's config timezone
(``who``) or the schedule's (``schedule``).
"""

from __future__ import annotations

import urllib.parse
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich import box
from rich.table import Table

from opsbook.cli.context import get_context
from opsbook.cli.remote import ConfigOption, connect
from opsbook.errors import InputError, NotFound

app = typer.Typer(help="Who is on call, now or at a time, and the schedule ahead.")

WHEN = "%a %Y-%m-%d %H:%M"


def parse_at(raw: str | None) -> datetime | None:
    """``--at``: ISO 8601, naive (the server says in which zone) or with an offset. None or
    ``now``: None (the server's now)."""
    if raw is None or raw.strip().lower() == "now":
        return None
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            f"--at: {raw!r} is not a date and time (use ISO 8601, e.g. 2026-11-22T18:00 or "
            "2026-11-22T18:00+01:00)",
            field="--at",
        ) from None


def why(shift: dict[str, Any]) -> str:
    return "override" if shift["override"] else str(shift["layer"])


def _when(raw: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(raw).astimezone(zone).strftime(WHEN)


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
    config: ConfigOption = None,
) -> None:
    """Who is on call now (or --at a time), for every schedule or one."""
    cli = get_context(ctx)
    instant = parse_at(at)
    remote = connect(cli, config)
    when = instant.isoformat() if instant is not None else None
    found = remote.api.get("/api/v1/oncall", at=when)["oncall"]
    if schedule is not None:
        known = ", ".join(s["schedule"] for s in found) or "none are configured"
        found = [s for s in found if s["schedule"] == schedule]
        if not found:
            raise NotFound(f"no schedule with this name (known: {known})", field="--schedule")
    if not found:
        cli.console.print("no on-call schedules in the server's config", highlight=False)
        return
    table = _table()
    for column in ("schedule", "on call", "since", "until", "why"):
        table.add_column(column, no_wrap=column in ("since", "until"), overflow="fold")
    for shift in found:
        zone = ZoneInfo(shift["timezone"])
        table.add_row(
            shift["schedule"],
            shift["name"],
            _when(shift["start"], zone),
            _when(shift["end"], zone),
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
        str | None,
        typer.Option(
            "--at", help="Start here instead of now (ISO 8601; without an offset, in its timezone)."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """The shifts of one schedule from now (or --at) for the next weeks, in its timezone."""
    cli = get_context(ctx)
    # Naive times go to the server as they are: it reads them in the schedule's timezone.
    start = parse_at(at) or cli.clock.now()
    remote = connect(cli, config)
    found = remote.api.get(
        f"/api/v1/oncall/{urllib.parse.quote(name, safe='')}",
        **{"from": start.isoformat(), "to": (start + timedelta(weeks=weeks)).isoformat()},
    )
    zone = ZoneInfo(found["timezone"])
    table = _table()
    table.title = f"{name} ({zone.key}), next {weeks} week{'s' if weeks != 1 else ''}"
    table.add_column("start", no_wrap=True)
    table.add_column("end", no_wrap=True)
    table.add_column("on call", overflow="fold", max_width=20)
    table.add_column("why", overflow="fold")
    for shift in found["shifts"]:
        table.add_row(
            _when(shift["start"], zone),
            _when(shift["end"], zone),
            shift["name"],
            why(shift),
        )
    cli.console.print(table)
