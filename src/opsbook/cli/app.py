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

import click
import typer
from rich.console import Console
from rich.markup import escape

from opsbook import __version__
from opsbook.cli import accounts as accounts_cli
from opsbook.cli import alerts, check, db, demo, incidents, login, notify, oncall, serve, status
from opsbook.cli import audit as audit_cli
from opsbook.cli import runbook as runbook_cli
from opsbook.cli import status_page as status_page_cli
from opsbook.cli.client import Transport
from opsbook.cli.context import CliContext, invoked_as
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.errors import ConfigError, OpsbookError

app = typer.Typer(
    name="opsbook",
    help="Turn an operations runbook into running software.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"opsbook {__version__}")
        raise typer.Exit()


@app.callback()
def root(
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


app.command("check")(check.check)
app.command("serve")(serve.serve)
app.command("status")(status.status)
app.command("demo")(demo.demo)
app.command("demo-service")(demo.demo_service)
app.add_typer(db.app, name="db")
app.add_typer(notify.app, name="notify")
app.add_typer(alerts.app, name="alerts")
app.add_typer(alerts.silence_app, name="silence")
app.command("maintenance")(alerts.maintenance)
app.add_typer(oncall.app, name="oncall")
app.add_typer(runbook_cli.app, name="runbook")
app.add_typer(incidents.list_app, name="incidents")
app.add_typer(incidents.app, name="incident")
app.add_typer(incidents.actions_app, name="actions")
app.add_typer(accounts_cli.user_app, name="user")
app.add_typer(accounts_cli.token_app, name="token")
app.command("audit")(audit_cli.audit)
app.add_typer(status_page_cli.app, name="status-page")
app.command("login")(login.login)
app.command("logout")(login.logout)
app.command("whoami")(login.whoami)


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
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
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
