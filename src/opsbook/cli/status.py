"""``opsbook status``: every check's state, latency and availability against its SLO, and what
fires, and which routines are overdue, as the server sees them (``GET /api/v1/checks``,
``/api/v1/checks/{id}``, ``/api/v1/alerts`` and ``/api/v1/routines``).
"""

from __future__ import annotations

from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from opsbook.cli.client import ApiClient
from opsbook.cli.context import get_context
from opsbook.cli.remote import ConfigOption, again, connect

STATE_STYLE = {"up": "green", "degraded": "yellow", "down": "red"}
BAR_HOURS = 24
WIDE_CONSOLE = 100
"""Below this many columns the bar draws one cell per two hours so the table fits 80 columns."""
# One cell per span: full when all was up, lower blocks as downtime grows, a dot for no data.
NO_DATA_CELL = "·"


def _cell(availability: float | None) -> Text:
    if availability is None:
        return Text(NO_DATA_CELL, style="dim")
    if availability >= 100:
        return Text("█", style="green")
    if availability >= 99:
        return Text("▆", style="yellow")
    if availability >= 50:
        return Text("▄", style="red")
    return Text("▁", style="red")


def _percent(value: float | None, target: float | None) -> Text:
    if value is None:
        return Text("no data", style="dim")
    missed = target is not None and value < target
    return Text(f"{value:.3f}%", style="red" if missed else "")


def _ms(value: float | None, target_ms: float | None = None) -> Text:
    if value is None:
        return Text("-", style="dim")
    missed = target_ms is not None and value > target_ms
    shown = f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.1f}ms"
    return Text(shown, style="red" if missed else "")


def _target(window: dict[str, Any], objective: str) -> float | None:
    found = window["slo"].get(objective)
    return float(found["target"]) if found is not None else None


def _row(api: ApiClient, summary: dict[str, Any], *, cells: int) -> list[Text]:
    check_id = summary["id"]
    if summary["state"] is None:
        return [Text(check_id), Text("no data yet", style="dim")] + [Text("")] * 5
    step = f"{BAR_HOURS // cells}h"
    found = api.get(
        f"/api/v1/checks/{check_id}", windows="1h,24h,30d", timeline=f"{BAR_HOURS}h", step=step
    )
    hour, day, month = (found["windows"][name] for name in ("1h", "24h", "30d"))
    bar = Text()
    for cell in found["timeline"]:
        bar.append_text(_cell(cell["availability"]))
    return [
        Text(check_id),
        Text(found["state"], style=STATE_STYLE.get(found["state"], "")),
        _ms(found["last_latency_ms"]),
        _ms(hour["p95_ms"], _target(hour, "p95")),
        _percent(day["availability"], _target(day, "availability")),
        _percent(month["availability"], _target(month, "availability")),
        bar,
    ]


def status(ctx: typer.Context, config: ConfigOption = None) -> None:
    """Show each check: state, last latency, p95 (1h), availability (24h, 30d), last 24 hours."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    checks = remote.api.get("/api/v1/checks")["checks"]
    firing = remote.api.get("/api/v1/alerts", status="firing", limit=1000)["alerts"]
    routines = remote.api.get("/api/v1/routines")["routines"]
    if not checks:
        cli.console.print("the server has no checks in its config", highlight=False)
        _print_routines(cli.console, routines)
        return
    cells = BAR_HOURS if cli.console.width >= WIDE_CONSOLE else BAR_HOURS // 2
    service = remote.config.service if remote.config is not None else remote.api.base
    table = Table(title=f"{service}: checks", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("check", "state", "last", "p95 1h", "avail 24h", "avail 30d", "last 24h"):
        table.add_column(name, no_wrap=True)
    for summary in checks:
        table.add_row(*_row(remote.api, summary, cells=cells))
    cli.console.print(table)
    cell = "hour" if cells == BAR_HOURS else f"{BAR_HOURS // cells} hours"
    cli.console.print(
        f"bar: one cell per {cell}, oldest first; "
        f"█ all up, ▆ ≥99%, ▄ ≥50%, ▁ <50%, {NO_DATA_CELL} no data",
        style="dim",
        highlight=False,
    )
    _print_firing(cli.console, firing, show=again(cli, remote, "alerts", "show", "{id}"))
    _print_routines(cli.console, routines)


def _print_routines(console: Console, routines: list[dict[str, Any]]) -> None:
    """One line per overdue routine (``routine daily-checks due 09:00 UTC, open 3h, 2/7
    ticked``, the run id after it); a count of the others when none is."""
    if not routines:
        return
    late = [r for r in routines if r["overdue"]]
    if not late:
        console.print(f"{len(routines)} routines, none overdue", style="green", highlight=False)
        return
    console.print(f"{len(late)} routines overdue:", style="bold yellow", highlight=False)
    for routine in late:
        line = Text(f"  {routine['line']}")
        line.append(f"  (run {routine['run_id']})", style="dim")
        console.print(line, highlight=False, soft_wrap=True)


def _print_firing(console: Console, firing: list[dict[str, Any]], *, show: str) -> None:
    """One line per firing alert under the table: what pages, and what is held back and why.

    ``show`` is the command that shows one alert, ``{id}`` in it replaced; it carries the
    ``--server`` and ``--config`` this command was given, so it runs as printed."""
    if not firing:
        console.print("no alerts firing", style="green", highlight=False)
        return
    console.print(f"{len(firing)} firing:", style="bold red", highlight=False)
    for alert in sorted(firing, key=lambda a: (a["severity"], a["id"])):
        name = alert["labels"].get("alertname", alert["rule"] or "?")
        line = Text(f"  {alert['severity']} {name} ({show.replace('{id}', str(alert['id']))})")
        why = alert["muted"]["reason"]
        if why:
            line.append(f"  held: {why}", style="dim")
        console.print(line, highlight=False, soft_wrap=True)
