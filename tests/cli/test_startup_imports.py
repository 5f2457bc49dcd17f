"""The CLI imports only what the command it runs needs (issue 15): `opsbook --version` answered
after 1.2 s spent importing every command's dependencies. Asserted on the import graph, which
does not depend on how busy the machine is, rather than on a time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from opsbook.cli.app import COMMANDS, command_name

HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "aiohttp",
    "alembic",
    "psycopg",
    "apprise",
)


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


def test_a_client_command_imports_neither_the_server_nor_the_store() -> None:
    imported = _imported("--server", "http://127.0.0.1:9", "oncall", "who")
    assert "opsbook.cli.oncall" in imported
    assert not {n for n in imported if n.split(".")[0] in HEAVY}
    assert not {n for n in imported if n.startswith(("opsbook.web", "opsbook.store"))}


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--version"], ""),
        (["--server", "http://x", "oncall", "who"], "oncall"),
        (["--server=http://x", "status"], "status"),
        (["--help"], None),
        ([], None),
        (["incident", "--version"], "incident"),
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
