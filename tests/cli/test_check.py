"""`opsbook check FILE`: exit 0 with a summary, or exit 2 with one line per problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# The fixture in tests/conftest.py; it returns a CliResult(exit_code, stdout, stderr).
RunCli = Callable[..., Any]

SECRET = "s3cr3t-Tok3n-xyz"

VALID = """\
service: levqor
timezone: Europe/Berlin
components:
  api: {name: API, group: Core, checks: [api-uptime, db]}
checks:
  api-uptime:
    http: {url: "https://levqor.example/ops/uptime", bearer_token: "${API_TOKEN}"}
    every: 30s
    timeout: 5s
    slo: {p95: 50ms, availability: 99.9%}
  db: {postgres: {dsn: "postgresql://app:s3cr3t-Tok3n-xyz@db:5432/app"}}
  nightly-backup: {heartbeat: {schedule: "0 3 * * *", grace: 30m}}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("API_TOKEN", SECRET)


def test_it_summarises_a_valid_file(run_cli: RunCli) -> None:
    Path("opsbook.yaml").write_text(VALID)
    result = run_cli("check", "opsbook.yaml")
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == "levqor · timezone Europe/Berlin · 3 checks · 1 component · 4 severities"
    assert lines[-1] == "ok: opsbook.yaml is valid"
    rows = {line.split("│")[1].strip(): line for line in lines if line.startswith("│")}
    assert "https://levqor.example/ops/uptime" in rows["api-uptime"]
    assert "p95 50ms, 99.9%" in rows["api-uptime"]
    assert "postgresql://app:***@db:5432/app" in rows["db"]
    assert "cron '0 3 * * *', grace 30m" in rows["nightly-backup"]
    assert "api-uptime, db" in rows["api"]
    assert "partial outage" in rows["SEV2"]


def test_it_never_prints_a_secret(run_cli: RunCli) -> None:
    Path("opsbook.yaml").write_text(VALID)
    result = run_cli("check", "opsbook.yaml")
    assert result.exit_code == 0
    assert SECRET not in result.stdout + result.stderr


def test_it_defaults_to_opsbook_yaml(run_cli: RunCli) -> None:
    Path("opsbook.yaml").write_text("service: shop\n")
    result = run_cli("check")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "ok: opsbook.yaml is valid"


def test_it_prints_one_line_per_problem_and_exits_2(run_cli: RunCli) -> None:
    Path("broken.yaml").write_text(
        "service: shop\n"
        "checks:\n"
        "  api:\n"
        "    tcp: {host: db, port: 5432}\n"
        "    evry: 30s\n"
        "    timeout: 3x\n"
        f"  db: {{postgres: {{dsn: ['{SECRET}']}}}}\n"
    )
    result = run_cli("check", "broken.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "broken.yaml:5:5: checks.api.evry: unknown key 'evry' (did you mean 'every'?)",
        "broken.yaml:6:14: checks.api.timeout: '3x' is not a duration (use e.g. 30s, 5m, 1h)",
        "broken.yaml:7:19: checks.db.postgres.dsn: expected a string, got a list",
        "3 errors",
    ]
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_it_reports_a_missing_file(run_cli: RunCli) -> None:
    result = run_cli("check", "nope.yaml")
    assert (result.exit_code, result.stderr.splitlines()) == (
        2,
        ["nope.yaml: no such file", "1 error"],
    )


def test_it_reports_a_syntax_error(run_cli: RunCli) -> None:
    Path("opsbook.yaml").write_text("service: shop\nchecks: [\n")
    result = run_cli("check", "opsbook.yaml")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("opsbook.yaml:3:1: invalid YAML: ")
    assert "Traceback" not in result.stderr


def test_the_bundled_demo_config_is_valid(run_cli: RunCli) -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "demo" / "opsbook.yaml"
    if not path.exists():
        pytest.skip("examples/demo is not in this tree")
    result = run_cli("check", str(path))
    assert result.exit_code == 0, result.stderr


EVERY_MISTAKE = """\
service: shop
checks:
  web:
    http: {url: "https://shop.example/health"}
    conditions:
      - "[BODY.status == healthy"
      - "[STATUS] = 200"
      - "[STATUS] = = 201"
alerts:
  web-down: {when: wbe down, severity: SEV9}
channels:
  slack: {webhook: {url: "hooks.slack.com/services/T0/B0/s3cr3t-Tok3n-xyz"}}
"""


def test_it_reports_every_mistake_in_one_run(run_cli: RunCli) -> None:
    # Issue 10: each of these used to appear only once the one before it was fixed, the
    # unclosed bracket was accepted, and the webhook URL was echoed whole.
    Path("opsbook.yaml").write_text(EVERY_MISTAKE)
    result = run_cli("check", "opsbook.yaml")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        "opsbook.yaml:6:9: checks.web.conditions[0]: unclosed '[' in '[BODY.status == healthy' "
        "(did you mean '[BODY].status == healthy'?)",
        "opsbook.yaml:7:9: checks.web.conditions[1]: '=' is not an operator; "
        "write '[STATUS] == 200'",
        "opsbook.yaml:8:9: checks.web.conditions[2]: '= =' is not an operator; "
        "write '[STATUS] == 201'",
        "opsbook.yaml:10:20: alerts.web-down.when: unknown check 'wbe' (did you mean 'web'?)",
        "opsbook.yaml:10:40: alerts.web-down.severity: unknown severity 'SEV9' "
        "(known severities: SEV1, SEV2, SEV3, SEV4)",
        "opsbook.yaml:12:26: channels.slack.webhook.url: not an http:// or https:// URL (write "
        "it with its scheme, e.g. https://hooks.example/...; the value is not shown: it may "
        "hold a token)",
        "6 errors",
    ]
    assert SECRET not in result.stderr
    assert "hooks.slack.com" not in result.stderr
