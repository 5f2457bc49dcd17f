"""``opsbook login``, ``whoami`` and ``logout``: the token the CLI sends, per server (issue 12)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from auth_helpers import grant
from opsbook.accounts import Role

CONFIG = "service: t\nserver: {public_url: 'https://ops.example.com'}\nstore: {url: 'sqlite:///opsbook.db'}\n"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return path


def test_login_checks_the_token_saves_it_privately_and_whoami_uses_it(
    cli_api: Callable[..., object], config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = cli_api(config)
    token = grant(api.engine, Role.RESPONDER, name="laptop")  # type: ignore[attr-defined]
    monkeypatch.delenv("OPSBOOK_TOKEN")
    refused = api.run("whoami", "--config", str(config))  # type: ignore[attr-defined]
    assert refused.exit_code == 4 and "opsbook login" in refused.stderr
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("opb_wrong\n"))
    bad = api.run("login", "--token-stdin", "--config", str(config))  # type: ignore[attr-defined]
    assert bad.exit_code == 4 and "not valid" in bad.stderr
    saved = tmp_path / "xdg" / "opsbook" / "tokens.json"
    assert not saved.exists()
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(token + "\n"))
    done = api.run("login", "--token-stdin", "--config", str(config))  # type: ignore[attr-defined]
    assert done.exit_code == 0, done.stderr
    assert "token:laptop (responder)" in done.stdout and token not in done.stdout
    assert json.loads(saved.read_text()) == {"https://ops.example.com": token}
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    who = api.run("whoami", "--config", str(config))  # type: ignore[attr-defined]
    assert who.stdout.strip() == "token:laptop (responder) at https://ops.example.com"
    assert api.requests[-1] == ("GET", "/api/v1/me")  # type: ignore[attr-defined]
    gone = api.run("logout", "--config", str(config))  # type: ignore[attr-defined]
    assert gone.exit_code == 0 and json.loads(saved.read_text()) == {}


def test_the_server_comes_from_the_flag_then_the_environment_then_the_config(
    run_cli: Callable[..., object], config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def transport(method: str, url: str, headers: object, body: object) -> object:
        seen.append(url)
        raise __import__("opsbook.cli.client", fromlist=["Unreachable"]).Unreachable("down")

    monkeypatch.setenv("OPSBOOK_TOKEN", "opb_x")
    run_cli("whoami", "--config", str(config), transport=transport)
    monkeypatch.setenv("OPSBOOK_SERVER", "http://10.0.0.5:9000/")
    run_cli("whoami", "--config", str(config), transport=transport)
    result = run_cli(
        "--server", "http://[::1]:8080", "whoami", "--config", str(config), transport=transport
    )
    assert seen == [
        "https://ops.example.com/api/v1/me",
        "http://10.0.0.5:9000/api/v1/me",
        "http://[::1]:8080/api/v1/me",
    ]
    assert result.exit_code == 1 and "down" in result.stderr  # type: ignore[attr-defined]
    bad = run_cli("--server", "ftp://x", "whoami", "--config", str(config))
    assert bad.exit_code == 2 and "--server" in bad.stderr  # type: ignore[attr-defined]


def test_an_unreachable_server_is_one_line_naming_it(
    run_cli: Callable[..., object], tmp_path: Path
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli(
        "--server", f"http://127.0.0.1:{port}", "whoami", "--config", str(tmp_path / "none.yaml")
    )
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert f"cannot reach the opsbook server at http://127.0.0.1:{port}" in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.stderr  # type: ignore[attr-defined]
