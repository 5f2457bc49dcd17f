"""``opsbook incidents`` and ``opsbook incident ...`` on a real store (both backends)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from frozen import CLI_NOW
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
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", store_url)
    monkeypatch.setenv("USER", "ana")
    return path


@pytest.fixture
def cli(run_cli: Any, config_file: Path, engine: Engine) -> Any:
    def run(*args: str) -> Any:
        return run_cli(*args, "--config", str(config_file))

    return run


def _declare(cli: Any, title: str = "Checkout down", severity: str = "SEV1") -> int:
    result = cli("incident", "declare", title, "--severity", severity)
    assert result.exit_code == 0, result.stderr
    return int(result.stdout.strip())


def test_declare_then_list_and_show(cli: Any, engine: Engine) -> None:
    first = _declare(cli)
    result = cli("incidents")
    assert result.exit_code == 0
    assert "Checkout down" in result.stdout and "SEV1" in result.stdout
    shown = cli("incident", "show", str(first))
    assert shown.exit_code == 0
    assert f"incident {first}: Checkout down" in shown.stdout
    assert "declared SEV1: Checkout down" in shown.stdout
    assert "user:ana" in shown.stdout
    with engine.begin() as conn:
        assert [a.action for a in list_audit(conn)] == ["incident.declared"]
        assert list_audit(conn)[0].origin == "cli"


def test_the_whole_lifecycle_from_the_command_line(cli: Any, engine: Engine) -> None:
    first = _declare(cli)
    other = _declare(cli, "DB slow", "SEV2")
    steps = [
        ("incident", "ack", str(first)),
        ("incident", "assign", str(first), "--commander", "ben"),
        ("incident", "assign", str(first), "--comms", "cy", "--author", "ben"),
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
    assert body["timeline"][3]["actor"] == "user:ben"
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


def test_illegal_moves_and_unknown_ids_exit_1(cli: Any) -> None:
    first = _declare(cli)
    assert cli("incident", "update", str(first), "identified", "-m", "found it").exit_code == 0
    result = cli("incident", "update", str(first), "investigating", "-m", "hm")
    assert result.exit_code == 1
    assert f"incident {first} cannot go back from identified to investigating" in result.stderr
    into = cli("incident", "merge", str(first), "999")
    assert (into.exit_code, into.stderr.strip()) == (1, "error: INTO: no incident with id 999")
    missing = cli("incident", "ack", "999")
    assert (missing.exit_code, missing.stderr.strip()) == (1, "error: no incident with id 999")


def test_without_user_the_author_is_the_login_name(
    cli: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Containers, cron and CI often have no $USER: the password database still names the account.
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.setattr("getpass.getuser", lambda: "svc-ops")
    result = cli("incident", "declare", "x", "--severity", "SEV1")
    assert result.exit_code == 0, result.stderr
    assert cli("incident", "ack", "1").exit_code == 0
    with engine.begin() as conn:
        actors = {e.actor for e in records.timeline(conn, 1)}
    assert actors == {"user:svc-ops"}


def test_author_is_required_when_nobody_can_be_named(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("USER", raising=False)
    monkeypatch.delenv("LOGNAME", raising=False)

    def no_account() -> str:
        raise KeyError("getpwuid(): uid not found: 4242")

    monkeypatch.setattr("getpass.getuser", no_account)
    result = cli("incident", "declare", "x", "--severity", "SEV1")
    assert result.exit_code == 2
    assert "--author: say who you are (or set $USER)" in result.stderr


def test_show_lists_linked_alerts_from_an_auto_declared_incident(cli: Any, engine: Engine) -> None:
    now = CLI_NOW
    with engine.begin() as conn:
        fired = open_rule_alert(conn, "site-down", check="api", now=now - timedelta(minutes=2))
        [declared] = sync_alerts(conn, config=Config.model_validate({"service": "shop"}), now=now)
        assert records.alert_ids(conn, declared) == [fired]
    shown = cli("incident", "show", str(declared))
    assert f"alerts     {fired}" in shown.stdout
    assert "alert site-down firing" in shown.stdout
