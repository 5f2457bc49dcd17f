"""`opsbook db ...` (placeholder: being written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage the store: migrations.", no_args_is_help=True)
