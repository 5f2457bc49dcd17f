"""What every command receives instead of reaching for globals: the console and the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import typer
from rich.console import Console


@dataclass
class CliContext:
    console: Console
    err_console: Console
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def get_context(ctx: typer.Context) -> CliContext:
    """The ``CliContext`` the root callback put on ``ctx.obj``."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):  # a command invoked without the root callback
        obj = CliContext(console=Console(), err_console=Console(stderr=True))
        ctx.find_root().obj = obj
    return obj
