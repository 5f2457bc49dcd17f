"""``opsbook status``: every check's state, latency and availability against its SLO, read from
the store (the same service functions the API uses)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Connection

from opsbook.alerts import service as alert_service
from opsbook.alerts.models import Alert, AlertStatus
from opsbook.checks import service
from opsbook.checks.models import State
from opsbook.checks.rollups import WindowStats
from opsbook.cli.context import get_context, open_store
from opsbook.config import CheckSpec

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False),
]

STATE_STYLE = {State.UP: "green", State.DEGRADED: "yellow", State.DOWN: "red"}
BAR_HOURS = 24
WIDE_CONSOLE = 100
"""Below this many columns the bar draws one cell per two hours so the table fits 80 columns."""
# One cell per span: full when all was up, lower blocks as downtime grows, a dot for no data.
NO_DATA_CELL = "·"


def _cell(stats: WindowStats) -> Text:
    if stats.availability is None:
        return Text(NO_DATA_CELL, style="dim")
    if stats.availability >= 100:
        return Text("█", style="green")
    if stats.availability >= 99:
        return Text("▆", style="yellow")
    if stats.availability >= 50:
        return Text("▄", style="red")
    return Text("▁", style="red")


def _percent(value: float | None, target: float | None) -> Text:
    if value is None:
        return Text("no data", style="dim")
    missed = target is not None and value < target
    return Text(f"{value:.3f}%", style="red" if missed else "")


def _ms(value: float | None, target: timedelta | None = None) -> Text:
    if value is None:
        return Text("-", style="dim")
    missed = target is not None and value > target.total_seconds() * 1000
    shown = f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.1f}ms"
    return Text(shown, style="red" if missed else "")


def _row(
    conn: Connection, check_id: str, spec: CheckSpec, now: datetime, *, cells: int
) -> list[Text]:
    found = service.current_states(conn, check_ids=[check_id])
    if not found:
        return [Text(check_id), Text("no data yet", style="dim")] + [Text("")] * 5

    def window(length: timedelta, end: datetime = now) -> WindowStats:
        return service.window(conn, check_id=check_id, start=end - length, end=end)

    status = found[0]
    hour, day, month = (
        window(timedelta(hours=1)),
        window(timedelta(days=1)),
        window(timedelta(days=30)),
    )
    bar = Text()
    span = timedelta(hours=BAR_HOURS / cells)
    for back in range(cells - 1, -1, -1):
        bar.append_text(_cell(window(span, now - back * span)))
    return [
        Text(check_id),
        Text(status.state.value, style=STATE_STYLE[status.state]),
        _ms(status.last_latency_ms),
        _ms(hour.p95_ms, spec.slo.p95),
        _percent(day.availability, spec.slo.availability),
        _percent(month.availability, spec.slo.availability),
        bar,
    ]


def status(ctx: typer.Context, config: ConfigOption = Path("opsbook.yaml")) -> None:
    """Show each check: state, last latency, p95 (1h), availability (24h, 30d), last 24 hours."""
    cli = get_context(ctx)
    with open_store(cli, config) as (loaded, engine):
        cells = BAR_HOURS if cli.console.width >= WIDE_CONSOLE else BAR_HOURS // 2
        table = Table(title=f"{loaded.service}: checks", box=box.SIMPLE_HEAD, pad_edge=False)
        for name in ("check", "state", "last", "p95 1h", "avail 24h", "avail 30d", "last 24h"):
            table.add_column(name, no_wrap=True)
        now = get_context(ctx).clock.now()
        with engine.begin() as conn:
            for check_id, spec in loaded.checks.items():
                table.add_row(*_row(conn, check_id, spec, now, cells=cells))
            firing = alert_service.list_alerts(conn, statuses=[AlertStatus.FIRING])
    if not loaded.checks:
        cli.console.print("no checks in the config", highlight=False)
        return
    cli.console.print(table)
    cell = "hour" if cells == BAR_HOURS else f"{BAR_HOURS // cells} hours"
    cli.console.print(
        f"bar: one cell per {cell}, oldest first; "
        f"█ all up, ▆ ≥99%, ▄ ≥50%, ▁ <50%, {NO_DATA_CELL} no data",
        style="dim",
        highlight=False,
    )
    _print_firing(cli.console, firing, show=f"{cli.prog} alerts show {{id}} --config {config}")


def _print_firing(console: Console, firing: list[Alert], *, show: str) -> None:
    """One line per firing alert under the table: what pages, and what is held back and why.

    ``show`` is the command that shows one alert, ``{id}`` in it replaced; it carries the
    ``--config`` this command was given, so it runs as printed."""
    if not firing:
        console.print("no alerts firing", style="green", highlight=False)
        return
    console.print(f"{len(firing)} firing:", style="bold red", highlight=False)
    for alert in sorted(firing, key=lambda a: (a.severity, a.id)):
        name = alert.labels.get("alertname", alert.rule or "?")
        line = Text(f"  {alert.severity} {name} ({show.replace('{id}', str(alert.id))})")
        why = alert_service.mute_reason(alert)
        if why:
            line.append(f"  held: {why}", style="dim")
        console.print(line, highlight=False, soft_wrap=True)
