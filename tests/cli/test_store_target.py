"""Which store a command reads, and that no command but ``db upgrade`` and ``serve`` creates one.

The bug: without ``OPSBOOK_DATABASE_URL``, ``opsbook status --config examples/demo/opsbook.yaml``
opened (and so created) ``./opsbook.db`` instead of the demo's store, and after ``db upgrade``
said "no alerts firing" while two SEV1 alerts fired. Since issue 12 ``status``, ``alerts``,
``silence``, ``maintenance``, ``oncall`` and ``notify`` ask the server and open no store at all,
and ``incident``, ``incidents`` and ``actions`` too. The commands that still open one (``db``,
``audit``) never create or migrate it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from auth_helpers import grant
from frozen import CLI_NOW
from opsbook.store import create_engine, head_revision
from serving import Server
from unreachable import closed_port

RunCli = Callable[..., Any]
CONFIG = """\
service: shop
severities:
  SEV1: {respond_within: 15m, page: true}
checks:
  # A heartbeat that is not due for an hour: the served engine never fires api-down by itself,
  # so the alert a test writes is the only one (an http check of a closed port raced it).
  api:
    heartbeat: {period: 1h, grace: 1h}
alerts:
  api-down: {when: "api down", severity: SEV1}
"""
# Every command that still reads the store.
COMMANDS = [
    ("db", "current"),
    ("audit",),
]
# Every command that asks the server instead (issue 12), reads and writes.
SERVER_COMMANDS = [
    ("status",),
    ("alerts",),
    ("alerts", "--all"),
    ("alerts", "show", "1"),
    ("silence", "list"),
    ("maintenance",),
    ("oncall", "who"),
    ("notify", "dead-letters"),
    ("silence", "add", "api-down", "-d", "2h", "-m", "deploying"),
    ("silence", "expire", "0123"),
    ("notify", "retry", "1"),
    ("incidents",),
    ("incidents", "stats"),
    ("incident", "show", "1"),
    ("incident", "message", "1"),
    ("incident", "postmortem", "1"),
    ("actions",),
    ("incident", "ack", "1"),
    ("incident", "update", "1", "identified", "pool exhausted"),
    ("incident", "declare", "Checkout down", "--severity", "SEV1"),
]


@pytest.fixture(autouse=True)
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPSBOOK_DATABASE_URL", raising=False)
    monkeypatch.setenv("USER", "ana")


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory: not the config's folder, as when the README's commands run."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def _config(folder: Path, store: str | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "opsbook.yaml"
    path.write_text(CONFIG + (f"store:\n  url: {store}\n" if store else ""), encoding="utf-8")
    return path


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_no_command_creates_a_missing_store_from_the_environment(
    run_cli: RunCli,
    tmp_path: Path,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    config = _config(tmp_path / "site", None)
    store = tmp_path / "nowhere" / "opsbook.db"
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", f"sqlite:///{store}")
    before = _files(tmp_path)
    result = run_cli(*command, "--config", str(config))
    assert result.exit_code == 1, result.stdout + result.stderr
    assert result.stderr == (
        f"error: no store at {store} (from OPSBOOK_DATABASE_URL); nothing was created. "
        f"point at the store `opsbook serve` uses with store.url in {config} or with "
        "OPSBOOK_DATABASE_URL\n"
    )
    assert _files(tmp_path) == before
    assert result.stdout == ""


@pytest.mark.parametrize("command", SERVER_COMMANDS, ids=" ".join)
def test_a_command_that_asks_the_server_opens_no_store(
    run_cli: RunCli,
    tmp_path: Path,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    config = _config(tmp_path / "site", None)
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere' / 'opsbook.db'}")
    before = _files(tmp_path)
    with closed_port() as port:
        server = f"http://127.0.0.1:{port}"
        result = run_cli("--server", server, *command, "--config", str(config))
    assert result.exit_code == 1, result.stdout + result.stderr
    # One red line naming the server, not the store: the store is the server's business.
    assert result.stderr.startswith(f"error: cannot reach the opsbook server at {server} (")
    assert result.stderr.count("\n") == 1
    assert "store" not in result.stderr
    assert _files(tmp_path) == before
    assert result.stdout == ""


def test_the_default_store_is_named_and_not_created(run_cli: RunCli, elsewhere: Path) -> None:
    config = _config(elsewhere, None)
    result = run_cli("db", "current", "--config", "opsbook.yaml")
    assert result.exit_code == 1
    assert (
        f"error: no store at {elsewhere / 'opsbook.db'} (the default: opsbook.yaml has no "
        "store.url and OPSBOOK_DATABASE_URL is unset); nothing was created." in result.stderr
    )
    assert _files(elsewhere) == {config.name}
    assert "no alerts firing" not in result.stdout


def test_a_relative_store_url_is_relative_to_the_config_folder(
    run_cli: RunCli, cli_api: Callable[..., Any], tmp_path: Path, elsewhere: Path
) -> None:
    config = _config(tmp_path / "site", "sqlite:///data/opsbook.db")
    missing = run_cli("db", "current", "--config", str(config))
    assert missing.exit_code == 1
    assert (
        f"no store at {tmp_path / 'site' / 'data' / 'opsbook.db'} (from store.url in {config})"
        in missing.stderr
    )
    # db upgrade creates it there (folder included), not in the working directory.
    made = run_cli("db", "upgrade", "--config", str(config))
    assert made.exit_code == 0, made.stderr
    assert (tmp_path / "site" / "data" / "opsbook.db").is_file()
    assert _files(elsewhere) == set()
    # The server for this config (the same store rule) serves that store, and status asks it.
    api = cli_api(config)
    assert str(api.engine.url) == f"sqlite:///{tmp_path / 'site' / 'data' / 'opsbook.db'}"
    with api.engine.begin() as conn:
        open_rule_alert(conn, "api-down", check="api", now=CLI_NOW)
    result = api.run("status", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert "1 firing:" in result.stdout
    assert "no alerts firing" not in result.stdout


def test_serve_uses_the_store_its_config_names_and_the_cli_asks_it(
    serve: Callable[..., Server],
    run_cli: RunCli,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = serve(CONFIG + "store:\n  url: sqlite:///state/opsbook.db\n")
    status, _ = server.request("GET", "/ready")
    assert status == 200
    assert (tmp_path / "state" / "opsbook.db").is_file()
    assert not (Path.cwd() / "state").exists()
    engine = create_engine(f"sqlite:///{tmp_path / 'state' / 'opsbook.db'}")
    try:
        monkeypatch.setenv("OPSBOOK_TOKEN", grant(engine))
        config = str(tmp_path / "opsbook.yaml")
        result = run_cli("--server", server.url, "alerts", "--config", config)
        assert (result.exit_code, result.stdout) == (0, "no firing or pending alerts\n")
        with engine.begin() as conn:
            open_rule_alert(conn, "api-down", check="api", now=CLI_NOW)
    finally:
        engine.dispose()
    result = run_cli("--server", server.url, "alerts", "--config", config)
    assert result.exit_code == 0, result.stderr
    assert "api-down" in result.stdout


@pytest.fixture
def empty_sqlite(tmp_path: Path) -> Iterator[Path]:
    """A SQLite file that exists but is not an opsbook store (an app's own database, say)."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    yield path


def test_an_unmigrated_store_is_not_taken_for_the_servers(
    run_cli: RunCli, tmp_path: Path, empty_sqlite: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path / "site", None)
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", f"sqlite:///{empty_sqlite}")
    result = run_cli("audit", "--config", str(config))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: store sqlite:///{empty_sqlite} (from OPSBOOK_DATABASE_URL) holds no opsbook "
        "data (it was never migrated), so no opsbook server uses it; point at the store"
    )
    # Migrating it is not the fix for a read: that would only turn the error into "all clear".
    assert "db upgrade" not in result.stderr
    with sqlite3.connect(empty_sqlite) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"notes"}


def test_a_store_at_another_revision_names_both(
    run_cli: RunCli,
    tmp_path: Path,
    engine: Engine,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    try:
        config = _config(tmp_path / "site", None)
        monkeypatch.setenv("OPSBOOK_DATABASE_URL", store_url)
        result = run_cli("audit", "--config", str(config))
        assert result.exit_code == 1
        assert (
            f"is at schema revision f00dfeed, and this opsbook expects {head_revision()}: "
            "the store was last migrated by another opsbook version" in result.stderr
        )
    finally:
        with engine.begin() as conn:  # the PostgreSQL store is shared by the next tests
            conn.execute(sa.text(f"UPDATE alembic_version SET version_num = '{head_revision()}'"))


def test_a_store_folder_that_cannot_be_made_is_one_red_line(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = _config(tmp_path / "site", None)
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", f"sqlite:///{blocker}/data/opsbook.db")
    result = run_cli("db", "upgrade", "--config", str(config))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot create the folder of the store {blocker}/data/opsbook.db "
        "(from OPSBOOK_DATABASE_URL): "
    )
    assert "Traceback" not in result.stderr
