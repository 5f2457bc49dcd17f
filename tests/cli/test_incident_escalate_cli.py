"""``opsbook incident escalate ID --reason`` against the real app (both backends): a person
asks for the next level to be paged now, as the seeds' "escalate immediately if ..." rules
need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from opsbook.accounts import Role
from opsbook.incidents import records

CONFIG = """\
service: shop
timezone: UTC
channels:
  pager: {webhook: {url: "http://127.0.0.1:9/pager"}}
severities:
  SEV1: {respond_within: 15m, page: true, escalation: default}
  SEV2: {respond_within: 1h, page: true}
oncall:
  people:
    ana: {name: Ana, notify: [pager]}
    cto: {name: CTO, notify: [pager]}
  escalation:
    default:
      - {notify: ["person:ana"], wait: 5m}
      - {notify: ["person:cto"]}
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "opsbook.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def cli(cli_api: Any, config_file: Path, engine: Engine, store_url: str) -> Any:
    api = cli_api(config_file, role=Role.RESPONDER, environ={"OPSBOOK_DATABASE_URL": store_url})

    def run(*args: str) -> Any:
        return api.run(*args, "--config", str(config_file))

    return run


def _declare(cli: Any, severity: str) -> int:
    result = cli("incident", "declare", "Checkout down", "--severity", severity)
    assert result.exit_code == 0, result.stderr
    return int(result.stdout.strip())


def test_escalate_records_the_request_with_its_reason(cli: Any, engine: Engine) -> None:
    first = _declare(cli, "SEV1")
    result = cli("incident", "escalate", str(first), "--reason", "data breach suspected")
    assert (result.exit_code, result.stdout.strip()) == (0, "ok"), result.stderr
    with engine.begin() as conn:
        events = [e for e in records.timeline(conn, first) if e.kind == "escalate"]
    assert [(e.actor, e.message) for e in events] == [
        ("token:cli-test", "escalation asked for: data breach suspected")
    ]


def test_a_severity_without_a_policy_exits_1_and_a_blank_reason_2(cli: Any, engine: Engine) -> None:
    second = _declare(cli, "SEV2")
    refused = cli("incident", "escalate", str(second), "--reason", "half the users")
    assert refused.exit_code == 1
    assert "SEV2, which has no escalation policy" in refused.stderr
    first = _declare(cli, "SEV1")
    blank = cli("incident", "escalate", str(first), "--reason", " ")
    assert (blank.exit_code, blank.stderr.strip()) == (
        2,
        "error: --reason: say why it is escalated",
    )
    missing = cli("incident", "escalate", str(first))
    assert missing.exit_code == 2 and "--reason" in missing.stderr
    with engine.begin() as conn:
        kinds = [e.kind for i in (first, second) for e in records.timeline(conn, i)]
    assert "escalate" not in kinds
