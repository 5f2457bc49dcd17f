"""``opsbook status`` against the real app in-process (``cli_api``), on a seeded store."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from frozen import CLI_NOW
from opsbook.accounts import Role
from opsbook.alerts.models import AlertStatus
from opsbook.alerts.tables import alert as alert_table
from opsbook.checks import service
from opsbook.checks.models import ProbeResult, State
from opsbook.cli.context import invoked_as
from opsbook.clock import FrozenClock
from opsbook.runbooks.models import Registry
from opsbook.runbooks.parse import parse_runbook
from opsbook.runbooks.registry import Loaded
from opsbook.runbooks.routine_task import RoutineTask
from runbook_helpers import SETTINGS
from unreachable import closed_port

SECRET = "S3cretPw-9z"
CONFIG = f"""\
service: shop
checks:
  api:
    http: {{url: "http://127.0.0.1:1/healthz"}}
    slo: {{p95: 50ms, availability: 99.9%}}
  slow:
    tcp: {{host: 127.0.0.1, port: 1}}
    slo: {{p95: 50ms}}
  db:
    postgres: {{dsn: "postgresql://app:{SECRET}@127.0.0.1:1/app"}}
"""


def _seed(engine: Engine) -> None:
    now = CLI_NOW
    results = []
    for i in range(12 * 120):  # the last 12 hours, every 30 s
        at = now - timedelta(hours=12) + i * timedelta(seconds=30)
        down = i < 20  # ten minutes down twelve hours ago
        results.append(ProbeResult("api", at, State.DOWN if down else State.UP, 20.0))
        results.append(ProbeResult("slow", at, State.DEGRADED if i % 2 else State.UP, 120.0))
    with engine.begin() as conn:
        service.record_results(conn, results=results, intervals={})


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def api(cli_api: Callable[..., Any], config_file: Path, store_url: str) -> Any:
    """The server for ``config_file``, on the test's store, with an admin token."""
    return cli_api(config_file, environ={"OPSBOOK_DATABASE_URL": store_url})


@pytest.fixture
def seeded(api: Any) -> Any:
    _seed(api.engine)
    return api


def _row(out: str, check_id: str) -> list[str]:
    line = next(x for x in out.splitlines() if x.strip().startswith(f"{check_id} "))
    return re.split(r"\s{2,}", line.strip())


