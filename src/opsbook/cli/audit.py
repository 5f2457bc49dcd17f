"""``opsbook audit``: the newest audit events (who did what, to what, when, from where).

Reads the store directly, like ``opsbook user`` and ``opsbook token``, so it works with or
without a running server; it never creates or migrates a store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from opsbook.cli.context import get_context, open_store
from opsbook.store.audit import list_audit

MAX_LIMIT = 10_000
WHEN = "%Y-%m-%d %H:%M:%S"


def audit(
    ctx: typer.Context,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=MAX_LIMIT, help="How many events.")
    ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False)
    ] = Path("opsbook.yaml"),
) -> None:
    """Show the newest audit events, newest first: at (UTC), actor, action, subject, origin.

    Works on the store directly, with or without a running server; never creates a store."""
    cli = get_context(ctx)
    with open_store(cli, config) as (_, engine), engine.begin() as conn:
        events = list_audit(conn, limit=limit)
    if as_json:
        body = [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "detail": e.detail,
                "origin": e.origin,
            }
            for e in events
        ]
        cli.console.print(json.dumps(body, indent=2), markup=False, highlight=False, soft_wrap=True)
        return
    if not events:
        cli.console.print("no audit events", markup=False, highlight=False)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for column in ("at", "actor", "action", "subject", "origin"):
        table.add_column(column, no_wrap=column == "at", overflow="fold")
    for e in events:
        table.add_row(e.at.strftime(WHEN), e.actor, e.action, e.subject, e.origin)
    cli.console.print(table)
