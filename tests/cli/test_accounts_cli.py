"""``opsbook user ...``, ``opsbook token ...`` and ``opsbook audit`` on a real store (both)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from frozen import CLI_NOW
from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.errors import Unauthenticated
from opsbook.store import create_engine, current_revision
from opsbook.store.audit import list_audit

CONFIG = """\
service: t
server: {public_url: "https://ops.example.com/"}
oncall:
  people:
    ana: {name: Ana}
    bo: {name: Bo}
"""
LINK = re.compile(r"^https://ops\.example\.com/setup/([A-Za-z0-9_-]{43})$", re.M)
SECRET = re.compile(r"^(opb_[A-Za-z0-9_-]{43})$", re.M)
PASSWORD = "correct horse battery"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", store_url)
    monkeypatch.setenv("USER", "root-op")
    return path


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """The store the commands wrote to, opened after they ran (a SQLite file is created by the
    first write command, not by this fixture)."""
    engine = create_engine(store_url)
    yield engine
    engine.dispose()


def _add(run_cli, config: Path, person: str, role: str) -> str:  # type: ignore[no-untyped-def]
    result = run_cli("user", "add", person, "--role", role, "-c", str(config))
    assert result.exit_code == 0, result.stderr
    found = LINK.search(result.stdout)
    assert found, result.stdout
    return found.group(1)


def test_user_add_prints_a_setup_link_that_works_once(run_cli, config_file, store) -> None:  # type: ignore[no-untyped-def]
    setup = _add(run_cli, config_file, "ana", "admin")
    with store.begin() as conn:
        assert accounts.has_admin(conn)
        assert accounts.complete_setup(conn, setup=setup, password=PASSWORD, now=CLI_NOW) == "ana"
        [event] = list_audit(conn)
    assert (event.actor, event.action, event.subject, event.origin) == (
        "user:root-op",
        "account.add",
        "account:ana",
        "cli",
    )
    assert event.at == CLI_NOW
    assert event.detail == {"role": "admin", "password_set": False}
    with store.begin() as conn, pytest.raises(Unauthenticated):
        accounts.complete_setup(conn, setup=setup, password=PASSWORD, now=CLI_NOW)


def test_the_setup_link_uses_host_and_port_without_a_public_url(  # type: ignore[no-untyped-def]
    run_cli, config_file
) -> None:
    config_file.write_text(CONFIG.replace('public_url: "https://ops.example.com/"', "port: 9090"))
    result = run_cli("user", "add", "bo", "--role", "viewer", "-c", str(config_file))
    assert result.exit_code == 0, result.stderr
    assert re.search(r"^http://127\.0\.0\.1:9090/setup/[A-Za-z0-9_-]{43}$", result.stdout, re.M)


def test_user_add_with_password_stdin_can_log_in(  # type: ignore[no-untyped-def]
    run_cli, config_file, store, monkeypatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    result = run_cli(
        "user", "add", "bo", "--role", "responder", "--password-stdin", "-c", str(config_file)
    )
    assert result.exit_code == 0, result.stderr
    assert "setup" not in result.stdout and PASSWORD not in result.stdout
    with store.begin() as conn:
        who = accounts.log_in(conn, person="bo", password=PASSWORD, address="t", now=CLI_NOW)
        [event] = list_audit(conn)
    assert who is not None and who.role is Role.RESPONDER
    assert PASSWORD not in json.dumps(event.detail)


def test_user_add_refuses_a_short_password_and_changes_nothing(  # type: ignore[no-untyped-def]
    run_cli, config_file, store, monkeypatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    result = run_cli(
        "user", "add", "bo", "--role", "viewer", "--password-stdin", "-c", str(config_file)
    )
    assert result.exit_code == 2
    assert "--password-stdin: use at least 10 characters" in result.stderr
    assert "short" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("zed", "--role", "admin"), "person: not one of oncall.people (ana, bo)"),
        (("ana", "--role", "root"), "--role: not a role (use viewer, responder, admin)"),
    ],
)
def test_user_add_refuses_bad_input(run_cli, config_file, store_url, args, message) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("user", "add", *args, "-c", str(config_file))
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    listed = run_cli("user", "list", "-c", str(config_file))
    assert "no accounts" in listed.stdout or listed.exit_code == 1


def test_user_set_disable_enable_reset(run_cli, config_file, store) -> None:  # type: ignore[no-untyped-def]
    first = _add(run_cli, config_file, "ana", "responder")
    c = ("-c", str(config_file))
    assert run_cli("user", "set", "ana", "--role", "admin", *c).exit_code == 0
    assert run_cli("user", "disable", "ana", *c).exit_code == 0
    listed = run_cli("user", "list", *c)
    assert re.search(r"ana\s+admin\s+not set\s+2026-06-01 12:00Z", listed.stdout), listed.stdout
    with store.begin() as conn:
        assert not accounts.has_admin(conn)
    assert run_cli("user", "enable", "ana", *c).exit_code == 0
    reset = run_cli("user", "reset", "ana", *c)
    assert reset.exit_code == 0, reset.stderr
    second = LINK.search(reset.stdout)
    assert second and second.group(1) != first
    with store.begin() as conn:
        assert accounts.has_admin(conn)
        assert accounts.complete_setup(conn, setup=second.group(1), password=PASSWORD, now=CLI_NOW)
        actions = [e.action for e in reversed(list_audit(conn))]
    assert actions == [
        "account.add",
        "account.role",
        "account.disable",
        "account.enable",
        "account.reset",
    ]
    assert re.search(r"ana\s+admin\s+set\s+no", run_cli("user", "list", *c).stdout)


def test_user_set_on_someone_without_an_account_is_an_error(run_cli, config_file) -> None:  # type: ignore[no-untyped-def]
    _add(run_cli, config_file, "ana", "admin")
    result = run_cli("user", "disable", "bo", "-c", str(config_file))
    assert result.exit_code == 1
    assert "bo has no account (add one with `opsbook user add`)" in result.stderr


def test_token_create_shows_the_secret_once(run_cli, config_file, store) -> None:  # type: ignore[no-untyped-def]
    c = ("-c", str(config_file))
    created = run_cli("token", "create", "ci", "--role", "responder", *c)
    assert created.exit_code == 0, created.stderr
    found = SECRET.search(created.stdout)
    assert found, created.stdout
    secret = found.group(1)
    assert "will not be shown again" in created.stdout
    assert "expires 2026-08-30 12:00Z" in created.stdout  # the default: 90 days
    with store.begin() as conn:
        who = accounts.resolve_token(conn, secret=secret, now=CLI_NOW)
        [event] = list_audit(conn)
    assert who is not None and who.role is Role.RESPONDER and who.actor == "token:ci"
    assert (event.actor, event.action, event.subject, event.origin) == (
        "user:root-op",
        "token.create",
        "token:1",
        "cli",
    )
    assert secret not in json.dumps(event.detail)
    assert event.detail["prefix"] == secret[:10]
    listed = run_cli("token", "list", *c)
    assert secret not in listed.stdout
    assert re.search(r"1\s+ci\s+-\s+responder\s+opb_", listed.stdout), listed.stdout
    assert "active" in listed.stdout


def test_token_revoke_stops_it(run_cli, config_file, store) -> None:  # type: ignore[no-untyped-def]
    c = ("-c", str(config_file))
    created = run_cli("token", "create", "ci", "--role", "viewer", "--expires", "never", *c)
    found = SECRET.search(created.stdout)
    assert found and "expires never" in created.stdout
    assert run_cli("token", "revoke", "1", *c).exit_code == 0
    with store.begin() as conn:
        assert accounts.resolve_token(conn, secret=found.group(1), now=CLI_NOW) is None
        assert list_audit(conn)[0].action == "token.revoke"
    assert "revoked" in run_cli("token", "list", *c).stdout
    missing = run_cli("token", "revoke", "7", *c)
    assert missing.exit_code == 1 and "no token has id 7" in missing.stderr


def test_a_personal_token_cannot_outrank_its_person(run_cli, config_file, store) -> None:  # type: ignore[no-untyped-def]
    _add(run_cli, config_file, "bo", "viewer")
    c = ("-c", str(config_file))
    result = run_cli("token", "create", "mine", "--role", "admin", "--person", "bo", *c)
    assert result.exit_code == 2
    assert "cannot have more power than its person" in result.stderr
    with store.begin() as conn:
        assert accounts.list_tokens(conn) == []
        assert [e.action for e in list_audit(conn)] == ["account.add"]


def test_token_create_refuses_a_bad_expiry(run_cli, config_file) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(
        "token", "create", "ci", "--role", "viewer", "--expires", "soon", "-c", str(config_file)
    )
    assert result.exit_code == 2
    assert "--expires: not a duration (use e.g. 90d, 12h, or never)" in result.stderr


def test_audit_shows_the_newest_events(run_cli, config_file) -> None:  # type: ignore[no-untyped-def]
    _add(run_cli, config_file, "ana", "admin")
    c = ("-c", str(config_file))
    run_cli("token", "create", "ci", "--role", "viewer", *c)
    table = run_cli("audit", *c)
    assert table.exit_code == 0, table.stderr
    lines = [line for line in table.stdout.splitlines() if "user:root-op" in line]
    assert re.search(
        r"2026-06-01 12:00:00\s+user:root-op\s+token\.create\s+token:1\s+cli", lines[0]
    )
    assert "account.add" in lines[1]
    as_json = json.loads(run_cli("audit", "--json", "--limit", "1", *c).stdout)
    assert [e["action"] for e in as_json] == ["token.create"]
    assert as_json[0]["origin"] == "cli" and as_json[0]["at"] == CLI_NOW.isoformat()


@pytest.mark.parametrize("command", [("user", "list"), ("token", "list"), ("audit",)])
def test_reads_never_create_a_store(run_cli, tmp_path, monkeypatch, command) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG)
    db = tmp_path / "nothing-here.db"
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", f"sqlite:///{db}")
    result = run_cli(*command, "-c", str(path))
    assert result.exit_code == 1
    assert "nothing was created" in result.stderr
    assert not db.exists()


@pytest.mark.empty_store
@pytest.mark.parametrize("command", [("user", "list"), ("audit",)])
def test_reads_never_migrate_a_store(run_cli, config_file, store, command) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(*command, "-c", str(config_file))
    assert result.exit_code == 1
    assert current_revision(store) is None


@pytest.mark.empty_store
def test_the_first_write_creates_and_migrates_the_store(run_cli, config_file, store) -> None:  # type: ignore[no-untyped-def]
    assert current_revision(store) is None
    _add(run_cli, config_file, "ana", "admin")
    assert current_revision(store) is not None


@pytest.mark.parametrize("group", ["user", "token"])
def test_help_says_it_needs_no_server(run_cli, group) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(group, "--help")
    assert "with or without a running server" in " ".join(result.stdout.split())


def test_expiry_follows_the_clock(run_cli, config_file, store) -> None:  # type: ignore[no-untyped-def]
    run_cli("token", "create", "ci", "--role", "viewer", "--expires", "12h", "-c", str(config_file))
    with store.begin() as conn:
        [token] = accounts.list_tokens(conn)
    assert token.expires_at == CLI_NOW + timedelta(hours=12)
