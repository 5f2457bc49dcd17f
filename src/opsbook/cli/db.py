"""`opsbook db ...`: migrate the store and show where it stands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from opsbook.cli.context import get_context
from opsbook.cli.stores import StoreTarget, make_sqlite_folder, require_store, store_target
from opsbook.config import load
from opsbook.store import create_engine, current_revision, display_url, head_revision, upgrade

app = typer.Typer(help="Manage the store: migrations.", no_args_is_help=True)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The opsbook config file.", dir_okay=False),
]


def _say(console: Console, text: str) -> None:
    # soft_wrap: a long store path must stay on one line for grep and for scripts.
    console.print(text, highlight=False, soft_wrap=True)


def _target(ctx: typer.Context, config: Path) -> StoreTarget:
    environ = get_context(ctx).environ
    return store_target(load(config, environ=environ), config=config, environ=environ)


@app.command("upgrade")
def upgrade_command(ctx: typer.Context, config: ConfigOption = Path("opsbook.yaml")) -> None:
    """Migrate the store to the schema this opsbook expects (creating a SQLite file that does
    not exist yet). Running it twice is a no-op."""
    console = get_context(ctx).console
    target = _target(ctx, config)
    make_sqlite_folder(target)
    url = target.url
    shown = escape(display_url(url))
    engine = create_engine(url)
    try:
        before, head = current_revision(engine), head_revision()
        if before == head:
            _say(console, f"store {shown} is already at revision {head}")
        else:
            _say(console, f"migrating store {shown} from {before or 'empty'} to {head}")
            upgrade(engine)
        _say(console, f"ok: store at revision {current_revision(engine)} ({shown})")
    finally:
        engine.dispose()


@app.command("current")
def current_command(ctx: typer.Context, config: ConfigOption = Path("opsbook.yaml")) -> None:
    """Show the store's schema revision and whether it is the one this opsbook expects.

    Creates nothing: a SQLite file that does not exist is an error naming the path."""
    console = get_context(ctx).console
    target = _target(ctx, config)
    require_store(target, config=config)
    url = target.url
    engine = create_engine(url)
    try:
        at, head = current_revision(engine), head_revision()
    finally:
        engine.dispose()
    state = "at head" if at == head else f"expected {head}; run `opsbook db upgrade`"
    _say(console, f"store {escape(display_url(url))}: revision {at or 'none'} ({state})")
