"""`opsbook demo`'s login and API token (cli/demo_access.py), and how the panel shows them."""

from __future__ import annotations

import json
import stat
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.engine import Engine

from frozen import CLI_NOW
from opsbook.accounts import Role
from opsbook.accounts import service as accounts
from opsbook.cli.demo_access import DEMO_PERSON, DemoAccess, ensure_access
from opsbook.cli.demo_panel import Invocation, demo_panel, try_commands
from opsbook.config import Config, load
from opsbook.errors import InputError, OpsbookError

REPO = Path(__file__).resolve().parents[2]
SERVER = "http://127.0.0.1:8080"


@pytest.fixture
def demo_config() -> Config:
    return load(REPO / "examples" / "demo" / "opsbook.yaml", environ={})


def _ensure(config: Config, store_url: str, tmp_path: Path) -> DemoAccess:
    return ensure_access(
        config,
        store_url=store_url,
        data_dir=tmp_path / "data",
        server=SERVER,
        environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        actor="user:tester",
        now=CLI_NOW,
    )


def _saved(tmp_path: Path) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((tmp_path / "xdg" / "opsbook" / "tokens.json").read_text())
    return loaded


def test_a_first_start_makes_an_admin_login_and_a_token_for_the_cli_and_curl(
    demo_config: Config, store_url: str, engine: Engine, tmp_path: Path
) -> None:
    access = _ensure(demo_config, store_url, tmp_path)

    assert access.person == DEMO_PERSON and access.token_is_new
    assert access.password is not None and len(access.password) >= 16
    token = access.token_file.read_text().strip()
    assert _saved(tmp_path) == {SERVER: token}
    assert access.tokens_file == tmp_path / "xdg" / "opsbook" / "tokens.json"
    for private in (access.token_file, access.tokens_file):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    with engine.begin() as conn:
        who = accounts.resolve_token(conn, secret=token, now=CLI_NOW)
        logged_in = accounts.log_in(
            conn, person=DEMO_PERSON, password=access.password, address="127.0.0.1", now=CLI_NOW
        )
        [made] = accounts.list_tokens(conn)
    assert who is not None and (who.actor, who.role) == ("user:demo", Role.ADMIN)
    assert logged_in is not None and logged_in.role is Role.ADMIN
    assert made.expires_at is not None and made.created_by == "user:tester"


def test_a_restart_reuses_the_token_and_keeps_the_password(
    demo_config: Config, store_url: str, engine: Engine, tmp_path: Path
) -> None:
    first = _ensure(demo_config, store_url, tmp_path)
    again = _ensure(demo_config, store_url, tmp_path)

    assert again.password is None and not again.token_is_new
    assert again.token_file.read_text() == first.token_file.read_text()
    with engine.begin() as conn:
        assert len(accounts.list_tokens(conn)) == 1
        assert first.password is not None
        assert accounts.log_in(
            conn, person=DEMO_PERSON, password=first.password, address="::1", now=CLI_NOW
        )


def test_a_token_the_store_no_longer_accepts_is_replaced_in_both_files(
    demo_config: Config, store_url: str, engine: Engine, tmp_path: Path
) -> None:
    revoked = _ensure(demo_config, store_url, tmp_path).token_file.read_text().strip()
    with engine.begin() as conn:
        [made] = accounts.list_tokens(conn)
        accounts.revoke_token(conn, token_id=made.id, now=CLI_NOW)

    again = _ensure(demo_config, store_url, tmp_path)

    token = again.token_file.read_text().strip()
    assert again.token_is_new and token != revoked
    assert _saved(tmp_path) == {SERVER: token}


def test_a_token_saved_for_the_server_by_opsbook_login_is_reused_without_the_file(
    demo_config: Config, store_url: str, engine: Engine, tmp_path: Path
) -> None:
    first = _ensure(demo_config, store_url, tmp_path)
    first.token_file.unlink()

    again = _ensure(demo_config, store_url, tmp_path)

    assert not again.token_is_new
    assert again.token_file.read_text().strip() == _saved(tmp_path)[SERVER]


def test_a_config_without_the_demo_person_is_named_and_nothing_is_written(
    store_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text("service: t\noncall:\n  people:\n    ana: {name: Ana}\n")
    with pytest.raises(InputError) as caught:
        _ensure(load(config, environ={}), store_url, tmp_path)
    assert caught.value.field == "--config"
    assert "oncall.people has no such person" in str(caught.value)
    assert not (tmp_path / "data").exists() and not (tmp_path / "xdg").exists()


def test_a_demo_account_that_is_not_an_admin_says_how_to_fix_it(
    demo_config: Config, store_url: str, engine: Engine, tmp_path: Path
) -> None:
    _ensure(demo_config, store_url, tmp_path)
    with engine.begin() as conn:
        accounts.set_role(conn, person=DEMO_PERSON, role=Role.VIEWER, now=CLI_NOW)
    with pytest.raises(OpsbookError) as caught:
        _ensure(demo_config, store_url, tmp_path)
    assert "`opsbook user set demo --role admin`" in str(caught.value)


def _render(access: DemoAccess, run: Invocation) -> str:
    out = StringIO()
    panel = demo_panel(
        service_url="http://127.0.0.1:8081",
        opsbook_url=SERVER,
        log=Path("serve.log"),
        run=run,
        access=access,
    )
    Console(file=out, width=80, color_system=None).print(panel, soft_wrap=True)
    return out.getvalue()


def _access(password: str | None) -> DemoAccess:
    return DemoAccess(
        person="demo",
        password=password,
        token_file=Path("examples/demo/.opsbook-demo/token"),
        tokens_file=Path("/home/x/.config/opsbook/tokens.json"),
        token_is_new=password is not None,
    )


def test_the_panel_shows_the_url_the_login_and_where_the_token_is() -> None:
    run = Invocation(prog=".venv/bin/opsbook")
    lines = _render(_access("s3cret-passw0rd!"), run).splitlines()

    assert "  http://127.0.0.1:8080/" in lines
    assert "Log in at http://127.0.0.1:8080/ as demo, password s3cret-passw0rd!" in lines
    assert any("/home/x/.config/opsbook/tokens.json" in line for line in lines)
    curl = 'curl -H "Authorization: Bearer $(cat examples/demo/.opsbook-demo/token)" '
    assert f"{curl}http://127.0.0.1:8080/api/v1/checks" in lines


def test_on_a_restart_the_panel_says_how_to_reset_the_password_it_no_longer_knows() -> None:
    run = Invocation(prog=".venv/bin/opsbook", env=(("OPSBOOK_SERVER", "http://127.0.0.1:9"),))
    lines = _render(_access(None), run).splitlines()

    assert not any("password s" in line for line in lines)
    reset = "OPSBOOK_SERVER=http://127.0.0.1:9 .venv/bin/opsbook user reset demo"
    assert f"{reset} --config examples/demo/opsbook.yaml" in lines


def test_check_needs_no_server_so_its_line_names_none() -> None:
    run = Invocation(prog="opsbook", env=(("OPSBOOK_SERVER", "http://127.0.0.1:9"),))
    check, status = try_commands(run, opsbook_url="http://127.0.0.1:9")[:2]
    assert check == "opsbook check examples/demo/opsbook.yaml"
    assert status.startswith("OPSBOOK_SERVER=http://127.0.0.1:9 opsbook status ")
