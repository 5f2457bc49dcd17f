"""``opsbook oncall who`` and ``opsbook oncall schedule NAME``: who is on call, as the server
computes it from its config and stored overrides (``GET /api/v1/oncall``,
``/api/v1/oncall/{schedule}``). Times show in each schedule's timezone; an ``--at`` without an
offset is in the server's config timezone (``who``) or the schedule's (``schedule``).

``opsbook oncall override add|list|rm``: overrides added at run time, through
``/api/v1/oncall/overrides``; a time without an offset is in the config's timezone.
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
from opsbook.config import parse_duration
from opsbook.errors import InputError, NotFound

app = typer.Typer(help="Who is on call, now or at a time, and the schedule ahead.")
override_app = typer.Typer(help="Overrides added at run time: someone covers a schedule.")
app.add_typer(override_app, name="override")

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


def parse_time(raw: str, *, option: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 option value; without an offset it is in ``zone``. ``InputError`` names
    ``option`` and does not repeat the value."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InputError(
            f"{option}: not a date and time (use ISO 8601, e.g. 2026-11-28T10:00 or "
            "2026-11-28T10:00+01:00)",
            field=option,
        ) from None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


_OPTION = {
    "$.schedule": "SCHEDULE",
    "$.person": "PERSON",
    "$.start": "--start",
    "$.end": "--end",
    "$.duration": "--for",
    "$.reason": "--reason",
}


def _as_option(exc: InputError) -> InputError:
    """The server names ``$.end``; the user typed ``--end``."""
    named = _OPTION.get(exc.field)
    if named is None:
        return exc
    rest = exc.message.split(": ", 1)[-1]
    return InputError(f"{named}: {rest}", field=named)


@override_app.command("add")
def override_add(
    ctx: typer.Context,
    schedule: Annotated[str, typer.Argument(metavar="SCHEDULE", help="The schedule to cover.")],
    person: Annotated[str, typer.Argument(metavar="PERSON", help="Who covers (oncall.people).")],
    start: Annotated[
        str | None,
        typer.Option("--start", help="From (ISO 8601; local to the config). Default: now."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Until (ISO 8601; local to the config).")
    ] = None,
    length: Annotated[
        str | None, typer.Option("--for", help="How long instead of --end, e.g. 8h.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", "-m", help="Why (optional).")] = None,
    config: ConfigOption = None,
) -> None:
    """PERSON covers SCHEDULE from --start (default now) to --end, or --for a while.

    Prints the new override's id. It wins over the layers and the configured overrides."""
    cli = get_context(ctx)
    if (end is None) == (length is None):
        raise InputError("--end: give --end or --for (one of them)", field="--end")
    if length is not None:
        try:
            parse_duration(length)
        except ValueError:
            raise InputError("--for: not a duration (use e.g. 8h, 2d)", field="--for") from None
    remote = connect(cli, config)
    body: dict[str, Any] = {"schedule": schedule, "person": person}
    if start is not None:
        body["start"] = parse_time(start, option="--start", zone=remote.zone).isoformat()
    if end is not None:
        body["end"] = parse_time(end, option="--end", zone=remote.zone).isoformat()
    if length is not None:
        body["duration"] = length
    if reason:
        body["reason"] = reason
    try:
        created = remote.api.post("/api/v1/oncall/overrides", body)
    except InputError as exc:
        raise _as_option(exc) from None
    zone = remote.zone
    cli.console.print(
        f"override {created['id']}: {created['name']} covers {created['schedule']} from "
        f"{_when(created['start'], zone)} to {_when(created['end'], zone)} ({zone.key})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


@override_app.command("list")
def override_list(
    ctx: typer.Context,
    schedule: Annotated[
        str | None, typer.Option("--schedule", "-s", help="One schedule (default: every one).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """The stored overrides on now or to come, oldest first (a later one wins)."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    try:
        found = remote.api.get("/api/v1/oncall/overrides", schedule=schedule)["overrides"]
    except InputError as exc:
        message = exc.message.replace("schedule:", "--schedule:", 1)
        raise InputError(message, field="--schedule") from None
    if not found:
        cli.console.print("no overrides on now or to come", highlight=False)
        return
    zone = remote.zone
    table = _table()
    for column in ("id", "schedule", "who", "from", "until", "reason"):
        table.add_column(column, no_wrap=column in ("id", "from", "until"), overflow="fold")
    for item in found:
        table.add_row(
            str(item["id"]),
            item["schedule"],
            item["name"],
            _when(item["start"], zone),
            _when(item["end"], zone),
            item["reason"] or "",
        )
    cli.console.print(table)


@override_app.command("rm")
def override_rm(
    ctx: typer.Context,
    override_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="The override's id.")],
    config: ConfigOption = None,
) -> None:
    """Remove an override; the schedule goes back to its layers."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    try:
        removed = remote.api.delete(f"/api/v1/oncall/overrides/{override_id}")
    except NotFound:
        raise NotFound("ID: no override with this id", field="ID") from None
    cli.console.print(f"override {removed['id']} removed", highlight=False)
