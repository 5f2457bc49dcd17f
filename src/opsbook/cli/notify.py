"""``opsbook notify ...``: the notifications that could not be delivered, and sending them again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from opsbook.cli.context import get_context, open_store
from opsbook.notify import list_dead_letters, requeue

app = typer.Typer(help="Notifications: dead letters and retries.", no_args_is_help=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False),
]


@app.command("dead-letters")
def dead_letters(
    ctx: typer.Context,
    config: ConfigOption = Path("opsbook.yaml"),
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10_000, help="Show at most this many.")
    ] = 50,
) -> None:
    """List notifications that were given up on, newest first, with the reason."""
    cli = get_context(ctx)
    with open_store(cli, config) as (_, engine), engine.connect() as conn:
        dead = list_dead_letters(conn, limit=limit)
    if not dead:
        cli.console.print("no dead letters", highlight=False)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("id", "channel", "kind", "attempts", "died at (UTC)"):
        table.add_column(name, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for item in dead:
        died = item.dead_at.strftime("%Y-%m-%d %H:%M:%S") if item.dead_at else "-"
        table.add_row(
            str(item.id),
            escape(item.channel),
            item.kind,
            str(item.attempts),
            died,
            escape(item.last_error or ""),
        )
    cli.console.print(table)
    cli.console.print("send one again with: opsbook notify retry ID", style="dim", highlight=False)


@app.command("retry")
def retry(
    ctx: typer.Context,
    ids: Annotated[list[int], typer.Argument(help="Dead notification ids.", min=1)],
    config: ConfigOption = Path("opsbook.yaml"),
) -> None:
    """Queue dead notifications again, due now, with a fresh attempt count (all or none)."""
    cli = get_context(ctx)
    actor = f"user:{cli.author()}"
    now = get_context(ctx).clock.now()
    with open_store(cli, config) as (_, engine), engine.begin() as conn:
        queued = [
            requeue(conn, notification_id, now=now, actor=actor, origin="cli")
            for notification_id in ids
        ]
    for item in queued:
        cli.console.print(
            f"ok: notification {item.id} ({escape(item.channel)}) queued again", highlight=False
        )
