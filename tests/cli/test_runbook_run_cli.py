"""``opsbook runbook run|runs|confirm|tick|request-approval|approve|cancel`` against the real
app in-process (``cli_api``): the run executes in the app's background on its event loop, and
the CLI follows it by polling ``GET /api/v1/runs/{id}`` (issue 13)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from opsbook.accounts import Role
from opsbook.cli import runbook_runs
from opsbook.config import load
from opsbook.runbooks.registry import load_for_config

SECRET = "S3cretPw-4kq"
CONFIG = f"""\
service: shop
runbooks:
  path: runbooks
  databases:
    main: {{dsn: "postgresql://app:{SECRET}@127.0.0.1:1/app"}}
"""
OPS = f"""\
---
title: Ops
parameters:
  env: {{allowed: [prod, staging], default: prod}}
---
# Ops

```sh {{name=look}}
echo "looking at {{{{ env }}}} with {SECRET}"
```

```sh {{name=fix risk=write}}
echo fixed
```

- [ ] Tell the team

```sh {{name=drop risk=danger}}
echo dropped
```

```sh {{name=broken}}
echo about to fail; exit 4
```
"""


def squeeze(line: str) -> str:
    return " ".join(line.split())


@pytest.fixture
def api(cli_api: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(runbook_runs, "POLL_S", 0.02)
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "ops.md").write_text(OPS)
    config = tmp_path / "opsbook.yaml"
    config.write_text(CONFIG + f"store: {{url: 'sqlite:///{tmp_path}/opsbook.db'}}\n")
    served = cli_api(config, role=Role.RESPONDER)
    app = served.client.app
    loaded = load_for_config(config, load(config, environ={}), environ={})
    assert not loaded.problems
    app.state.services = dataclasses.replace(app.state.services, runbooks=loaded)
    served.config = config
    return served


def run(api: Any, *args: str) -> Any:
    result = api.run("runbook", *args, "--config", str(api.config))
    assert SECRET not in result.stdout + result.stderr
    return result


def test_run_follows_a_read_step_to_the_end(api: Any) -> None:
    result = run(api, "run", "ops", "--step", "look", "--param", "env=staging")
    assert result.exit_code == 0, result.stderr
    lines = [squeeze(line) for line in result.stdout.splitlines()]
    assert lines[0] == "run 1 of ops started"
    assert "look ok exit 0" in lines
    assert "looking at staging with ***" in lines
    header = lines.index("step kind risk state duration")
    assert lines[header + 2].startswith("look shell read ok ")
    assert lines[-1] == "run 1: succeeded"
    assert ("POST", "/api/v1/runbooks/ops/runs") in api.requests


def test_a_write_step_waits_and_confirm_resumes_it(api: Any) -> None:
    result = run(api, "run", "ops", "--step", "look", "--step", "fix")
    assert result.exit_code == 3, result.stderr
    assert "step fix (write) waits for a confirmation:" in result.stdout
    assert result.stdout.rstrip().endswith("opsbook runbook confirm 1 fix")
    assert "run 1: waiting" in result.stdout
    confirmed = run(api, "confirm", "1", "fix")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert "fixed" in confirmed.stdout.splitlines()
    assert "run 1: succeeded" in confirmed.stdout


def test_a_manual_step_is_ticked_off(api: Any) -> None:
    result = run(api, "run", "ops", "--step", "step-3")
    assert result.exit_code == 3, result.stderr
    assert "opsbook runbook tick 1 step-3 --note" in result.stdout
    ticked = run(api, "tick", "1", "step-3", "--note", "told them")
    assert ticked.exit_code == 0, ticked.stderr
    assert "step-3 done by token:cli-test" in [squeeze(x) for x in ticked.stdout.splitlines()]
    assert "told them" in ticked.stdout


def test_a_danger_step_needs_an_approval_by_a_person(api: Any) -> None:
    result = run(api, "run", "ops", "--step", "drop")
    assert result.exit_code == 3, result.stderr
    assert "opsbook runbook request-approval 1 drop" in result.stdout
    asked = run(api, "request-approval", "1", "drop")
    assert asked.exit_code == 0, asked.stderr
    assert asked.stdout.startswith("approval 1 requested; another person runs:")
    # The CLI's token is an automation: it may not approve (and never its own request).
    refused = run(api, "approve", "1")
    assert refused.exit_code == 4  # Forbidden
    assert "must come from a person" in refused.stderr
    denied = run(api, "approve", "1", "--deny")
    assert denied.exit_code == 0, denied.stderr
    assert denied.stdout.strip() == "approval 1 denied"
    cancelled = run(api, "cancel", "1")
    assert cancelled.exit_code == 0, cancelled.stderr
    assert cancelled.stdout.strip() == "run 1: cancelled"


def test_a_failed_step_exits_1_and_runs_lists_it(api: Any) -> None:
    result = run(api, "run", "ops", "--step", "broken")
    assert result.exit_code == 1
    assert "broken failed exit 4" in [squeeze(x) for x in result.stdout.splitlines()]
    assert "run 1: failed" in result.stdout
    listed = run(api, "runs", "--runbook", "ops")
    assert listed.exit_code == 0, listed.stderr
    rows = [squeeze(x) for x in listed.stdout.splitlines()]
    assert rows[0] == "id runbook state by created"
    assert rows[2].startswith("1 ops failed token:cli-test ")


def test_bad_input_names_the_option_or_field(api: Any) -> None:
    no_equals = run(api, "run", "ops", "--param", "env")
    assert no_equals.exit_code != 0
    assert "--param: give NAME=VALUE" in no_equals.stderr
    bad_value = run(api, "run", "ops", "--step", "look", "--param", "env=moon")
    assert bad_value.exit_code == 2
    assert "params.env" in bad_value.stderr and "moon" not in bad_value.stderr
    unknown = run(api, "run", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: NAME: no runbook with this name")


def test_dry_run_records_nothing(api: Any) -> None:
    result = run(api, "run", "ops", "--step", "fix", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "needs: confirm" in result.stdout
    assert "dry run: nothing was run or recorded" in result.stdout
    assert run(api, "runs").stdout.strip() == "no runs"
