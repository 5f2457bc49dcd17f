"""What a command that asks the server needs: the config (optional), a client, and where times
show. Such a command never opens a store: it sees what the server sees (cli/client.py says how
the server and the token are found).

The config is read only to find the server, the service's name and the timezone to show times
in, and only those keys are checked (``config.client.load_client``). ``--config``
given and missing is an error naming it; the default ``./opsbook.yaml`` may be absent, and then
``--server`` (or ``$OPSBOOK_SERVER``) says where the server is and times show in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from opsbook.cli.client import ApiClient
from opsbook.cli.context import CliContext
from opsbook.config.client import ClientConfig, load_client

if TYPE_CHECKING:
    from opsbook.config import Config

DEFAULT_CONFIG = Path("opsbook.yaml")

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="The opsbook config: names the server (server.public_url, or server.host and "
        "port) and the timezone times show in. Default: ./opsbook.yaml when there is one.",
        dir_okay=False,
        show_default=False,
    ),
]


@dataclass(frozen=True)
class Remote:
    api: ApiClient
    config: ClientConfig | Config | None
    config_path: Path | None

    @property
    def timezone(self) -> str:
        return self.config.timezone if self.config is not None else "UTC"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def connect(cli: CliContext, config: Path | None) -> Remote:
    """The client for the server ``config`` (or ``--server``) names, with the user's token."""
    path = config if config is not None or not DEFAULT_CONFIG.exists() else DEFAULT_CONFIG
    loaded = load_client(path, environ=cli.environ) if path is not None else None
    return Remote(api=cli.api(loaded), config=loaded, config_path=path)


def again(cli: CliContext, remote: Remote, *args: str) -> str:
    """``opsbook ARGS`` as the user can paste it: with the ``--server`` and ``--config`` this
    command was given."""
    words = [cli.prog]
    if cli.server:
        words += ["--server", cli.server]
    words += args
    if remote.config_path is not None:
        words += ["--config", str(remote.config_path)]
    return " ".join(words)
