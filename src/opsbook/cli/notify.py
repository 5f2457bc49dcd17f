"""``opsbook notify ...``: the notifications that could not be delivered, and sending them again,
through the server (``GET /api/v1/notifications/dead-letters``, ``POST
/api/v1/notifications/{id}/retry``). A retry is audited as whoever the token belongs to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from opsbook.cli.context import get_context
from opsbook.cli.remote import ConfigOption, connect

app = typer.Typer(help="Notifications: dead letters and retries.", no_args_is_help=True)

MAX_LIMIT = 10_000


@app.command("dead-letters")
def dead_letters(
    ctx: typer.Context,
    config: ConfigOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_LIMIT, help="Show at most this many.")
    ] = 50,
) -> None:
    """List notifications that were given up on, newest first, with the reason."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    dead = remote.api.get("/api/v1/notifications/dead-letters", limit=limit)["dead_letters"]
    if not dead:
        cli.console.print("no dead letters", highlight=False)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("id", "channel", "kind", "attempts", "died at (UTC)"):
        table.add_column(name, no_wrap=True)
    table.add_column("reason", overflow="fold")
    for item in dead:
        died = item["dead_at"]
        table.add_row(
            str(item["id"]),
            escape(item["channel"]),
            item["kind"],
            str(item["attempts"]),
            datetime.fromisoformat(died).strftime("%Y-%m-%d %H:%M:%S") if died else "-",
            escape(item["last_error"] or ""),
        )
    cli.console.print(table)
    cli.console.print("send one again with: opsbook notify retry ID", style="dim", highlight=False)


@app.command("retry")
def retry(
    ctx: typer.Context,
    ids: Annotated[list[int], typer.Argument(help="Dead notification ids.", min=1)],
    config: ConfigOption = None,
) -> None:
    """Queue dead notifications again, due now, with a fresh attempt count (all or none)."""
    cli = get_context(ctx)
    remote = connect(cli, config)
    # The server retries one notification per request. All or none: every id is checked
    # against the dead letters first, and one that is not among them is sent alone, so the
    # server's own refusal (not dead; no such notification) is what the user reads and
    # nothing else has been queued.
    dead = remote.api.get("/api/v1/notifications/dead-letters", limit=MAX_LIMIT)["dead_letters"]
    known = {item["id"] for item in dead}
    ordered = sorted(set(ids), key=lambda n: n in known)
    queued = [remote.api.post(f"/api/v1/notifications/{n}/retry") for n in ordered]
    by_id = {item["id"]: item for item in queued}
    for notification_id in ids:
        item = by_id[notification_id]
        cli.console.print(
            f"ok: notification {item['id']} ({escape(item['channel'])}) queued again",
            highlight=False,
        )
