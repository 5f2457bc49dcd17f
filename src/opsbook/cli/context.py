"""What every command receives instead of reaching for globals: the console, the environment,
the clock, who is acting, and the store named by the config."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy.engine import Engine

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config, load
from opsbook.errors import InputError, StoreError
from opsbook.store import create_engine, display_url, is_current, resolve_url


@dataclass
class CliContext:
    console: Console
    err_console: Console
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Every "now" a command uses or shows ("due 12:15 (in 9m)") comes from here, so a test
    # passes a FrozenClock and never depends on the day it runs.
    clock: Clock = SYSTEM_CLOCK

    def author(self, given: str | None = None) -> str:
        """Who acts: ``--author``, else ``$USER``/``$LOGNAME``, else the process's login name.

        Containers, cron and CI often run with ``$USER`` unset; ``getpass.getuser()`` still
        knows the account (it reads the password database). Raises ``InputError`` only when
        none of them names anybody.
        """
        who = (given or self.environ.get("USER") or self.environ.get("LOGNAME") or "").strip()
        if not who:
            try:
                who = getpass.getuser().strip()
            except (OSError, KeyError):  # no passwd entry for this uid
                who = ""
        if not who:
            raise InputError("--author: say who you are (or set $USER)", field="--author")
        return who


def get_context(ctx: typer.Context) -> CliContext:
    """The ``CliContext`` the root callback put on ``ctx.obj``."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):  # a command invoked without the root callback
        obj = CliContext(console=Console(), err_console=Console(stderr=True))
        ctx.find_root().obj = obj
    return obj


@contextmanager
def open_store(cli: CliContext, config: Path) -> Iterator[tuple[Config, Engine]]:
    """Load ``config`` and open its store for one command; disposed on the way out.

    Raises ``StoreError`` (one red line, exit 1) when the store is not migrated to this
    opsbook's schema, with the command that fixes it.
    """
    loaded = load(config, environ=cli.environ)
    url = resolve_url(loaded.store.url, environ=cli.environ)
    engine = create_engine(url)
    try:
        if not is_current(engine):
            raise StoreError(
                f"store {display_url(url)} is not migrated to this opsbook's schema; "
                f"run: opsbook db upgrade --config {config}"
            )
        yield loaded, engine
    finally:
        engine.dispose()