def test_it_shows_each_check_against_its_slo(seeded: Any, config_file: Path) -> None:
    result = seeded.run("status", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    check, state, last, p95, day, month, bar = _row(result.stdout, "api")
    assert (check, state, last, p95) == ("api", "up", "20.0ms", "19.5ms")
    assert day == month == f"{100 * (1 - 600 / (12 * 3600)):.3f}%"
    # 12 hours without data, then the outage (in one or two cells, by the clock), then all up.
    assert len(bar) == 24
    assert bar.startswith("·" * 11)
    assert bar.endswith("█" * 10)
    assert set(bar[11:14]) & {"▁", "▄"}
    assert _row(result.stdout, "slow")[1:4] == ["degraded", "120.0ms", "119.3ms"]
    assert "no data yet" in _row(result.stdout, "db")
    # Asked of the server: the list, then each check with results (none for db).
    assert [path.split("?")[0] for _, path in seeded.requests] == [
        "/api/v1/checks",
        "/api/v1/alerts",
        "/api/v1/routines",
        "/api/v1/checks/api",
        "/api/v1/checks/slow",
    ]


def test_on_an_80_column_terminal_the_bar_halves_and_the_table_fits(
    seeded: Any, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = seeded.run("status", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    assert all(len(line) <= 80 for line in result.stdout.splitlines())
    bar = _row(result.stdout, "api")[-1]
    assert len(bar) == 12
    assert bar.endswith("█" * 5)
    assert "one cell per 2 hours" in result.stdout


def test_secrets_never_appear(seeded: Any, config_file: Path) -> None:
    result = seeded.run("status", "--config", str(config_file))
    assert SECRET not in result.stdout + result.stderr


def test_it_never_opens_a_store_and_says_when_the_server_is_unreachable(
    run_cli: Any, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "nowhere" / "opsbook.db"
    monkeypatch.setenv("OPSBOOK_DATABASE_URL", f"sqlite:///{store}")
    with closed_port() as port:
        result = run_cli("--server", f"http://127.0.0.1:{port}", "status", "-c", str(config_file))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: cannot reach the opsbook server at http://127.0.0.1:{port} ("
    )
    assert "is `opsbook serve` running?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # no traceback
    assert not store.parent.exists()


def test_without_a_token_it_says_to_log_in(
    api: Any, config_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPSBOOK_TOKEN")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    result = api.run("status", "--config", str(config_file))
    assert result.exit_code != 0
    assert "opsbook login" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_config_is_an_error_naming_it(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("status", "--config", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "nope.yaml" in result.stderr


@pytest.mark.parametrize(
    ("value", "target", "style"),
    [(99.95, 99.9, ""), (99.9, 99.9, ""), (99.89, 99.9, "red"), (50.0, None, "")],
)
def test_availability_is_red_where_it_misses_the_slo(
    value: float, target: float | None, style: str
) -> None:
    from opsbook.cli.status import _percent

    assert _percent(value, target).style == style


@pytest.mark.parametrize(
    ("value_ms", "target", "shown", "style"),
    [
        (49.0, timedelta(milliseconds=50), "49.0ms", ""),
        (51.0, timedelta(milliseconds=50), "51.0ms", "red"),
        (2500.0, None, "2.50s", ""),
    ],
)
def test_latency_is_red_where_it_misses_the_slo(
    value_ms: float, target: timedelta | None, shown: str, style: str
) -> None:
    from opsbook.cli.status import _ms

    text = _ms(value_ms, target.total_seconds() * 1000 if target else None)
    assert (text.plain, text.style) == (shown, style)


def test_it_lists_firing_alerts_and_why_one_is_held(seeded: Any, config_file: Path) -> None:
    now = CLI_NOW
    with seeded.engine.begin() as conn:
        open_rule_alert(conn, "api-down", check="api", now=now)
        held = open_rule_alert(conn, "slow-tcp", check="slow", now=now)
        conn.execute(
            alert_table.update()
            .where(alert_table.c.id == held)
            .values(suppressed_reason="db is down")
        )
        open_rule_alert(conn, "db-slow", check="db", now=now, status=AlertStatus.PENDING)
    result = seeded.run("status", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("2 firing:")
    prog = invoked_as(environ=os.environ)
    show = f"{prog} alerts show {{}} --config {config_file}"
    assert lines[start + 1 : start + 3] == [
        f"  SEV1 api-down ({show.format(1)})",
        f"  SEV1 slow-tcp ({show.format(2)})  held: suppressed: db is down",
    ]
    assert "db-slow" not in result.stdout  # pending, not firing
    # The hint runs as printed: it names the config this command was given.
    hint = shlex.split(lines[start + 1].split("(", 1)[1].rstrip(")"))
    assert hint[0] == prog
    shown = seeded.run(*hint[1:])
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("alert 1 firing SEV1 api-down")


def test_a_viewer_token_is_enough(
    cli_api: Callable[..., Any], config_file: Path, store_url: str
) -> None:
    viewer = cli_api(config_file, role=Role.VIEWER, environ={"OPSBOOK_DATABASE_URL": store_url})
    result = viewer.run("status", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr


def test_it_says_when_nothing_fires(seeded: Any, config_file: Path) -> None:
    result = seeded.run("status", "--config", str(config_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.rstrip().endswith("no alerts firing")


ROUTINE = """\
---
title: Daily checks
schedule: "0 9 * * *"
---
# Daily checks

```sh {name=disk}
echo "disk 41%"
```

- [ ] Look at the error dashboard
- [ ] Check the backup ran
"""


def test_opsbook_status_lists_the_overdue_routine(
    cli_api: Any, tmp_path: Path, store_url: str
) -> None:
    config = tmp_path / "opsbook.yaml"
    config.write_text("service: shop\n")
    api = cli_api(config, environ={"OPSBOOK_DATABASE_URL": store_url})
    runbook = parse_runbook(ROUTINE, name="daily-checks", file="daily-checks.md")[0]
    assert runbook is not None
    registry = Registry({runbook.name: runbook})
    services = api.client.app.state.services
    api.client.app.state.services = replace(
        services, runbooks=Loaded(registry=registry, problems=(), folder=tmp_path)
    )
    clock = FrozenClock(CLI_NOW - timedelta(hours=3))  # due 09:00, now 12:00
    asyncio.run(
        RoutineTask(api.engine, registry=registry, settings=SETTINGS, clock=clock).run_once()
    )
    result = api.run("status", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert "1 routines overdue:" in result.stdout
    line = next(x for x in result.stdout.splitlines() if "routine daily-checks" in x)
    assert line.strip().startswith("routine daily-checks due 09:00 UTC, open 3h, 1/3 ticked")
    # On time, it is a count.
    with api.engine.begin() as conn:
        conn.execute(sa.text("UPDATE runbook_run SET state='succeeded'"))
    result = api.run("status", "--config", str(config))
    assert "1 routines, none overdue" in result.stdout
