"""``opsbook alerts``, ``opsbook silence ...`` and ``opsbook maintenance`` on a real store."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from frozen import CLI_NOW
from opsbook.alerts import records
from opsbook.alerts.dispatch import dispatch
from opsbook.alerts.models import AlertStatus
from opsbook.alerts.tables import silence
from opsbook.config import load
from opsbook.store.audit import list_audit

# run_cli's commands read the clock at CLI_NOW: the seeds sit around it.
NOW = CLI_NOW


def _config(window_start: datetime, window_end: datetime) -> str:
    # Twelve hours from now, so the nightly window is never open while the test runs.
    hour = (NOW.astimezone(ZoneInfo("Europe/Berlin")).hour + 12) % 24
    return f"""\
service: shop
timezone: Europe/Berlin
checks:
  api: {{http: {{url: "http://127.0.0.1:1/healthz"}}}}
  db: {{tcp: {{host: 127.0.0.1, port: 1}}}}
components:
  backend: {{name: Backend, checks: [db]}}
alerts:
  api-down: {{when: "api down", severity: SEV1}}
  db-down: {{when: "db down", severity: SEV2}}
maintenance:
  db-upgrade:
    start: "{window_start.isoformat()}"
    end: "{window_end.isoformat()}"
    components: [backend]
    description: Postgres 17
  nightly: {{schedule: "0 {hour} * * *", duration: 30m}}
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(_config(NOW - timedelta(hours=1), NOW + timedelta(hours=1)))
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", store_url)
    monkeypatch.setenv("USER", "ana")
    return path


def _open(engine: Engine, rule: str, check: str, status: AlertStatus, ago: timedelta) -> int:
    with engine.begin() as conn:
        return open_rule_alert(
            conn,
            rule,
            check=check,
            status=status,
            now=NOW - ago,
            annotations={"summary": f"{check} is down"},
        )


@pytest.fixture
def seeded(engine: Engine, config_file: Path) -> dict[str, int]:
    api = _open(engine, "api-down", "api", AlertStatus.FIRING, timedelta(minutes=12))
    db = _open(engine, "db-down", "db", AlertStatus.FIRING, timedelta(minutes=3))
    with engine.begin() as conn:
        old = records.get_alert(conn, api)
        records.set_status(
            conn, old, AlertStatus.RESOLVED, now=NOW - timedelta(minutes=1), message="resolved"
        )
    api_again = _open(engine, "api-down", "api", AlertStatus.PENDING, timedelta(seconds=30))
    config = load(config_file, environ={})
    with engine.begin() as conn:
        dispatch(conn, config=config, now=NOW, emit=None)
    return {"resolved": api, "db": db, "pending": api_again}


def _ids(out: str) -> list[str]:
    return [line.split()[0] for line in out.splitlines() if line.strip()[:1].isdigit()]


