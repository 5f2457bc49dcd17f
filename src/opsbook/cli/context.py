"""What every command receives instead of reaching for globals: the console, the environment,
the clock, who is acting, and the store named by the config."""

from __future__ import annotations

import getpass
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.errors import InputError

# Imported where used: every command imports this module, and `opsbook --version` should not
# pay for the config's models, SQLAlchemy or the HTTP client (issue 15).
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from opsbook.cli.client import ApiClient, Transport
    from opsbook.config import Config
    from opsbook.config.client import ClientConfig


@dataclass
class CliContext:
    console: Console
    err_console: Console
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Every "now" a command uses or shows ("due 12:15 (in 9m)") comes from here, so a test
    # passes a FrozenClock and never depends on the day it runs.
    clock: Clock = SYSTEM_CLOCK
    # How to run opsbook again in a command we print (a hint, the demo's "Try" lines), so it
    # pastes as is: `.venv/bin/opsbook` when that is how it was started and it is not on PATH.
    prog: str = "opsbook"
    # The server commands talk to (``--server``), and how requests reach it: urllib by default,
    # the app in-process in tests (tests/cli_api.py).
    server: str | None = None
    transport: Transport | None = None

    def server_url(self, config: ClientConfig | Config | None) -> str:
        """The server for ``config`` (cli/client.py says how it is chosen)."""
        from opsbook.cli.client import server_url

        return server_url(config, given=self.server, environ=self.environ)

    def api(self, config: ClientConfig | Config | None) -> ApiClient:
        """A client of the server ``config`` names, with the user's token for it."""
        from opsbook.cli.client import ApiClient, token_for

        base = self.server_url(config)
        return ApiClient(base, token_for(base, self.environ), transport=self.transport)

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


def invoked_as(*, environ: Mapping[str, str], argv0: str | None = None) -> str:
    """How the user ran opsbook, to start the commands we print with: as typed when that was
    the ``opsbook`` script (``.venv/bin/opsbook``, or ``opsbook`` from PATH); else (``python -m
    opsbook``) ``opsbook`` when the one on PATH is this install's, or this install's script."""
    typed = sys.argv[0] if argv0 is None else argv0
    if Path(typed).name == "opsbook":
        return typed
    script = Path(sys.executable).parent / "opsbook"
    if not script.is_file():
        return "opsbook"
    on_path = shutil.which("opsbook", path=environ.get("PATH"))
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "opsbook"
    try:
        return str(script.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(script.absolute())


def get_context(ctx: typer.Context) -> CliContext:
    """The ``CliContext`` the root callback put on ``ctx.obj``."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):  # a command invoked without the root callback
        obj = CliContext(console=Console(), err_console=Console(stderr=True))
        ctx.find_root().obj = obj
    return obj


@contextmanager
def open_store(cli: CliContext, config: Path) -> Iterator[tuple[Config, Engine]]:
    """Load ``config`` and open its existing, migrated store for one command; disposed after.

    Never creates or migrates a store. Raises ``StoreError`` (one red line, exit 1) naming the
    store, where its URL came from and how to point at the right one when there is no store
    there or it is not at this opsbook's schema.
    """
    from opsbook.cli.stores import check_revision, require_store, store_target
    from opsbook.config import load
    from opsbook.store import create_engine

    loaded = load(config, environ=cli.environ)
    target = store_target(loaded, config=config, environ=cli.environ)
    require_store(target, config=config)
    engine = create_engine(target.url)
    try:
        check_revision(engine, target, config=config)
        yield loaded, engine
    finally:
        engine.dispose()
