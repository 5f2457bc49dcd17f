"""``opsbook incidents`` and ``opsbook incident ...`` against the real app (both backends):
the commands are clients of its API (issue 12), so what they print comes from its answers."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from auth_helpers import grant
from frozen import CLI_NOW
from opsbook.accounts import Role
from opsbook.accounts.service import add_account, create_token
from opsbook.config import Config
from opsbook.incidents import records, sync_alerts
from opsbook.store.audit import list_audit

CONFIG = """\
service: shop
timezone: Europe/Berlin
severities:
  SEV1: {respond_within: 15m, page: true}
  SEV2: {respond_within: 1h, page: true}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def api(cli_api: Any, config_file: Path, engine: Engine, store_url: str) -> Any:
    return cli_api(config_file, role=Role.RESPONDER, environ={"OPSBOOK_DATABASE_URL": store_url})


@pytest.fixture
def cli(api: Any, config_file: Path) -> Any:
    def run(*args: str) -> Any:
        return api.run(*args, "--config", str(config_file))

    return run


def _declare(cli: Any, title: str = "Checkout down", severity: str = "SEV1") -> int:
    result = cli("incident", "declare", title, "--severity", severity)
    assert result.exit_code == 0, result.stderr
    return int(result.stdout.strip())


def test_declare_then_list_and_show(api: Any, cli: Any, engine: Engine) -> None:
    first = _declare(cli)
    result = cli("incidents")
    assert result.exit_code == 0
    assert "Checkout down" in result.stdout and "SEV1" in result.stdout
    shown = cli("incident", "show", str(first))
    assert shown.exit_code == 0
    assert f"incident {first}: Checkout down" in shown.stdout
    assert "declared SEV1: Checkout down" in shown.stdout
    assert "token:cli-test" in shown.stdout
    with engine.begin() as conn:
        audit = [a for a in list_audit(conn) if a.action.startswith("incident.")]
    assert [(a.action, a.actor) for a in audit] == [("incident.declared", "token:cli-test")]
    assert audit[0].origin.startswith("api ")
    assert [method for method, _ in api.requests] == ["POST", "GET", "GET"]