def test_alerts_lists_firing_and_pending_with_why_they_are_muted(
    run_cli: Any, config_file: Path, seeded: dict[str, int]
) -> None:
    result = run_cli("alerts", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    assert _ids(result.stdout) == [str(seeded["pending"]), str(seeded["db"])]
    db_row = next(line for line in result.stdout.splitlines() if "db-down" in line)
    assert "firing" in db_row
    assert "maintenance db-upgrade" in db_row
    pending_row = next(line for line in result.stdout.splitlines() if "api-down" in line)
    assert "pending" in pending_row


def test_alerts_all_includes_resolved_newest_first(
    run_cli: Any, config_file: Path, seeded: dict[str, int]
) -> None:
    result = run_cli("alerts", "--all", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    assert _ids(result.stdout) == [
        str(seeded["pending"]),
        str(seeded["db"]),
        str(seeded["resolved"]),
    ]


def test_alerts_fit_80_columns(
    run_cli: Any, config_file: Path, seeded: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    for args in (["alerts", "--all"], ["alerts", "show", str(seeded["db"])], ["maintenance"]):
        result = run_cli(*args, "--config", str(config_file))
        assert result.exit_code == 0, result.stderr
        assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout


def test_alerts_json(run_cli: Any, config_file: Path, seeded: dict[str, int]) -> None:
    result = run_cli("alerts", "--json", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert [a["id"] for a in body] == [seeded["pending"], seeded["db"]]
    assert body[1]["muted"]["maintenance"] == "db-upgrade"


def test_alerts_show_gives_details_and_the_timeline(
    run_cli: Any, config_file: Path, seeded: dict[str, int]
) -> None:
    result = run_cli("alerts", "show", str(seeded["db"]), "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert f"alert {seeded['db']} firing SEV1 db-down" in out
    assert "db is down" in out  # the summary annotation
    assert "maintenance db-upgrade" in out
    assert "timeline" in out
    assert re.search(r"firing\s+db-down firing", out)
    assert re.search(r"maintenance\s+held by maintenance window 'db-upgrade'", out)
    as_json = run_cli("alerts", "show", str(seeded["db"]), "--json", "--config", str(config_file))
    kinds = [e["kind"] for e in json.loads(as_json.stdout)["events"]]
    assert kinds == ["firing", "maintenance"]


@pytest.mark.parametrize(
    ("alert_id", "code", "message"),
    [
        ("999", 1, "error: no alert with id 999"),
        ("x1", 2, "error: ID: 'x1' is not an alert id (a number, see `opsbook alerts`)"),
    ],
)
def test_alerts_show_refuses_a_bad_id(
    run_cli: Any, config_file: Path, engine: Engine, alert_id: str, code: int, message: str
) -> None:
    result = run_cli("alerts", "show", alert_id, "--config", str(config_file))
    assert (result.exit_code, result.stderr.strip()) == (code, message)


def test_no_alerts(run_cli: Any, config_file: Path, engine: Engine) -> None:
    result = run_cli("alerts", "--config", str(config_file))
    assert (result.exit_code, result.stdout.strip()) == (0, "no firing or pending alerts")


@pytest.mark.empty_store
def test_a_missing_or_unmigrated_store_is_one_red_line_and_never_created(
    run_cli: Any, config_file: Path, store_url: str
) -> None:
    result = run_cli("alerts", "--config", str(config_file))
    assert result.exit_code == 1
    if store_url.startswith("sqlite:///"):
        path = store_url.removeprefix("sqlite:///")
        assert f"error: no store at {path} (from OPSBOOK_DATABASE_URL)" in result.stderr
        assert not Path(path).exists()
    else:
        assert "holds no opsbook data (it was never migrated)" in result.stderr
    assert "db upgrade" not in result.stderr
    assert "Traceback" not in result.stderr


def test_silence_add_list_and_expire(run_cli: Any, config_file: Path, engine: Engine) -> None:
    added = run_cli(
        "silence",
        "add",
        "alertname=api-down",
        'instance=~"api-[0-9]+"',
        "--duration",
        "2h",
        "--comment",
        "deploying v2",
        "--config",
        str(config_file),
    )
    assert added.exit_code == 0, added.stderr
    silence_id = added.stdout.strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", silence_id)

    listed = run_cli("silence", "list", "--config", str(config_file))
    assert listed.exit_code == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.startswith(silence_id[:8]))
    assert 'alertname="api-down"' in line
    assert "active" in line
    assert "ana" in line

    as_json = json.loads(run_cli("silence", "list", "--json", "-c", str(config_file)).stdout)
    assert [s["id"] for s in as_json] == [silence_id]
    assert as_json[0]["matchers_text"] == ['alertname="api-down"', 'instance=~"api-[0-9]+"']
    assert as_json[0]["comment"] == "deploying v2"

    expired = run_cli("silence", "expire", silence_id[:8], "--config", str(config_file))
    assert (expired.exit_code, expired.stdout.strip()) == (0, f"ok: silence {silence_id} expired")
    assert run_cli("silence", "list", "-c", str(config_file)).stdout.strip() == "no silences"
    with_expired = run_cli("silence", "list", "--expired", "-c", str(config_file)).stdout
    assert "expired" in with_expired
    with engine.begin() as conn:
        audit = [(a.action, a.actor, a.origin) for a in list_audit(conn)]
    assert audit == [("silence.expire", "user:ana", "cli"), ("silence.create", "user:ana", "cli")]
    again = run_cli("silence", "expire", silence_id, "--config", str(config_file))
    assert again.exit_code == 1
    assert "already expired" in again.stderr


def _count(engine: Engine) -> int:
    with engine.begin() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(silence)).scalar())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["alertname=x", "instance=~api-(", "-d", "1h", "-m", "why"],
            "error: MATCHER[1]: the value is not a regular expression "
            "(it breaks at character 5; use Python's syntax, e.g. api-.*)",
        ),
        (
            ["alertname=x", "-m", "why"],
            "error: give --duration or --until (one of them)",
        ),
        (
            ["alertname=x", "-d", "soon", "-m", "why"],
            "error: --duration: 'soon' is not a duration (use e.g. 30s, 5m, 1h)",
        ),
        (
            ["alertname=x", "--until", "2020-01-01T00:00", "-m", "why"],
            "error: --duration/--until: the silence would end in the past",
        ),
        (
            ["alertname=x", "--until", "tomorrow", "-m", "why"],
            "error: --until: 'tomorrow' is not a date and time "
            "(use ISO 8601, e.g. 2026-11-22T18:00)",
        ),
        (
            ["alertname=x", "-d", "1h", "-m", " "],
            "error: --comment: say why the alerts are silenced",
        ),
        (
            ["team=~.*", "-d", "1h", "-m", "why"],
            "error: MATCHER: at least one matcher must not match the empty string, "
            "or the silence would mute every alert",
        ),
    ],
)
def test_silence_add_refuses_bad_input_naming_the_argument(
    run_cli: Any, config_file: Path, engine: Engine, args: list[str], message: str
) -> None:
    result = run_cli("silence", "add", *args, "--config", str(config_file))
    assert (result.exit_code, result.stderr.strip()) == (2, message)
    assert _count(engine) == 0


def test_silence_add_takes_the_author_option(
    run_cli: Any, config_file: Path, engine: Engine
) -> None:
    result = run_cli(
        "silence",
        "add",
        "db-down",
        "-d",
        "30m",
        "-m",
        "x",
        "--author",
        "ben",
        "-c",
        str(config_file),
    )
    assert result.exit_code == 0, result.stderr
    with engine.begin() as conn:
        assert list_audit(conn)[0].actor == "user:ben"


def test_silence_expire_unknown(run_cli: Any, config_file: Path, engine: Engine) -> None:
    result = run_cli("silence", "expire", "nope", "--config", str(config_file))
    assert (result.exit_code, result.stderr.strip()) == (1, "error: no silence with id 'nope'")


def test_maintenance_shows_open_and_upcoming_windows(run_cli: Any, config_file: Path) -> None:
    result = run_cli("maintenance", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    open_part, _, upcoming_part = out.partition("next 7 days")
    assert "open now" in open_part
    assert re.search(r"db-upgrade .*backend — Postgres 17", open_part)
    assert len(re.findall(r"nightly .*everything", upcoming_part)) == 7
    assert "times in Europe/Berlin" in out
    body = json.loads(run_cli("maintenance", "--json", "-c", str(config_file)).stdout)
    assert [w["name"] for w in body["open"]] == ["db-upgrade"]
    assert [w["name"] for w in body["upcoming"]] == ["nightly"] * 7
