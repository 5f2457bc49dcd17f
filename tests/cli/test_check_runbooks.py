"""`opsbook check` loads the runbooks too: every runbook error with the config's, exit 2;
a one-line count of runbooks and steps by risk when all is well."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

RunCli = Callable[..., Any]
SECRET = "s3cr3t-Dsn-Pa55"

CONFIG = f"""\
service: shop
checks:
  web: {{http: {{url: "http://127.0.0.1:8081/healthz"}}}}
alerts:
  site-down: {{when: web down, runbook: site-down}}
runbooks:
  databases:
    main: {{dsn: "postgresql://app:{SECRET}@db/app"}}
"""
SITE_DOWN = """\
---
alerts: [site-down]
---
# Site down

```sh {name=health}
curl -s http://127.0.0.1:8081/healthz
```

```sql {name=sessions db=main}
SELECT count(*) FROM pg_stat_activity;
```

```sql {name=kill-idle}
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle';
```

```sh {name=restart}
docker compose restart api
```

- [ ] Post on the status page
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("runbooks").mkdir()


def test_it_counts_runbooks_and_steps_by_risk(run_cli: RunCli) -> None:
    Path("opsbook.yaml").write_text(CONFIG)
    Path("runbooks/site-down.md").write_text(SITE_DOWN)
    result = run_cli("check", "opsbook.yaml")
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[-2:] == [
        "1 runbook · 5 steps: 3 read, 1 write, 1 danger",
        "ok: opsbook.yaml is valid",
    ]
    assert SECRET not in result.stdout


def test_without_runbooks_there_is_no_count(run_cli: RunCli) -> None:
    Path("runbooks").rmdir()
    Path("opsbook.yaml").write_text("service: shop\n")
    result = run_cli("check", "opsbook.yaml")
    assert result.exit_code == 0
    assert "runbook" not in result.stdout


def test_it_reports_every_runbook_error_with_the_configs_and_exits_2(run_cli: RunCli) -> None:
    Path("opsbook.yaml").write_text(CONFIG + "  shell: {timeout: soon}\n")
    Path("runbooks/site-down.md").write_text(SITE_DOWN.replace("{name=restart}", ""))
    Path("runbooks/db.md").write_text("```sql {name=x risk=read}\nTRUNCATE sessions\n```\n")
    result = run_cli("check", "opsbook.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "opsbook.yaml:9:20: runbooks.shell.timeout: 'soon' is not a duration (use e.g. 30s, "
        "5m, 1h)",
        "runbooks/db.md:1:1: risk=read but the step runs TRUNCATE; say risk=danger",
        "runbooks/site-down.md:18:1: this write step (docker compose restart) needs a name: add "
        "{name=...} (approvals and runs name it)",
        "3 errors",
    ]


def test_cross_checks_run_when_the_config_is_valid(run_cli: RunCli) -> None:
    Path("opsbook.yaml").write_text(CONFIG.replace("runbook: site-down", "runbook: sitedown"))
    Path("runbooks/site-down.md").write_text(
        SITE_DOWN.replace("db=main", "db=replica").replace("[site-down]", "[site-up]")
    )
    result = run_cli("check", "opsbook.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "runbooks/site-down.md:2:10: alerts: no alert rule named 'site-up' in the config; have: "
        "site-down",
        "runbooks/site-down.md:10:23: db='replica' names no database (add it under "
        "runbooks.databases in the config; have: main)",
        "opsbook.yaml:5:40: alerts.site-down.runbook: no runbook named 'sitedown'; have: site-down",
        "3 errors",
    ]
    assert SECRET not in result.stderr


def test_the_short_form_names_the_folder(run_cli: RunCli) -> None:
    Path("books").mkdir()
    Path("books/a.md").write_text("- [ ] look\n")
    Path("opsbook.yaml").write_text("service: shop\nrunbooks: books\n")
    result = run_cli("check", "opsbook.yaml")
    assert result.exit_code == 0
    assert "1 runbook · 1 step: 1 read, 0 write, 0 danger" in result.stdout.splitlines()


def test_the_demo_config_and_its_runbooks_check(run_cli: RunCli) -> None:
    demo = Path(__file__).resolve().parents[2] / "examples" / "demo" / "opsbook.yaml"
    result = run_cli("check", str(demo))
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-2].startswith("2 runbooks · ")