def test_the_whole_lifecycle_from_the_command_line(cli: Any, engine: Engine) -> None:
    first = _declare(cli)
    other = _declare(cli, "DB slow", "SEV2")
    steps = [
        ("incident", "ack", str(first)),
        ("incident", "assign", str(first), "--commander", "ben"),
        ("incident", "assign", str(first), "--comms", "cy"),
        ("incident", "severity", str(first), "SEV2"),
        ("incident", "update", str(first), "identified", "-m", "bad deploy 1.4"),
        ("incident", "note", str(first), "-m", "rolling back"),
        ("incident", "update", str(first), "monitoring", "-m", "rolled back"),
        ("incident", "merge", str(other), str(first)),
        ("incident", "update", str(first), "resolved", "-m", "errors gone"),
    ]
    for step in steps:
        result = cli(*step)
        assert (result.exit_code, result.stdout.strip()) == (0, "ok"), (step, result.stderr)
    body = json.loads(cli("incident", "show", str(first), "--json").stdout)
    assert (body["status"], body["severity"], body["commander"], body["comms"]) == (
        "resolved",
        "SEV2",
        "ben",
        "cy",
    )
    assert body["time_to_acknowledge_s"] is not None
    # Acknowledged within seconds of the declaration: SEV2's 1h target is met.
    assert (body["response"]["target_s"], body["response"]["state"]) == (3600, "met")
    shown = cli("incident", "show", str(first)).stdout
    assert "respond    within 1h: met (acknowledged after " in shown
    assert [e["kind"] for e in body["timeline"]] == [
        "declared",
        "acknowledged",
        "role",
        "role",
        "severity",
        "status",
        "note",
        "status",
        "merged_from",
        "status",
    ]
    assert {e["actor"] for e in body["timeline"][:-2]} == {"token:cli-test"}
    assert cli("incidents").stdout.strip() == "no open incidents"
    listed = json.loads(cli("incidents", "--all", "--json").stdout)
    assert [i["id"] for i in listed] == [other, first]
    stats = cli("incidents", "stats", "--since", "1d")
    assert stats.exit_code == 0
    assert "SEV2" in stats.stdout and "MTTA" in stats.stdout
    # SEV2 row: two declared (one merged away, so one counted), its ack met the target.
    sev2 = next(line for line in stats.stdout.splitlines() if line.startswith("SEV2"))
    assert sev2.split()[1:3] == ["1", "1/1"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("declare", "x", "--severity", "SEV9"), "--severity: not a configured severity (use SEV1"),
        (("declare", " ", "--severity", "SEV1"), "TITLE: say what is wrong"),
        (("update", "{id}", "fixed", "-m", "x"), "STATUS: 'fixed' is not an incident status"),
        (("update", "{id}", "identified", "-m", " "), "--message: say what changed"),
        (("update", "{id}", "identified", " "), "MESSAGE: say what changed"),
        (("update", "{id}", "identified"), "MESSAGE: say what changed, e.g. opsbook incident"),
        (("update", "{id}", "identified", "a", "-m", "b"), "MESSAGE: give the message once"),
        (("assign", "{id}"), "give --commander or --comms (one of them)"),
        (("severity", "{id}", "high"), "SEVERITY: not a severity name (use SEV1..SEV9"),
        (("merge", "{id}", "{id}"), "INTO: incident {id} cannot be merged into itself"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(
    cli: Any, args: tuple[str, ...], message: str
) -> None:
    first = _declare(cli)
    result = cli("incident", *(a.format(id=first) for a in args))
    assert result.exit_code == 2
    assert f"error: {message.format(id=first)}" in result.stderr


def test_update_takes_the_message_as_the_readme_writes_it_or_as_an_option(
    cli: Any, engine: Engine
) -> None:
    first = _declare(cli)
    said = cli(
        "incident", "update", str(first), "identified", "pool exhausted", "--eta", "30 minutes"
    )
    assert (said.exit_code, said.stdout, said.stderr) == (0, "ok\n", "")
    optioned = cli("incident", "update", str(first), "monitoring", "--message", "pool resized")
    assert optioned.exit_code == 0, optioned.stderr
    with engine.begin() as conn:
        updates = [e for e in records.timeline(conn, first) if e.kind == "status"]
    assert [u.message for u in updates][-2:] == [
        "identified: pool exhausted",
        "monitoring: pool resized",
    ]


def test_illegal_moves_and_unknown_ids_exit_1_and_an_unknown_into_2(cli: Any) -> None:
    first = _declare(cli)
    assert cli("incident", "update", str(first), "identified", "-m", "found it").exit_code == 0
    result = cli("incident", "update", str(first), "investigating", "-m", "hm")
    assert result.exit_code == 1
    assert f"incident {first} cannot go back from identified to investigating" in result.stderr
    # An unknown INTO is a bad argument (the API's 400 naming $.into), as an unknown
    # --severity is: exit 2. Only the incident the command is about is "not found".
    into = cli("incident", "merge", str(first), "999")
    assert (into.exit_code, into.stderr.strip()) == (2, "error: INTO: no incident with id 999")
    missing = cli("incident", "ack", "999")
    assert (missing.exit_code, missing.stderr.strip()) == (1, "error: no incident with id 999")


def test_show_lists_linked_alerts_from_an_auto_declared_incident(cli: Any, engine: Engine) -> None:
    now = CLI_NOW
    with engine.begin() as conn:
        fired = open_rule_alert(conn, "site-down", check="api", now=now - timedelta(minutes=2))
        [declared] = sync_alerts(conn, config=Config.model_validate({"service": "shop"}), now=now)
        assert records.alert_ids(conn, declared) == [fired]
    shown = cli("incident", "show", str(declared))
    assert f"alerts     {fired}" in shown.stdout
    assert "alert site-down firing" in shown.stdout


def test_who_acts_is_the_person_whose_token_it_is_and_author_is_gone(
    api: Any, cli: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:
        add_account(conn, person="ana", role=Role.RESPONDER, people=["ana"], now=CLI_NOW)
        _, token = create_token(
            conn,
            name="laptop",
            role=Role.RESPONDER,
            person="ana",
            expires_at=None,
            created_by="tests",
            now=CLI_NOW,
        )
    monkeypatch.setenv("OPSBOOK_TOKEN", token)
    monkeypatch.setenv("USER", "mallory")  # no longer anybody's say
    first = _declare(cli)
    assert cli("incident", "ack", str(first)).exit_code == 0
    with engine.begin() as conn:
        assert {e.actor for e in records.timeline(conn, first)} == {"user:ana"}
    gone = cli("incident", "note", str(first), "-m", "x", "--author", "ben")
    assert gone.exit_code == 2
    assert "No such option: --author" in gone.stderr


def test_a_refused_token_a_weak_role_and_an_unknown_id_are_one_line_each(
    api: Any, cli: Any, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _declare(cli)
    missing = cli("incident", "show", "999")
    assert (missing.exit_code, missing.stderr) == (1, "error: no incident with id 999\n")
    monkeypatch.setenv("OPSBOOK_TOKEN", grant(engine, Role.VIEWER, name="wall-screen"))
    assert cli("incident", "show", str(first)).exit_code == 0
    weak = cli("incident", "ack", str(first))
    assert weak.exit_code == 4
    assert weak.stderr.count("\n") == 1 and "responder" in weak.stderr
    monkeypatch.setenv("OPSBOOK_TOKEN", "opb_not-a-token")
    refused = cli("incidents")
    assert refused.exit_code == 4
    assert refused.stderr.count("\n") == 1 and "`opsbook login` again" in refused.stderr
    monkeypatch.delenv("OPSBOOK_TOKEN")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))  # no saved token either
    anonymous = cli("actions")
    assert anonymous.exit_code == 4
    assert "log in with `opsbook login`" in anonymous.stderr
    with engine.begin() as conn:
        assert records.get_incident(conn, first).acknowledged_at is None


# Every command of this file, reading and writing: none opens a store of its own.
COMMANDS = [
    ("incidents",),
    ("incidents", "stats"),
    ("incident", "show", "1"),
    ("incident", "message", "1"),
    ("incident", "postmortem", "1"),
    ("incident", "ack", "1"),
    ("incident", "update", "1", "identified", "pool exhausted"),
    ("incident", "declare", "Checkout down", "--severity", "SEV1"),
    ("incident", "note", "1", "-m", "x"),
    ("incident", "severity", "1", "SEV2"),
    ("incident", "assign", "1", "--commander", "ben"),
    ("incident", "merge", "1", "2"),
    ("incident", "reopen", "1", "-m", "x"),
    ("incident", "action", "1", "Add a canary", "--owner", "ben"),
    ("actions",),
    ("actions", "done", "1"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_without_a_server_it_says_so_in_one_line_and_touches_no_store(
    run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free now, and nobody listens on it
    config = tmp_path / "opsbook.yaml"
    config.write_text(CONFIG + f"server: {{host: 127.0.0.1, port: {port}}}\n")
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")
    monkeypatch.setenv("OPSBOOK_TOKEN", "opb_x")
    before = set(tmp_path.rglob("*"))
    result = run_cli(*command, "--config", str(config))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot reach the opsbook server at http://127.0.0.1:{port} "
    )
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert set(tmp_path.rglob("*")) == before
