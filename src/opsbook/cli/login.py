"""``opsbook login``, ``logout`` and ``whoami``: which token the CLI sends to which server.

``login`` asks for an API token (made with ``opsbook token create``, or by an admin in the UI),
checks it against the server (``GET /api/v1/me``) and saves it for that server, readable only by
you (cli/client.py). ``$OPSBOOK_TOKEN`` overrides the saved one, for CI and scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from opsbook.cli.client import TOKEN_ENV, ApiClient, save_token, token_for, tokens_file
from opsbook.cli.context import get_context
from opsbook.config.client import ClientConfig, load_client
from opsbook.errors import InputError

if TYPE_CHECKING:
    from opsbook.config import Config

ConfigOption = typer.Option(
    Path("opsbook.yaml"),
    "--config",
    "-c",
    help="The config whose server to use (server.public_url, or server.host and port).",
)


def _config(path: Path, environ: dict[str, str]) -> ClientConfig | Config | None:
    """The config at ``path``, or None when there is none (``--server`` then says where)."""
    return load_client(path, environ=environ) if path.exists() else None


def login(
    ctx: typer.Context,
    config: Path = ConfigOption,
    token_stdin: bool = typer.Option(
        False, "--token-stdin", help="Read the token from stdin instead of asking for it."
    ),
) -> None:
    """Save an API token for the server, after checking that the server accepts it."""
    cli = get_context(ctx)
    base = cli.server_url(_config(config, dict(cli.environ)))
    if token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = typer.prompt(f"API token for {base}", hide_input=True).strip()
    if not token:
        raise InputError("token: paste the token `opsbook token create` printed", field="token")
    who = ApiClient(base, token, transport=cli.transport).get("/api/v1/me")
    path = save_token(cli.environ, base, token)
    cli.console.print(
        f"logged in to {base} as [bold]{who['actor']}[/bold] ({who['role']}); "
        f"the token is saved in {path}",
        highlight=False,
    )
    if cli.environ.get(TOKEN_ENV):
        cli.err_console.print(f"note: ${TOKEN_ENV} is set and is used instead of the saved token")


def logout(ctx: typer.Context, config: Path = ConfigOption) -> None:
    """Forget the token saved for the server (the token itself stays valid until revoked)."""
    cli = get_context(ctx)
    base = cli.server_url(_config(config, dict(cli.environ)))
    path = tokens_file(cli.environ)
    save_token(cli.environ, base, None)
    cli.console.print(f"forgot the token for {base} ({path})", highlight=False)


def whoami(ctx: typer.Context, config: Path = ConfigOption) -> None:
    """Who the server says you are: the person or token, its role, and the server."""
    cli = get_context(ctx)
    base = cli.server_url(_config(config, dict(cli.environ)))
    who = ApiClient(base, token_for(base, cli.environ), transport=cli.transport).get("/api/v1/me")
    cli.console.print(f"{who['actor']} ({who['role']}) at {base}", highlight=False)
