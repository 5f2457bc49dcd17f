"""The Typer root and the CLI's one error boundary (STYLE.md R13).

``main()`` runs the command and turns an ``OpsbookError`` into red lines on stderr with exit code
2 (usage and config mistakes) or 1 (failures). Click's own usage errors keep click's exit code 2.
Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click
import typer
from rich.console import Console
from rich.markup import escape

from opsbook import __version__
from opsbook.cli.context import CliContext, invoked_as
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.errors import ConfigError, OpsbookError

if TYPE_CHECKING:
    from opsbook.cli.client import Transport

# Every command: its name, its module under opsbook.cli, the attribute there, and whether that
# is one command or a group (a Typer app). main() imports only the module of the command it
# runs: importing them all (FastAPI, SQLAlchemy, aiohttp, every pydantic model) took 1.2 s
# before `opsbook --version` could answer (issue 15). Listed in the order `--help` shows them.
COMMANDS: tuple[tuple[str, str, str, bool], ...] = (
    ("check", "check", "check", False),
    ("serve", "serve", "serve", False),
    ("status", "status", "status", False),
    ("demo", "demo", "demo", False),
    ("demo-service", "demo", "demo_service", False),
    ("db", "db", "app", True),
    ("notify", "notify", "app", True),
    ("alerts", "alerts", "app", True),
    ("silence", "alerts", "silence_app", True),
    ("maintenance", "alerts", "maintenance", False),
    ("oncall", "oncall", "app", True),
    ("runbook", "runbook", "app", True),
    ("incidents", "incidents", "list_app", True),
    ("incident", "incidents", "app", True),
    ("actions", "incidents", "actions_app", True),
    ("user", "accounts", "user_app", True),
    ("token", "accounts", "token_app", True),
    ("audit", "audit", "audit", False),
    ("status-page", "status_page", "app", True),
    ("login", "login", "login", False),
    ("logout", "login", "logout", False),
    ("whoami", "login", "whoami", False),
)
# What `opsbook --help` lists for each command: the first paragraph of its help, kept here so
# the listing imports no command (all of them took 2.2 s of CPU). tests/cli/test_startup_imports.py
# holds each equal to the command's own help.
SUMMARIES: dict[str, str] = {
    "check": (
        "Validate a config file and its runbooks, and show the checks, components, severities,\n"
        "alerts and runbooks they define."
    ),
    "serve": "Run the server until SIGTERM or Ctrl-C, then shut down gracefully and exit 0.",
    "status": (
        "Show each check: state, last latency, p95 (1h), availability (24h, 30d), last 24 hours."
    ),
    "demo": "Run opsbook against the bundled demo service until Ctrl-C.",
    "demo-service": "Run only the demo service, with its fault API, until Ctrl-C.",
    "db": "Manage the store: migrations.",
    "notify": "Notifications: dead letters and retries.",
    "alerts": "Show alerts: firing and pending by default.",
    "silence": "Add, list and expire silences.",
    "maintenance": (
        "Maintenance windows open now and in the next 7 days (alerts they hold are not sent)."
    ),
    "oncall": "Who is on call, now or at a time, and the schedule ahead.",
    "runbook": "Runbooks: list, show, import; run one and move its runs on.",
    "incidents": "List incidents: open ones by default.",
    "incident": "Declare, show and work an incident.",
    "actions": "List action items: open ones by default.",
    "user": (
        "Add and manage logins (accounts). Works on the store directly, with or without a "
        "running server (so the first admin can be made before one starts)."
    ),
    "token": (
        "Create, list and revoke API tokens. Works on the store directly, with or without "
        "a running server (so the first admin can be made before one starts)."
    ),
    "audit": (
        "Show the newest audit events, newest first: at (UTC), actor, action, subject, origin."
    ),
    "status-page": "The public status page.",
    "login": "Save an API token for the server, after checking that the server accepts it.",
    "logout": (
        "Forget the token saved for the server (the token itself stays valid until revoked)."
    ),
    "whoami": "Who the server says you are: the person or token, its role, and the server.",
}
ROOT_OPTIONS_WITH_VALUE = frozenset({"--server"})


def _version(value: bool) -> None:
    if value:
        typer.echo(f"opsbook {__version__}")
        raise typer.Exit()


def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    server: str | None = typer.Option(
        None,
        "--server",
        metavar="URL",
        help="The opsbook server to talk to (default: $OPSBOOK_SERVER, else the config's "
        "server.public_url, else server.host and server.port).",
    ),
) -> None:
    if not isinstance(ctx.obj, CliContext):  # main() passes one; click's own entry does not
        ctx.obj = CliContext(console=Console(), err_console=Console(stderr=True))
    ctx.obj.server = server


def build(only: str | None = None) -> typer.Typer:
    """The Typer root for a run of ``main``: with ``only`` that one command when it is a
    command's name; with none for ``""`` (``--version``); else (``--help``, no command, an
    unknown one) with every command's name and summary, imported by none: such a run lists
    them or says the command is unknown, and never runs one."""
    root = _root_app()
    if only in SUMMARIES:
        _add(root, *next(c for c in COMMANDS if c[0] == only))
    elif only != "":
        for name, *_ in sorted(COMMANDS, key=lambda c: c[3]):
            # Typer lists commands before groups; the same order keeps the listing as it was.
            root.command(name, help=SUMMARIES[name])(_listed_only)
    return root


def build_all() -> typer.Typer:
    """The Typer root with every command imported (what the listing stands for)."""
    root = _root_app()
    for command in COMMANDS:
        _add(root, *command)
    return root


def _root_app() -> typer.Typer:
    root = typer.Typer(
        name="opsbook",
        help="Turn an operations runbook into running software.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(_root)
    return root


def _add(root: typer.Typer, name: str, module: str, attribute: str, is_group: bool) -> None:
    found = getattr(importlib.import_module(f"opsbook.cli.{module}"), attribute)
    if is_group:
        root.add_typer(found, name=name)
    else:
        root.command(name)(found)


def _listed_only() -> None:  # pragma: no cover - command_name() routes every run of one
    raise RuntimeError("a listed command ran without being imported; see command_name()")


def command_name(args: Sequence[str]) -> str | None:
    """The command ``args`` run: the first word that is not a root option or its value (or the
    word after ``--``); ``""`` when ``--version`` comes first (it answers before any command);
    None when there is none, or ``--help`` comes first (the root's help lists every command)."""
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in ROOT_OPTIONS_WITH_VALUE:
            skip = True
        elif arg == "--version":
            return ""
        elif arg == "--help":
            return None
        elif arg == "--":
            return args[i + 1] if i + 1 < len(args) else None
        elif not arg.startswith("-"):
            return arg
    return None


# Typer 0.29 runs its own copy of click (``typer._click``) and raises that copy's usage errors
# and its own Exit/Abort; older typers raise click's. Catch both, so a usage mistake is a
# message, never a traceback.
def _usage_errors() -> tuple[type[Exception], ...]:
    try:
        vendored = importlib.import_module("typer._click.exceptions")
    except ImportError:  # pragma: no cover - typer < 0.29
        return (click.ClickException,)
    return (click.ClickException, vendored.ClickException)


_EXIT: tuple[type[Exception], ...] = (click.exceptions.Exit, typer.Exit)
_USAGE = _usage_errors()
_ABORT: tuple[type[Exception], ...] = (click.exceptions.Abort, typer.Abort)


def main(
    argv: Sequence[str] | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    prog: str | None = None,
    transport: Transport | None = None,
) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    ``clock`` is where every command takes "now" from (tests pass a ``FrozenClock``); ``prog``
    is how commands printed for the user start (default: how to run this install's opsbook);
    ``transport`` is how API requests reach the server (default: HTTP; tests call the app).
    """
    err = Console(stderr=True)
    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(build(command_name(args)))
    environ = dict(os.environ)
    cli = CliContext(
        console=Console(),
        err_console=err,
        environ=environ,
        clock=clock,
        prog=prog if prog is not None else invoked_as(environ=environ),
        transport=transport,
    )
    try:
        result = command.main(args=args, prog_name="opsbook", standalone_mode=False, obj=cli)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"[red]{escape(str(problem))}[/red]", highlight=False, soft_wrap=True)
        n = len(exc.problems)
        err.print(f"[red]{n} error{'s' if n != 1 else ''}[/red]", highlight=False)
        return exc.exit_code
    except OpsbookError as exc:
        err.print(f"[red]error: {escape(str(exc))}[/red]", highlight=False, soft_wrap=True)
        return exc.exit_code
    except _EXIT as exc:
        return int(getattr(exc, "exit_code", 1))
    except _USAGE as exc:
        exc.show()  # type: ignore[attr-defined]  # click's ClickException, either copy
        return int(getattr(exc, "exit_code", 2))
    except _ABORT:
        err.print("[red]aborted[/red]")
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
