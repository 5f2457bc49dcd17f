"""`opsbook check` (placeholder: being written)."""

from __future__ import annotations

import typer


def check(ctx: typer.Context) -> None:
    """Not yet written."""
    raise typer.Exit(1)
