from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsbook.store import head_revision

# These tests watch migrations run on a store nothing has touched.
pytestmark = pytest.mark.empty_store

SECRET = "S3cretPw-9z"
RunCli = Callable[..., Any]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text("service: t\n", encoding="utf-8")
    return path


@pytest.fixture
def env_store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", store_url)
    return store_url


def test_upgrade_migrates_an_empty_store_and_says_from_and_to(
    run_cli: RunCli, config_file: Path, env_store: str
) -> None:
    result = run_cli("db", "upgrade", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    head = head_revision()
    assert result.stdout.splitlines() == [
        f"migrating store {env_store} from empty to {head}",
        f"ok: store at revision {head} ({env_store})",
    ]


def test_upgrade_twice_is_a_no_op(run_cli: RunCli, config_file: Path, env_store: str) -> None:
    run_cli("db", "upgrade", "--config", str(config_file))
    result = run_cli("db", "upgrade", "--config", str(config_file))
    assert result.exit_code == 0
    assert (
        result.stdout.splitlines()[0]
        == f"store {env_store} is already at revision {head_revision()}"
    )


def test_current_says_none_then_head(run_cli: RunCli, config_file: Path, env_store: str) -> None:
    before = run_cli("db", "current", "--config", str(config_file))
    head = head_revision()
    if env_store.startswith("sqlite:///"):
        # Looking must not create: a SQLite file that is not there is named, and stays absent.
        path = Path(env_store.removeprefix("sqlite:///"))
        assert before.exit_code == 1
        assert f"no store at {path} (from OPSBOOK_DATABASE_URL)" in before.stderr
        assert not path.exists()
    else:
        assert before.exit_code == 0
        assert before.stdout == (
            f"store {env_store}: revision none (expected {head}; run `opsbook db upgrade`)\n"
        )
    run_cli("db", "upgrade", "-c", str(config_file))
    after = run_cli("db", "current", "-c", str(config_file))
    assert after.stdout == f"store {env_store}: revision {head} (at head)\n"


def test_the_store_url_can_come_from_the_config(
    run_cli: RunCli, tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPSBOOK_DATABASE_URL", raising=False)
    path = tmp_path / "store.yaml"
    path.write_text(f"service: t\nstore:\n  url: {sqlite_url}\n", encoding="utf-8")
    result = run_cli("db", "upgrade", "--config", str(path))
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout.splitlines()[-1] == f"ok: store at revision {head_revision()} ({sqlite_url})"
    )


@pytest.mark.parametrize("command", ["upgrade", "current"])
def test_a_missing_config_file_is_a_one_line_error(
    run_cli: RunCli, tmp_path: Path, command: str
) -> None:
    missing = tmp_path / "nope.yaml"
    result = run_cli("db", command, "--config", str(missing))
    assert result.exit_code == 2
    assert f"{missing}: no such file" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["upgrade", "current"])
def test_an_unreachable_store_is_an_error_without_the_password(
    run_cli: RunCli, config_file: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(
        "OPSBOOK_DATABASE_URL", f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{port}/x"
    )
    result = run_cli("db", command, "--config", str(config_file))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: store postgresql+psycopg://postgres:***@127.0.0.1:{port}/x is unreachable"
    )
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_an_unsupported_scheme_is_an_error(
    run_cli: RunCli, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", f"mysql://root:{SECRET}@127.0.0.1/db")
    result = run_cli("db", "upgrade", "--config", str(config_file))
    assert result.exit_code == 1
    assert "unsupported store URL scheme 'mysql'" in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_the_password_never_appears_in_the_output(
    run_cli: RunCli, config_file: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trust auth ignores the password, so this URL connects while carrying a secret.
    url = pg_url.replace("://postgres@", f"://postgres:{SECRET}@", 1)
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", url)
    outputs = [
        run_cli("db", "current", "--config", str(config_file)),
        run_cli("db", "upgrade", "--config", str(config_file)),
        run_cli("db", "upgrade", "--config", str(config_file)),
        run_cli("db", "current", "--config", str(config_file)),
    ]
    assert all(r.exit_code == 0 for r in outputs)
    text = "".join(r.stdout + r.stderr for r in outputs)
    assert SECRET not in text
    assert "postgres:***@127.0.0.1:5432" in text
