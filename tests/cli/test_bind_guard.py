"""``opsbook serve`` refuses a non-loopback address while the store has no enabled admin."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import structlog
from sqlalchemy.engine import Engine

from frozen import CLI_NOW
from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.cli.bind_guard import check_bind, is_loopback
from opsbook.errors import InputError
from opsbook.redaction import Secret

REFUSAL = "user add NAME --role admin` (NAME from oncall.people)"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.7", False),
        ("ops.example.com", False),
        ("localhost.example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def _add_admin(engine: Engine, *, disabled: bool = False) -> None:
    with engine.begin() as conn:
        accounts.add_account(conn, person="ana", role=Role.ADMIN, people=["ana"], now=CLI_NOW)
        if disabled:
            accounts.set_disabled(conn, person="ana", disabled=True, now=CLI_NOW)


def test_it_refuses_a_public_bind_without_an_admin(engine: Engine, store_url: str) -> None:
    with engine.begin() as conn:
        accounts.add_account(conn, person="bo", role=Role.RESPONDER, people=["bo"], now=CLI_NOW)
    with pytest.raises(InputError, match="user add NAME --role admin") as caught:
        check_bind("0.0.0.0", url=Secret(store_url))
    assert caught.value.field == "--host"


def test_a_disabled_admin_does_not_count(engine: Engine, store_url: str) -> None:
    _add_admin(engine, disabled=True)
    with pytest.raises(InputError):
        check_bind("::", url=Secret(store_url))


def test_an_enabled_admin_allows_a_public_bind(engine: Engine, store_url: str) -> None:
    _add_admin(engine)
    check_bind("0.0.0.0", url=Secret(store_url))


@pytest.mark.empty_store
def test_a_store_never_migrated_has_no_admin(store_url: str) -> None:
    with pytest.raises(InputError):
        check_bind("0.0.0.0", url=Secret(store_url))


def test_loopback_needs_no_admin_and_no_store() -> None:
    check_bind("127.0.0.1", url=Secret("postgresql+psycopg://nobody@127.0.0.1:1/none"))


def test_an_unreachable_store_is_a_warning_not_a_refusal() -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, then released
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    url = Secret(f"postgresql+psycopg://nobody:Zq9xPass@127.0.0.1:{closed_port}/none")
    with structlog.testing.capture_logs() as logs:
        check_bind("0.0.0.0", url=url)
    assert [entry["event"] for entry in logs] == ["bind_guard_skipped"]
    assert "Zq9xPass" not in str(logs[0])


def test_serve_exits_with_the_way_to_create_an_admin(  # type: ignore[no-untyped-def]
    run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str
) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text("service: t\n")
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", store_url)
    # A documentation address (RFC 5737) that is not this host's: had the guard let it through,
    # uvicorn could not bind it and serve would exit 1 at once instead of 2 with this message.
    result = run_cli("serve", "--host", "192.0.2.1", "--port", "0", "-c", str(config))
    assert result.exit_code == 2, result.stderr
    assert "--host: refusing to listen on 192.0.2.1" in result.stderr
    assert REFUSAL in result.stderr
