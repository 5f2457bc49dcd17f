"""``opsbook runbook list|show`` against the real app in-process (``cli_api``), and ``opsbook
runbook import`` (local: no server)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsbook.accounts import Role
from opsbook.config import load
from opsbook.runbooks.registry import load_for_config

FIXTURES = Path(__file__).resolve().parents[1] / "runbooks" / "fixtures"
SEED = Path(__file__).resolve().parents[1] / "runbooks" / "seeds" / "lilove-runbook.md"
DRAFT = "This is a first draft: review every runbook before running it."
SECRET = "S3cretPw-9z"
CONFIG = f"""\
service: shop
runbooks:
  path: runbooks
  databases:
    main: {{dsn: "postgresql://app:{SECRET}@127.0.0.1:1/app"}}
"""
SITE_DOWN = """\
---
title: Site down
tags: [web]
parameters:
  base_url: {type: string, default: "http://127.0.0.1:8081"}
---
# Site down

## Diagnose

```sh {name=health timeout=5s}
curl -sS "{{ base_url }}/healthz" -u app:S3cretPw-9z
```

## Fix

```sql {name=kill-idle db=main}
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle'
```

- [ ] Post "Investigating" on the status page
"""
ROUTINE = """\
---
title: Daily checks
schedule: "0 9 * * *"
timezone: Europe/Berlin
---
- [ ] Look at the error dashboard
"""
BROKEN = """\
---
title: Broken
---
```sh {name=x risk=maybe}
echo hi
```
"""

Run = Callable[..., Any]


def squeeze(line: str) -> str:
    return " ".join(line.split())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "site-down.md").write_text(SITE_DOWN)
    (folder / "daily.md").write_text(ROUTINE)
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG + f"store: {{url: 'sqlite:///{tmp_path}/opsbook.db'}}\n")
    return path


def serve_runbooks(cli_api: Callable[..., Any], config: Path) -> Any:
    """``cli_api`` with the runbooks ``opsbook serve`` would load for ``config``."""
    served = cli_api(config, role=Role.VIEWER)
    app = served.client.app
    loaded = load_for_config(config, load(config, environ={}), environ={})
    app.state.services = dataclasses.replace(app.state.services, runbooks=loaded)
    return served


@pytest.fixture
def api(cli_api: Callable[..., Any], config: Path) -> Any:
    return serve_runbooks(cli_api, config)


def test_list_shows_each_runbook_with_steps_by_risk(api: Any, config: Path) -> None:
    result = api.run("runbook", "list", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert api.requests == [("GET", "/api/v1/runbooks")]
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "title", "read", "write", "danger", "alerts", "schedule"]
    assert squeeze(lines[2]) == "daily Daily checks 1 0 0 0 9 * * *"
    assert squeeze(lines[3]) == "site-down Site down 2 0 1"
    assert result.stderr == ""


def test_list_prints_load_errors_and_exits_1(cli_api: Callable[..., Any], config: Path) -> None:
    (config.parent / "runbooks" / "broken.md").write_text(BROKEN)
    api = serve_runbooks(cli_api, config)
    result = api.run("runbook", "list", "--config", str(config))
    assert result.exit_code == 1
    assert "site-down" in result.stdout
    errors = result.stderr.splitlines()
    assert errors[0].startswith("runbooks/broken.md:4:")
    assert errors[-1] == "1 runbook error"


def test_show_prints_sections_and_steps(api: Any, config: Path) -> None:
    result = api.run("runbook", "show", "site-down", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert api.requests == [("GET", "/api/v1/runbooks/site-down")]
    out = result.stdout
    assert out.splitlines()[0] == "Site down (site-down)"
    assert out.index("Diagnose") < out.index("health  shell  [read]") < out.index("Fix")
    assert "kill-idle  sql  [danger]" in out
    assert "step-3  manual  [read]" in out
    assert 'curl -sS "{{ base_url }}/healthz"' in out
    assert "http://127.0.0.1:8081" in out  # the parameter's default
    assert SECRET not in out


def test_show_json_is_the_api_answer(api: Any, config: Path) -> None:
    result = api.run("runbook", "show", "site-down", "--json", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert [s["id"] for s in body["steps"]] == ["health", "kill-idle", "step-3"]
    assert body["steps"][1]["risk"] == "danger"
    assert SECRET not in result.stdout


def test_show_an_unknown_runbook_names_name(api: Any, config: Path) -> None:
    result = api.run("runbook", "show", "nope", "--config", str(config))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: NAME: no runbook with this name")


def import_into(run_cli: Run, source: Path, out: Path, *extra: str) -> Any:
    return run_cli("runbook", "import", str(source), "--out", str(out), *extra)


def test_import_writes_runbooks_that_load(run_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "made"
    result = import_into(run_cli, FIXTURES / "shop-ops.md", out)
    assert result.exit_code == 0, result.stderr
    made = sorted(p.name for p in out.iterdir())
    assert made == [
        "shop-ops-issue-1-checkout-errors.md",
        "shop-ops-issue-2-database-connections-exhausted.md",
    ]
    lines = [squeeze(line) for line in result.stdout.splitlines()]
    assert "shop-ops-issue-1-checkout-errors.md 1 0 0 2 0" in lines
    assert "shop-ops.md:37: unlabelled block kept as documentation" in lines
    assert DRAFT in result.stdout
    assert "2 runbooks written to" in result.stdout
    # What was written is what the server would load.
    text = (out / made[1]).read_text()
    assert "{{ user_name }}" in text


def test_import_refuses_to_overwrite_without_force(run_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "made"
    assert import_into(run_cli, FIXTURES / "shop-ops.md", out).exit_code == 0
    target = out / "shop-ops-issue-1-checkout-errors.md"
    target.write_text("kept")
    result = import_into(run_cli, FIXTURES / "shop-ops.md", out)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {target}: already exists (use --force")
    assert target.read_text() == "kept"
    forced = import_into(run_cli, FIXTURES / "shop-ops.md", out, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert target.read_text() != "kept"


def test_import_defaults_to_the_configs_runbooks_folder(
    run_cli: Run, tmp_path: Path, config: Path
) -> None:
    result = run_cli("runbook", "import", str(FIXTURES / "shop-ops.md"), "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "runbooks" / "shop-ops-issue-1-checkout-errors.md").exists()


def test_import_checks_only_the_files_it_wrote(run_cli: Run, tmp_path: Path) -> None:
    # A broken file already in the folder is not the import's to report.
    out = tmp_path / "made"
    out.mkdir()
    (out / "other.md").write_text(BROKEN)
    result = import_into(run_cli, FIXTURES / "shop-ops.md", out)
    assert result.exit_code == 0, result.stderr
    assert "other.md" not in result.stderr


@pytest.mark.parametrize("name", ["missing.md", "a-folder"])
def test_import_a_missing_file_is_a_usage_error_naming_it(
    run_cli: Run, tmp_path: Path, name: str
) -> None:
    (tmp_path / "a-folder").mkdir()
    source = tmp_path / name
    result = import_into(run_cli, source, tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: FILE: {source}: ")
    assert not (tmp_path / "out").exists()


def test_import_a_real_seed(run_cli: Run, tmp_path: Path) -> None:
    source = tmp_path / SEED.name
    shutil.copy(SEED, source)
    result = import_into(run_cli, source, tmp_path / "made")
    assert result.exit_code == 0, result.stderr
    assert DRAFT in result.stdout
    assert len(list((tmp_path / "made").glob("*.md"))) >= 10
