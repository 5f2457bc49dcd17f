"""``opsbook incident action``, ``opsbook actions [done]`` and ``opsbook incident postmortem``
against the real app (both backends), through its API."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy.engine import Engine

from opsbook.accounts import Role
from opsbook.cli.incidents import _actions_table
from opsbook.incidents import action_json, service
from opsbook.incidents.models import ActionItem
from opsbook.store.audit import list_audit

CONFIG = """\
service: shop
timezone: Europe/Berlin
severities:
  SEV1: {respond_within: 15m, page: true}
"""


@pytest.fixture
def cli(cli_api: Any, tmp_path: Path, engine: Engine, store_url: str) -> Any:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG)
    api = cli_api(path, role=Role.RESPONDER, environ={"OPSBOOK_DATABASE_URL": store_url})

    def run(*args: str) -> Any:
        return api.run(*args, "--config", str(path))

    return run


def _declare(cli: Any) -> int:
    result = cli("incident", "declare", "Checkout down", "--severity", "SEV1")
    assert result.exit_code == 0, result.stderr
    return int(result.stdout.strip())


def test_actions_are_added_listed_and_done(cli: Any, engine: Engine) -> None:
    incident_id = _declare(cli)
    added = cli("incident", "action", str(incident_id), "Add a canary", "--owner", "ben")
    assert added.exit_code == 0, added.stderr
    action_id = int(added.stdout.strip())
    dated = cli(
        "incident",
        "action",
        str(incident_id),
        "Pin the pool",
        "--owner",
        "cy",
        "--due",
        "2099-01-02",
    )
    assert dated.exit_code == 0, dated.stderr
    listed = cli("actions")
    assert listed.exit_code == 0
    assert "Add a canary" in listed.stdout and "2099-01-02" in listed.stdout
    mine = cli("actions", "--owner", "cy", "--json")
    assert [a["title"] for a in json.loads(mine.stdout)] == ["Pin the pool"]
    done = cli("actions", "done", str(action_id))
    assert (done.exit_code, done.stdout.strip()) == (0, "ok")
    assert "Add a canary" not in cli("actions").stdout
    assert "Add a canary" in cli("actions", "--all").stdout
    again = cli("actions", "done", str(action_id))
    assert again.exit_code == 1
    assert f"action item {action_id} was already done" in again.stderr
    with engine.begin() as conn:
        actions = [a.action for a in list_audit(conn)]
    assert actions.count("incident.action_added") == 2
    assert actions.count("incident.action_done") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--owner", "ben", "--due", "1 Dec"), "--due: '1 Dec' is not a date (use YYYY-MM-DD"),
        (("--owner", " "), "--owner: name who owns it"),
    ],
)
def test_a_bad_action_names_the_argument(
    cli: Any, engine: Engine, args: tuple[str, ...], message: str
) -> None:
    incident_id = _declare(cli)
    result = cli("incident", "action", str(incident_id), "Add a canary", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert cli("actions").stdout.strip() == "no open action items"


def test_an_overdue_item_is_red() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    items = [
        ActionItem(1, 7, "late", "ben", date(2026, 11, 1), None, now, "user:ana"),
        ActionItem(2, 7, "fine", "ben", date(2026, 12, 1), None, now, "user:ana"),
    ]
    out = io.StringIO()
    Console(file=out, width=100, force_terminal=True, color_system="standard").print(
        _actions_table([action_json(i) for i in items], date(2026, 11, 22))
    )
    lines = out.getvalue().splitlines()
    late = next(line for line in lines if "late" in line)
    fine = next(line for line in lines if "fine" in line)
    assert "\x1b[31m2026-11-01\x1b[0m" in late
    assert "\x1b[31m" not in fine


def test_postmortem_prints_writes_and_reports_a_broken_template(
    cli: Any, engine: Engine, tmp_path: Path
) -> None:
    incident_id = _declare(cli)
    cli("incident", "action", str(incident_id), "Add a canary", "--owner", "ben")
    shown = cli("incident", "postmortem", str(incident_id))
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("# Incident Postmortem: Checkout down\n")
    assert "## Timeline (Europe/Berlin)\n" in shown.stdout
    assert "- [ ] Add a canary - Owner: ben - Due: -\n" in shown.stdout
    target = tmp_path / "pm.md"
    written = cli("incident", "postmortem", str(incident_id), "-o", str(target))
    assert (written.exit_code, written.stdout.strip()) == (0, f"wrote {target}")
    with engine.begin() as conn:
        events = service.timeline(conn, incident_id)
    assert all(f"({e.actor})" in target.read_text() for e in events)
    broken = tmp_path / "broken.md.j2"
    broken.write_text("# {{ incident.title }}\n{{ incident.title | nofilter }}\n")
    result = cli("incident", "postmortem", str(incident_id), "--template", str(broken))
    assert result.exit_code == 2
    assert f"error: {broken}:2: " in result.stderr and "nofilter" in result.stderr
    missing = cli("incident", "postmortem", str(incident_id), "--template", str(tmp_path / "no"))
    assert missing.exit_code == 2
    assert "--template: cannot read" in missing.stderr
    unknown = cli("incident", "postmortem", "999")
    assert unknown.exit_code == 1
    assert "no incident with id 999" in unknown.stderr
