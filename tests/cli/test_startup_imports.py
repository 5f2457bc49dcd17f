"""The CLI imports only what the command it runs needs (issue 15): `opsbook --version` answered
after 1.2 s spent importing every command's dependencies, `--help` took 2.2 s of CPU, and a
client command 0.37-0.77 s, a third of it or more building the config's models. Asserted on the
import graph, which does not depend on how busy the machine is, rather than on a time.

pydantic itself is not on the lists: Typer 0.29 builds a pydantic TypeAdapter for every option
of the command it parses."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.testing

from opsbook.cli.app import COMMANDS, SUMMARIES, build, build_all, command_name

HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "aiohttp",
    "alembic",
    "psycopg",
    "apprise",
    "jinja2",
    "httpx",
)
# What a client command never needs: the server, the store, the domains' tables and services,
# and the config's models (it reads three keys; config/client.py).
SERVER_SIDE = (
    "opsbook.web",
    "opsbook.store",
    "opsbook.config.schema",
    "opsbook.config.loader",
    "opsbook.alerts",
    "opsbook.incidents",
    "opsbook.checks",
    "opsbook.notify",
    "opsbook.runbooks",
)
CONFIG = "service: shop\ntimezone: Europe/Berlin\nserver: {host: 127.0.0.1, port: 9}\n"


PROBE = """
import json, sys
from opsbook.cli.app import main
code = main(sys.argv[1:])
print(json.dumps(sorted(sys.modules)))
"""


def _imported(*args: str) -> set[str]:
    """The modules loaded once the CLI has run ``args`` (through main(), as the script does)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_version_imports_no_command_and_no_config() -> None:
    imported = _imported("--version")
    assert not {n for n in imported if n.split(".")[0] in HEAVY or n == "pydantic"}
    assert not {n for n in imported if n.startswith("opsbook.config")}
    assert not {n for n in imported if n.startswith("opsbook.cli.") and n != "opsbook.cli.app"} - {
        "opsbook.cli.context"
    }


@pytest.mark.parametrize(
    "command",
    [["oncall", "who"], ["status"], ["alerts"], ["incidents"], ["incident", "show", "1"]],
    ids=" ".join,
)
def test_a_client_command_imports_neither_the_server_nor_the_store_nor_the_models(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    # Port 9 (discard) refuses: the command reads the config, asks, and fails after the imports.
    imported = _imported(*command, "--config", str(config))
    module = next(module for name, module, *_ in COMMANDS if name == command[0])
    assert f"opsbook.cli.{module}" in imported
    assert "opsbook.config.client" in imported
    assert not {n for n in imported if n.split(".")[0] in HEAVY}
    assert not {n for n in imported if n.startswith(SERVER_SIDE)}


def test_help_lists_every_command_and_imports_none() -> None:
    imported = _imported("--help")
    assert not {n for n in imported if n.split(".")[0] in HEAVY}
    assert not {n for n in imported if n.startswith("opsbook.cli.")} - {
        "opsbook.cli.app",
        "opsbook.cli.context",
    }


def test_the_listing_is_what_the_commands_say() -> None:
    runner = typer.testing.CliRunner()
    listed = runner.invoke(build(None), ["--help"], terminal_width=120)
    full = runner.invoke(build_all(), ["--help"], terminal_width=120)
    assert "whoami" in listed.output
    assert listed.output == full.output
    commands = typer.main.get_command(build_all()).commands  # type: ignore[attr-defined]
    for name, *_ in COMMANDS:
        said = inspect.cleandoc(commands[name].help or "").partition("\f")[0].split("\n\n")[0]
        assert SUMMARIES[name] == said.strip(), name


def test_the_incident_words_are_the_incidents_domains() -> None:
    from opsbook.cli.incidents import ROLES, STATUSES
    from opsbook.incidents import IncidentStatus, Role

    assert tuple(s.value for s in IncidentStatus) == STATUSES
    assert tuple(r.value for r in Role) == ROLES


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--version"], ""),
        (["--server", "http://x", "oncall", "who"], "oncall"),
        (["--server=http://x", "status"], "status"),
        (["--help"], None),
        ([], None),
        (["incident", "--version"], "incident"),
        (["--help", "oncall"], None),
        (["--", "oncall", "who"], "oncall"),
        (["--server", "http://x", "--"], None),
    ],
)
def test_the_command_is_the_first_word_after_the_root_options(
    args: list[str], name: str | None
) -> None:
    assert command_name(args) == name


def test_every_command_module_and_attribute_exists() -> None:
    import importlib

    for _, module, attribute, _ in COMMANDS:
        assert hasattr(importlib.import_module(f"opsbook.cli.{module}"), attribute), module


def test_what_a_client_command_reads_of_the_config_needs_no_pydantic() -> None:
    # Typer 0.29 imports pydantic for its own options; with a Typer that does not, a client
    # command then loads none of it (0.20 -> 0.17 s of CPU for `oncall who`, measured).
    probe = (
        "import json, sys\n"
        "import opsbook.config, opsbook.config.client, opsbook.config.units\n"
        "import opsbook.config.templates\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    imported = set(json.loads(done.stdout.splitlines()[-1]))
    assert not {n for n in imported if n.split(".")[0] in ("pydantic", "pydantic_core", "jinja2")}
    assert not {
        n for n in imported if n.startswith(("opsbook.config.schema", "opsbook.config.loader"))
    }
